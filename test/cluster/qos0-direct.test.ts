/**
 * QoS 0 straight to the front end's own subscribers (src/cluster/client/direct-qos0.ts), with real
 * processes: 2 front ends, 2 partitions on 2 back ends. A front end writes a QoS 0 publish to its own
 * live subscribers itself and marks it for the partitions, which skip those sessions; when its own
 * subscribers are all there is, no partition is asked. Each case checks "exactly once": every
 * subscriber gets each message once, never also through its partition. A QoS 1 message from the same
 * publisher closes each burst: it travels the partitions' links behind every QoS 0 message marked
 * for them, so once it arrives, any second copy of a QoS 0 message would have arrived before it.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientIdIn, connectTo, startFixedCluster, type FixedCluster } from './fixtures/fixed-cluster.js';
import { until } from '../helpers/cluster.js';

let cluster: FixedCluster;
const clients: MqttClient[] = [];

beforeAll(async () => {
  cluster = await startFixedCluster({ frontends: 2, partitions: 2 });
}, 60_000);

afterAll(async () => {
  for (const b of cluster?.backends ?? []) if (b.proc.pid !== undefined && b.proc.exitCode === null) process.kill(b.proc.pid, 'SIGCONT');
  for (const c of clients) c.end(true);
  await cluster?.stop();
});

const connect = (frontend: number, clientId: string, opts: IClientOptions = {}): Promise<MqttClient> => connectTo(cluster, clients, frontend, clientId, opts);

interface Got {
  payloads: string[];
  subscriptionIds: Array<number[] | undefined>;
}

function collect(c: MqttClient, topicPrefix: string): Got {
  const got: Got = { payloads: [], subscriptionIds: [] };
  c.on('message', (topic, payload, packet) => {
    if (!topic.startsWith(topicPrefix)) return;
    got.payloads.push(payload.toString());
    const ids = packet.properties?.subscriptionIdentifier;
    got.subscriptionIds.push(ids === undefined ? undefined : Array.isArray(ids) ? ids : [ids]);
  });
  return got;
}

/** `n` QoS 0 messages `<tag>-<i>`, then the QoS 1 `<tag>-end` every subscriber waits for. */
async function burst(pub: MqttClient, topic: string, tag: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) pub.publish(topic, `${tag}-${i}`, { qos: 0 });
  await pub.publishAsync(topic, `${tag}-end`, { qos: 1 });
}

/** What `got` received of burst `tag`, once its end arrived: each message must be there exactly once. */
async function burstOf(got: Got, tag: string, n: number): Promise<string[]> {
  await until(`${tag}-end`, () => got.payloads.includes(`${tag}-end`));
  const mine = got.payloads.filter((p) => p.startsWith(`${tag}-`) && p !== `${tag}-end`);
  expect(mine, `${tag}: ${mine.length} of ${n}`).toEqual(Array.from({ length: n }, (_, i) => `${tag}-${i}`));
  return mine;
}

