/**
 * `edgemq connector --metrics-port`: per-route Prometheus series read by a text-format parser and
 * checked against the traffic the test sends through a real edgemq and a real Mosquitto remote;
 * /readyz before and after the routes reached both brokers; a port that cannot be bound.
 */
import http from 'node:http';
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, startBroker } from '../helpers/broker.js';
import { scrape, value, type Scrape } from '../helpers/prometheus.js';
import { bridgeYaml, connect, mosquitto, onCleanup, persistentSubscriber, runCleanups, startConnector, tempDir, until, writeConfig, type Connector } from './helpers.js';

afterEach(runCleanups);

const ROUTE = { connector: 'cloud', route: 'up' };

/** The port `--metrics-port 0` chose, from the connector's log. */
async function metricsPort(c: Connector): Promise<number> {
  let port = 0;
  await until('the metrics port in the log', () => {
    if (c.process.exitCode !== null) throw new Error(`the connector exited:\n${c.output()}`);
    const line = c.output().split('\n').find((l) => l.includes('"metrics and health probes listening"'));
    if (line !== undefined) port = (JSON.parse(line) as { port: number }).port;
    return port > 0;
  });
  return port;
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

/** Polls the scrape until `check` holds (the counters change as the bridge works, not on our schedule). */
async function scrapeUntil(url: string, what: string, check: (s: Scrape) => boolean): Promise<Scrape> {
  let last: Scrape | undefined;
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    last = await scrape(url);
    if (check(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  const bridge = last ? [...last.values()].filter((f) => f.name.startsWith('edgemq_bridge')).map((f) => ({ [f.name]: f.metrics.map((m) => [m.labels, m.value]) })) : [];
  throw new Error(`timed out waiting for ${what}; last scrape: ${JSON.stringify(bridge)}`);
}

describe('bridge metrics and probes', { timeout: 60_000 }, () => {
  it('counts forwarded messages, shows the backlog and the connected gauges while the remote is away, and turns ready', async () => {
    const dir = tempDir();
    const remotePort = await freePort();
    const local = await startBroker();
    const file = writeConfig(
      dir,
      bridgeYaml({ localPort: local.port, remotePort, routes: "  - {name: up, direction: local-to-remote, qos: 1, source: 'data/#', target: 'cloud/{topic}'}" }),
    );
    const connector = startConnector(file, ['--metrics-port', '0']);
    let remote: Awaited<ReturnType<typeof mosquitto>> | undefined;
    onCleanup(async () => {
      await connector.kill('SIGKILL');
      await local.stop();
      await remote?.stop();
      if (remote) rmSync(remote.dir, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    });
    const base = `http://127.0.0.1:${await metricsPort(connector)}`;

    // The remote is not there yet: alive, not ready, and the failed attempts are counted.
    expect((await get(`${base}/healthz`)).status).toBe(200);
    const notReady = await get(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(notReady.body).toContain('route cloud/up connected to source and target');
    await scrapeUntil(`${base}/metrics`, 'connect failures towards the absent remote', (s) => value(s, 'edgemq_bridge_connect_failures', ROUTE) > 0);
    const before = await scrape(`${base}/metrics`);
    expect(value(before, 'edgemq_bridge_target_connected', ROUTE)).toBe(0);
    expect(value(before, 'edgemq_bridge_clients', ROUTE)).toBe(1);
    // Node process metrics come along, labelled as the connector's.
    expect(before.get('edgemq_process_cpu_user_seconds_total')?.metrics[0]?.labels?.role).toBe('connector');

    remote = await mosquitto({ persistence: true, port: remotePort });
    const deadline = Date.now() + 20_000;
    while ((await get(`${base}/readyz`)).status !== 200) {
      if (Date.now() > deadline) throw new Error(`/readyz never turned 200: ${(await get(`${base}/readyz`)).body}`);
      await new Promise((r) => setTimeout(r, 50));
    }

    const sub = await persistentSubscriber(`mqtt://127.0.0.1:${remotePort}`, 'cloud-sub', 'cloud/#');
    onCleanup(() => void sub.client.end(true));
    const pub = await connect(local.url, { clientId: 'metrics-pub' });
    onCleanup(() => void pub.end(true));
    const N = 50;
    for (let i = 0; i < N; i++) await pub.publishAsync('data/m', `m${i}`, { qos: 1 });
    await until(`${N} messages at the remote`, () => sub.payloads.length >= N);
    const online = await scrapeUntil(`${base}/metrics`, `forwarded = ${N}`, (s) => value(s, 'edgemq_bridge_messages_forwarded', ROUTE) === N);
    expect(value(online, 'edgemq_bridge_backlog_messages', ROUTE)).toBe(0);
    expect(value(online, 'edgemq_bridge_source_connected', ROUTE)).toBe(1);
    expect(value(online, 'edgemq_bridge_target_connected', ROUTE)).toBe(1);
    expect(value(online, 'edgemq_bridge_messages_dropped', { ...ROUTE, reason: 'buffer_full' })).toBe(0);
    expect(value(online, 'edgemq_bridge_messages_dropped', { ...ROUTE, reason: 'refused' })).toBe(0);

    // The remote goes away: the gauge drops, the backlog grows by what is published meanwhile.
    await remote.stop();
    await scrapeUntil(`${base}/metrics`, 'target_connected 0', (s) => value(s, 'edgemq_bridge_target_connected', ROUTE) === 0);
    const M = 30;
    const payload = 'x'.repeat(100);
    for (let i = 0; i < M; i++) await pub.publishAsync('data/m', payload, { qos: 1 });
    const offline = await scrapeUntil(`${base}/metrics`, `backlog = ${M}`, (s) => value(s, 'edgemq_bridge_backlog_messages', ROUTE) === M);
    expect(value(offline, 'edgemq_bridge_backlog_bytes', ROUTE)).toBe(M * payload.length);
    expect(value(offline, 'edgemq_bridge_messages_forwarded', ROUTE)).toBe(N);
    expect(value(offline, 'edgemq_bridge_source_connected', ROUTE)).toBe(1);
    // Documented rule: once connected, an outage is offline operation and the connector stays ready.
    expect((await get(`${base}/readyz`)).status).toBe(200);

    // Back: the backlog drains and every message is counted once.
    await remote.start();
    const after = await scrapeUntil(
      `${base}/metrics`,
      'backlog drained',
      (s) => value(s, 'edgemq_bridge_backlog_messages', ROUTE) === 0 && value(s, 'edgemq_bridge_messages_forwarded', ROUTE) === N + M,
    );
    expect(value(after, 'edgemq_bridge_target_connected', ROUTE)).toBe(1);
    expect(value(after, 'edgemq_bridge_backlog_bytes', ROUTE)).toBe(0);
    await until(`${N + M} messages at the remote`, () => sub.payloads.length >= N + M);
  });

  it('exits naming --metrics-port when the port is taken, and refuses a bad value', async () => {
    const dir = tempDir();
    onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    const file = writeConfig(
      dir,
      bridgeYaml({ localPort: await freePort(), remotePort: await freePort(), routes: "  - {name: up, direction: local-to-remote, qos: 1, source: 'data/#'}" }),
    );
    const taken = http.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    onCleanup(() => new Promise<void>((r) => taken.close(() => r())));
    const port = (taken.address() as { port: number }).port;

    const busy = startConnector(file, ['--metrics-port', String(port)]);
    onCleanup(() => busy.kill('SIGKILL'));
    await until('the connector exited', () => busy.process.exitCode !== null);
    expect(busy.process.exitCode).not.toBe(0);
    expect(busy.output()).toContain(`--metrics-port: cannot listen on 127.0.0.1:${port}: EADDRINUSE\n`);

    const bad = startConnector(file, ['--metrics-port', 'many']);
    onCleanup(() => bad.kill('SIGKILL'));
    await until('the connector exited', () => bad.process.exitCode !== null);
    expect(bad.process.exitCode).toBe(2);
    expect(bad.output()).toContain('--metrics-port: "many" is not a port number (0-65535) or off');
  });
});
