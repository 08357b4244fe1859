/**
 * /readyz flips as the broker comes up: not ready while state is being recovered and before the
 * listeners open, ready once both hold, not ready again when the listeners close. Real servers,
 * driven step by step in process (the order `edgemq serve` runs them in).
 */
import net from 'node:net';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { startOperations } from '../../src/cli/operations.js';
import { parseConfigText } from '../../src/config/load.js';
import { LocalBrokerCore } from '../../src/core/local-core.js';
import { FrontEnd } from '../../src/frontend/frontend.js';
import { Partition } from '../../src/partition/partition.js';
import { Security } from '../../src/security/security.js';
import { freePort, startBroker } from '../helpers/broker.js';
import { scrape, value } from '../helpers/prometheus.js';
import { tempDir } from '../security/helpers.js';

const probe = async (url: string) => {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
};

describe('readiness', () => {
  it('is 503 until state is recovered and the listeners are open, 200 then, 503 when they close', async () => {
    const log = pino({ level: 'silent' });
    const mqttPort = await freePort();
    const metricsPort = await freePort();
    const config = parseConfigText(
      `apiVersion: mq.edgemq.io/v1beta1
kind: Broker
metadata: {name: r}
spec: {diagnostics: {selfCheck: {mode: Disabled}}, edgemq: {durability: memory}}
---
apiVersion: mq.edgemq.io/v1beta1
kind: BrokerListener
metadata: {name: l}
spec: {brokerRef: r, port: ${mqttPort}}
`,
      'r.yaml',
    );
    const dir = tempDir();
    const ops = await startOperations({
      settings: config.broker.operations,
      host: '127.0.0.1',
      log,
      secretsDir: dir,
      dataDir: dir,
      configFiles: [],
      loadOptions: {},
      metricsPort,
      adminPort: 0,
    });
    const base = `http://127.0.0.1:${ops.metricsPort}`;
    expect(ops.metricsPort).toBe(metricsPort);
    try {
      expect(await probe(`${base}/healthz`)).toEqual({ status: 200, body: 'ok\n' });
      expect(await probe(`${base}/readyz`)).toEqual({ status: 503, body: 'not ready: state recovered, listeners open\n' });
      expect((await probe(`${base}/metrics`)).status).toBe(503);

      ops.stateRecovered();
      expect(await probe(`${base}/readyz`)).toEqual({ status: 503, body: 'not ready: listeners open\n' });

      const security = new Security(config, { secretsDir: dir, dataDir: dir, host: '127.0.0.1', allowAnonymous: false, log });
      const core = new LocalBrokerCore(new Partition({ queueLength: 10, queueStrategy: 'None', sharedStrategy: 'round-robin' }));
      const frontEnd = new FrontEnd({ core, limits: config.broker.clients, listeners: config.listeners, host: '127.0.0.1', log, security: security.forPort });
      await frontEnd.start();
      await ops.attach({ core, frontEnd, security, brokerName: 'r', reload: () => ({ applied: true, sessionsEnded: 0 }) });
      expect(await probe(`${base}/readyz`)).toEqual({ status: 200, body: 'ready\n' });
      expect(value(await scrape(`${base}/metrics`), 'aio_broker_total_sessions')).toBe(0);

      await frontEnd.close();
      expect(await probe(`${base}/readyz`)).toEqual({ status: 503, body: 'not ready: listeners open\n' });
      await core.close();
      security.close();
    } finally {
      await ops.stop();
    }
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });

  it('edgemq serve exits naming the field when the admin port is taken, leaving nothing behind', async () => {
    const taken = await freePort();
    const blocker = net.createServer().listen(taken, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    try {
      // The MQTT listener opens first, then the admin API fails and the process ends.
      const b = await startBroker({ args: ['--admin-port', String(taken)] }).catch((err: Error) => err);
      if (!(b instanceof Error)) {
        // Never leave it running, whatever the assertions below find.
        const timer = setTimeout(() => void b.kill(), 20_000);
        b.process.once('exit', () => clearTimeout(timer));
      }
      if (b instanceof Error) {
        expect(b.message).toMatch(new RegExp(`Broker spec\\.edgemq\\.admin\\.port: cannot listen on 127\\.0\\.0\\.1:${taken}: EADDRINUSE`));
      } else {
        const code = await new Promise<number | null>((resolve) => (b.process.exitCode !== null ? resolve(b.process.exitCode) : b.process.once('exit', (c) => resolve(c))));
        expect(code).not.toBe(0);
        expect(b.output()).toMatch(new RegExp(`Broker spec\\.edgemq\\.admin\\.port: cannot listen on 127\\.0\\.0\\.1:${taken}: EADDRINUSE`));
        // The MQTT port closed with it.
        const refused = await new Promise<string>((resolve) => {
          const c = net.connect(b.port, '127.0.0.1', () => (c.destroy(), resolve('connected')));
          c.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
        });
        expect(refused).toBe('ECONNREFUSED');
      }
    } finally {
      blocker.close();
    }
  });

  it('refuses a metrics port that is taken, naming the field', async () => {
    const taken = await freePort();
    const blocker = net.createServer().listen(taken, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    try {
      const settings = parseConfigText('apiVersion: mq.edgemq.io/v1beta1\nkind: Broker\nmetadata: {name: r}\nspec: {}\n', 'r.yaml').broker.operations;
      const dir = tempDir();
      await expect(
        startOperations({ settings, host: '127.0.0.1', log: pino({ level: 'silent' }), secretsDir: dir, dataDir: dir, configFiles: [], loadOptions: {}, metricsPort: taken, adminPort: 0 }),
      ).rejects.toThrow(`Broker spec.diagnostics.metrics.prometheusPort: cannot listen on 127.0.0.1:${taken}: EADDRINUSE`);
    } finally {
      blocker.close();
    }
  });
});