describe('cluster QoS 0 straight to the front end holding the subscribers (F2 P2)', () => {
  it('subscribers on the publisher\'s front end get each message once; one joining on the other front end gets them too', async () => {
    const topic = 'direct/a';
    // Two subscribers on front end 0 with sessions in different partitions, the publisher beside them.
    const s0 = await connect(0, clientIdIn(cluster.map, 0, 'direct-s0'));
    const s1 = await connect(0, clientIdIn(cluster.map, 1, 'direct-s1'));
    const pub = await connect(0, clientIdIn(cluster.map, 0, 'direct-pub'));
    const g0 = collect(s0, topic);
    const g1 = collect(s1, topic);
    await s0.subscribeAsync(topic, { qos: 1 });
    await s1.subscribeAsync(topic, { qos: 1 });
    await burst(pub, topic, 'local', 300);
    await burstOf(g0, 'local', 300);
    await burstOf(g1, 'local', 300);

    // A subscriber on the other front end: the partitions are asked again, and skip only front end 0's.
    const remote = await connect(1, clientIdIn(cluster.map, 1, 'direct-remote'));
    const gr = collect(remote, topic);
    await remote.subscribeAsync(topic, { qos: 1 });
    await burst(pub, topic, 'mixed', 300);
    await burstOf(g0, 'mixed', 300);
    await burstOf(g1, 'mixed', 300);
    await burstOf(gr, 'mixed', 300);

    // The remote one leaves: front end 0's subscribers are all there is again, and nothing is lost on the way.
    await remote.unsubscribeAsync(topic);
    await burst(pub, topic, 'again', 300);
    await burstOf(g0, 'again', 300);
    await burstOf(g1, 'again', 300);
    expect(gr.payloads.filter((p) => p.startsWith('again-'))).toEqual([]);
  });

  it('a session resumed on this front end gets QoS 0 for the subscriptions it made on the other', async () => {
    const id = clientIdIn(cluster.map, 1, 'direct-resume');
    const first = await connect(1, id, { clean: false, properties: { sessionExpiryInterval: 300 } });
    await first.subscribeAsync('direct/r/#', { qos: 0 });
    await first.endAsync();
    const again = await connect(0, id, { clean: false, properties: { sessionExpiryInterval: 300 } });
    expect(again.connected).toBe(true);
    const got = collect(again, 'direct/r/');
    const pub = await connect(0, clientIdIn(cluster.map, 0, 'direct-resume-pub'));
    await burst(pub, 'direct/r/x', 'resumed', 100);
    await burstOf(got, 'resumed', 100);
  });

  it('while a CONNECT is unanswered, connections older than it get QoS 0 from the front end and newer ones from their partition, each once', async () => {
    const topic = 'direct/pending';
    const older = await connect(0, clientIdIn(cluster.map, 0, 'direct-older'));
    const gOlder = collect(older, topic);
    await older.subscribeAsync(topic, { qos: 1 });
    // A CONNECT that stays unanswered: its session's partition is on a stopped back end.
    const stopped = cluster.backends.find((b) => b.id === cluster.map.partitions[1].chain[0])!;
    process.kill(stopped.proc.pid!, 'SIGSTOP');
    try {
      const pending = mqtt.connect(cluster.url(0), { clientId: clientIdIn(cluster.map, 1, 'direct-pending'), protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 10_000 });
      pending.on('error', () => {});
      clients.push(pending);
      await new Promise((r) => setTimeout(r, 300)); // its CONNECT is at the partition's link by now
      const newer = await connect(0, clientIdIn(cluster.map, 0, 'direct-newer'));
      const gNewer = collect(newer, topic);
      await newer.subscribeAsync(topic, { qos: 1 });
      const pub = await connect(0, clientIdIn(cluster.map, 0, 'direct-pending-pub'));
      await burst(pub, topic, 'pending', 200);
      await burstOf(gOlder, 'pending', 200);
      await burstOf(gNewer, 'pending', 200);
    } finally {
      process.kill(stopped.proc.pid!, 'SIGCONT');
    }
  });

  it('overlapping subscriptions give one message with every identifier; No Local holds; a takeover moves delivery to the new front end', async () => {
    const id = clientIdIn(cluster.map, 0, 'direct-overlap');
    const sub = await connect(0, id, { clean: false, properties: { sessionExpiryInterval: 300 } });
    const got = collect(sub, 'direct/');
    await sub.subscribeAsync('direct/o/+', { qos: 0, properties: { subscriptionIdentifier: 1 } });
    await sub.subscribeAsync('direct/o/#', { qos: 0, properties: { subscriptionIdentifier: 2 } });
    await sub.subscribeAsync('direct/nl', { qos: 0, nl: true });
    const pub = await connect(0, clientIdIn(cluster.map, 1, 'direct-overlap-pub'));
    await burst(pub, 'direct/o/x', 'overlap', 20);
    await burstOf(got, 'overlap', 20);
    expect(new Set(got.subscriptionIds.slice(0, 20).map((ids) => JSON.stringify([...(ids ?? [])].sort())))).toEqual(new Set(['[1,2]']));
    // Its own message on a No Local filter is not sent back; the others' are, once.
    sub.publish('direct/nl', 'own', { qos: 0 });
    await pub.publishAsync('direct/nl', 'theirs', { qos: 1 });
    await until('theirs', () => got.payloads.includes('theirs'));
    await sub.publishAsync('direct/nl', 'own-end', { qos: 1 });
    await pub.publishAsync('direct/o/x', 'after-own', { qos: 1 });
    await until('after-own', () => got.payloads.includes('after-own'));
    expect(got.payloads.filter((p) => p === 'own' || p === 'own-end')).toEqual([]);

    // Taken over from front end 1: once front end 0 has ended the old connection (the partition's
    // kick), it no longer holds the session and the partition delivers. Until then front end 0 may
    // still write QoS 0 to the old connection (README, Design notes: the takeover window); the
    // taker's CONNACK does not wait for it (failed once in CI, "taken: 0 of 50").
    const taker = await connect(1, id, { clean: false, properties: { sessionExpiryInterval: 300 } });
    await until('the old connection ended', () => !sub.connected);
    const moved = collect(taker, 'direct/o/');
    await burst(pub, 'direct/o/x', 'taken', 50);
    await burstOf(moved, 'taken', 50);
  });
});
