/**
 * Store-and-forward: the remote Mosquitto stopped under a steady QoS 1 stream and started again, the
 * buffer bound (oldest dropped and counted), the connector SIGKILLed under load, and the local broker
 * restarted while the remote is down. Nothing acknowledged to a publisher is lost, order is kept.
 */
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../helpers/broker.js';
import {
  bridgeYaml,
  checkSequence,
  connect,
  mosquitto,
  persistentSubscriber,
  startConnector,
  steadyStream,
  tempDir,
  until,
  writeConfig,
  type Connector,
  type Mosquitto,
} from './helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(spec = ''): Promise<{ local: RunningBroker; remote: Mosquitto; connector: () => Connector; restartConnector: () => Connector; file: string }> {
  const dir = tempDir();
  const [local, remote] = await Promise.all([startBroker(), mosquitto({ persistence: true })]);
  const file = writeConfig(
    dir,
    bridgeYaml({ localPort: local.port, remotePort: remote.port, spec, routes: "  - {name: up, direction: local-to-remote, qos: 1, source: 'data/#', target: 'cloud/{topic}'}" }),
  );
  let current = startConnector(file);
  cleanups.push(async () => {
    await current.kill('SIGKILL');
    await local.stop();
    await remote.stop();
    rmSync(remote.dir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });
  await until('the route connected', () => connectedBoth(current));
  return {
    local,
    remote,
    file,
    connector: () => current,
    restartConnector: () => (current = startConnector(file)),
  };
}

const connectedBoth = (c: Connector) => c.stats().up?.sourceConnections === 1 && c.stats().up?.targetConnections === 1;

describe('bridge offline operation', { timeout: 60_000 }, () => {
  // A minute, not the default 30 s: each test starts processes (tsx compiles on start), slow on a busy machine.
  it('keeps a steady QoS 1 stream while the remote is down and forwards it in order when it returns', async () => {
    const { local, remote, connector } = await setup();
    const sub = await persistentSubscriber(`mqtt://127.0.0.1:${remote.port}`, 'cloud-sub', 'cloud/#');
    cleanups.push(() => void sub.client.end(true));
    const pub = await connect(local.url, { clientId: 'steady' });
    cleanups.push(() => void pub.end(true));
    const N = 600;
    const stream = steadyStream(pub, 'data/s', N, 3);
    await until('some messages through', () => sub.payloads.length >= 100);
    await remote.stop();
    await until('the bridge noticed', () => connector().stats().up?.targetConnections === 0);
    await until('a backlog held for the remote', () => Number(connector().stats().up?.backlog) >= 100);
    await remote.start();
    await stream; // every message was acknowledged by edgemq meanwhile
    await until(`all ${N} messages at the remote`, () => new Set(sub.payloads).size === N, 30_000);
    const { firstOccurrences, duplicates } = checkSequence(sub.payloads, N);
    expect(firstOccurrences).toEqual(Array.from({ length: N }, (_, i) => i));
    // A message whose PUBACK died with Mosquitto is sent again: the remote may hold it twice.
    expect(duplicates).toBeLessThan(N);
    await until('the counters caught up', () => Number(connector().stats().up?.forwarded) >= N && connector().stats().up?.backlog === 0);
    expect(connector().stats().up?.dropped).toBe(0);
  });

  it('drops the oldest messages at the buffer bound, counts and logs them', async () => {
    const { local, remote, connector } = await setup(', maxBufferedMessages: 50');
    const sub = await persistentSubscriber(`mqtt://127.0.0.1:${remote.port}`, 'cloud-sub', 'cloud/#');
    cleanups.push(() => void sub.client.end(true));
    await remote.stop();
    await until('the bridge noticed', () => connector().stats().up?.targetConnections === 0);
    const pub = await connect(local.url, { clientId: 'burst' });
    cleanups.push(() => void pub.end(true));
    await steadyStream(pub, 'data/b', 200, 0);
    await until('150 dropped, 50 held', () => connector().stats().up?.dropped === 150 && connector().stats().up?.backlog === 50);
    expect(connector().output()).toContain('bridge buffer full: oldest messages dropped');
    await remote.start();
    await until('the newest 50 at the remote', () => sub.payloads.length >= 50);
    await until('the counters caught up', () => connector().stats().up?.forwarded === 50 && connector().stats().up?.backlog === 0);
    expect(sub.payloads).toEqual(Array.from({ length: 50 }, (_, i) => String(150 + i)));
  });

  it('loses nothing when the connector is SIGKILLed under load and restarted; duplicates are redeliveries', async () => {
    const { local, remote, connector, restartConnector } = await setup();
    const sub = await persistentSubscriber(`mqtt://127.0.0.1:${remote.port}`, 'cloud-sub', 'cloud/#');
    cleanups.push(() => void sub.client.end(true));
    const pub = await connect(local.url, { clientId: 'loader' });
    cleanups.push(() => void pub.end(true));
    const N = 1500;
    const stream = steadyStream(pub, 'data/k', N, 0);
    await until('a third through', () => sub.payloads.length >= N / 3);
    await connector().kill('SIGKILL');
    const seenAtKill = sub.payloads.length;
    const restarted = restartConnector();
    await stream;
    await until(`all ${N} at the remote`, () => new Set(sub.payloads).size === N, 30_000);
    expect(seenAtKill).toBeLessThan(N);
    const { firstOccurrences, duplicates } = checkSequence(sub.payloads, N);
    expect(firstOccurrences).toEqual(Array.from({ length: N }, (_, i) => i));
    // A duplicate can only be a message the broker sent the new process again (DUP set), and it counts them.
    await until('the counters caught up', () => Number(restarted.stats().up?.forwarded) >= N - seenAtKill && restarted.stats().up?.backlog === 0);
    expect(Number(restarted.stats().up?.redelivered)).toBeGreaterThanOrEqual(duplicates);
    console.info(`connector SIGKILLed after ${seenAtKill}/${N} messages: ${duplicates} duplicates at the remote, ${String(restarted.stats().up?.redelivered)} redelivered`);
  });

  it('keeps the backlog when the local broker is killed and restarted while the remote is down', async () => {
    const { local, remote, connector } = await setup();
    const sub = await persistentSubscriber(`mqtt://127.0.0.1:${remote.port}`, 'cloud-sub', 'cloud/#');
    cleanups.push(() => void sub.client.end(true));
    await remote.stop();
    await until('the bridge noticed', () => connector().stats().up?.targetConnections === 0);
    const pub = await connect(local.url, { clientId: 'before-restart', reconnectPeriod: 0 });
    await steadyStream(pub, 'data/r', 300, 0);
    pub.end(true);
    await until('held by the bridge', () => connector().stats().up?.backlog === 300);
    await local.kill('SIGKILL');
    await until('the bridge lost the local broker', () => connector().stats().up?.sourceConnections === 0);
    const again = await startBroker({ port: local.port, dataDir: local.dataDir });
    cleanups.push(() => again.stop());
    await until('the bridge is back on the local broker', () => connector().stats().up?.sourceConnections === 1);
    await remote.start();
    await until('all 300 at the remote', () => new Set(sub.payloads).size === 300, 30_000);
    const { firstOccurrences } = checkSequence(sub.payloads, 300);
    expect(firstOccurrences).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(connector().stats().up?.dropped).toBe(0);
  });
});
