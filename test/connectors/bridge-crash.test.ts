/**
 * Crashes under load: the connector SIGKILLed and restarted; the local edgemq SIGKILLed and restarted
 * while the remote Mosquitto is down (local-to-remote), and while the cloud keeps publishing
 * (remote-to-local). Nothing acknowledged to a publisher is lost, order is kept, and QoS 1 duplicates
 * are counted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker } from '../helpers/broker.js';
import { checkSequence, connect, oneRoute, onCleanup, persistentSubscriber, runCleanups, steadyStream, until } from './helpers.js';

afterEach(runCleanups);

describe('bridge crashes', { timeout: 60_000 }, () => {
  // A minute, not the default 30 s: each test starts processes (tsx compiles on start), slow on a busy machine.
  it('loses nothing when the connector is SIGKILLed under load and restarted; duplicates are redeliveries', async () => {
    const { local, remote, connector, restartConnector } = await oneRoute();
    const sub = await persistentSubscriber(`mqtt://127.0.0.1:${remote.port}`, 'cloud-sub', 'cloud/#');
    onCleanup(() => void sub.client.end(true));
    const pub = await connect(local.url, { clientId: 'loader' });
    onCleanup(() => void pub.end(true));
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
    const { local, remote, connector } = await oneRoute();
    const sub = await persistentSubscriber(`mqtt://127.0.0.1:${remote.port}`, 'cloud-sub', 'cloud/#');
    onCleanup(() => void sub.client.end(true));
    await remote.stop();
    await until('the bridge noticed', () => connector().stats().up?.targetConnections === 0);
    const pub = await connect(local.url, { clientId: 'before-restart', reconnectPeriod: 0 });
    await steadyStream(pub, 'data/r', 300, 0);
    pub.end(true);
    await until('held by the bridge', () => connector().stats().up?.backlog === 300);
    await local.kill('SIGKILL');
    await until('the bridge lost the local broker', () => connector().stats().up?.sourceConnections === 0);
    const again = await startBroker({ port: local.port, dataDir: local.dataDir });
    onCleanup(() => again.stop());
    await until('the bridge is back on the local broker', () => connector().stats().up?.sourceConnections === 1);
    await remote.start();
    await until('all 300 at the remote', () => new Set(sub.payloads).size === 300, 30_000);
    const { firstOccurrences } = checkSequence(sub.payloads, 300);
    expect(firstOccurrences).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(connector().stats().up?.dropped).toBe(0);
  });

  it('brings commands down in order after the local broker was killed while the cloud kept publishing', async () => {
    const { local, remote, connector } = await oneRoute('', "{name: up, direction: remote-to-local, qos: 1, source: 'commands/#'}");
    const sub = await persistentSubscriber(local.url, 'device', 'commands/#');
    onCleanup(() => void sub.client.end(true));
    await local.kill('SIGKILL');
    await until('the bridge lost the local broker', () => connector().stats().up?.targetConnections === 0);
    const cloud = await connect(`mqtt://127.0.0.1:${remote.port}`, { clientId: 'cloud-app' });
    onCleanup(() => void cloud.end(true));
    await steadyStream(cloud, 'commands/set', 300, 0); // Mosquitto keeps what the bridge has not taken
    const again = await startBroker({ port: local.port, dataDir: local.dataDir });
    onCleanup(() => again.stop());
    await until('all 300 at the device', () => new Set(sub.payloads).size === 300, 30_000);
    const { firstOccurrences } = checkSequence(sub.payloads, 300);
    expect(firstOccurrences).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(connector().stats().up?.dropped).toBe(0);
  });
});
