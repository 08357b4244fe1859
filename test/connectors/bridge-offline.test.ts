/**
 * Store-and-forward: the remote Mosquitto stopped under a steady QoS 1 stream and started again, the
 * buffer bound (oldest dropped and counted), and message expiry while held. Nothing acknowledged to a
 * publisher is lost, order is kept. (Crashes: bridge-crash.test.ts.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { checkSequence, connect, oneRoute, onCleanup, persistentSubscriber, runCleanups, steadyStream, until } from './helpers.js';

afterEach(runCleanups);

describe('bridge offline operation', { timeout: 60_000 }, () => {
  // A minute, not the default 30 s: each test starts processes (tsx compiles on start), slow on a busy machine.
  it('keeps a steady QoS 1 stream while the remote is down and forwards it in order when it returns', async () => {
    const { local, remote, connector } = await oneRoute();
    const sub = await persistentSubscriber(`mqtt://127.0.0.1:${remote.port}`, 'cloud-sub', 'cloud/#');
    onCleanup(() => void sub.client.end(true));
    const pub = await connect(local.url, { clientId: 'steady' });
    onCleanup(() => void pub.end(true));
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
    const { local, remote, connector } = await oneRoute(', maxBufferedMessages: 50');
    const sub = await persistentSubscriber(`mqtt://127.0.0.1:${remote.port}`, 'cloud-sub', 'cloud/#');
    onCleanup(() => void sub.client.end(true));
    await remote.stop();
    await until('the bridge noticed', () => connector().stats().up?.targetConnections === 0);
    const pub = await connect(local.url, { clientId: 'burst' });
    onCleanup(() => void pub.end(true));
    await steadyStream(pub, 'data/b', 200, 0);
    await until('150 dropped, 50 held', () => connector().stats().up?.dropped === 150 && connector().stats().up?.backlog === 50);
    expect(connector().output()).toContain('bridge buffer full: oldest messages dropped');
    await remote.start();
    await until('the newest 50 at the remote', () => sub.payloads.length >= 50);
    await until('the counters caught up', () => connector().stats().up?.forwarded === 50 && connector().stats().up?.backlog === 0);
    expect(sub.payloads).toEqual(Array.from({ length: 50 }, (_, i) => String(150 + i)));
  });

  it('drops a message whose expiry interval ran out while it was held, and forwards the rest with the time left', async () => {
    const { local, remote, connector } = await oneRoute();
    const sub = await persistentSubscriber(`mqtt://127.0.0.1:${remote.port}`, 'cloud-sub', 'cloud/#');
    onCleanup(() => void sub.client.end(true));
    const got: Array<number | undefined> = [];
    sub.client.on('message', (_t, _p, packet) => got.push(packet.properties?.messageExpiryInterval));
    await remote.stop();
    await until('the bridge noticed', () => connector().stats().up?.targetConnections === 0);
    const pub = await connect(local.url, { clientId: 'expiring' });
    onCleanup(() => void pub.end(true));
    await pub.publishAsync('data/e', 'short', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await pub.publishAsync('data/e', 'long', { qos: 1, properties: { messageExpiryInterval: 3600 } });
    await until('both held', () => connector().stats().up?.backlog === 2);
    await new Promise((r) => setTimeout(r, 2100)); // the short one's second runs out in the bridge
    await remote.start();
    await until('the long one at the remote', () => sub.payloads.includes('long'));
    await until('the counters caught up', () => connector().stats().up?.expired === 1 && connector().stats().up?.backlog === 0);
    expect(sub.payloads).toEqual(['long']);
    expect(got[0]).toBeLessThan(3600);
    expect(got[0]).toBeGreaterThan(3500);
  });

});
