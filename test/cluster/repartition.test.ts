/**
 * Live re-partitioning with real processes (`edgemq cluster --redundancy 2`, F = 2, P = 2) under a
 * QoS 1 and a QoS 2 stream with persistent sessions on both front ends: `cluster scale
 * --partitions 3`, then back to 2. Counts as the checker does (0 lost, 0 QoS 2 duplicates, 0 order
 * violations, 0 phantoms); an offline session of a moving slot keeps its queued messages; a live
 * MQTT 5 client of a moving slot is disconnected once, with 0x9C Use another server; state-store
 * keys of moving slots stay readable.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slotOf, type ClusterMap } from '../../src/cluster/map.js';
import { EtcdStore } from '../../src/cluster/store/etcd-store.js';
import { startCluster, until, type TestCluster } from '../helpers/cluster.js';
import { DssClient, hlc } from '../statestore/dss-client.js';
import { scalePartitions } from './checker/scale-nemesis.js';
import { Stream, type Endpoint } from './checker/workload.js';

let cluster: TestCluster;

/** GET with the retry of a real state-store client (a request in a handover's hold may go unanswered: README). */
async function get(dss: DssClient, key: string): Promise<string> {
  for (let i = 0; ; i++) {
    try {
      return (await dss.request(['GET', key])).raw.toString();
    } catch (err) {
      if (i === 2) throw err;
      console.log('state-store GET retried', key, (err as Error).message);
    }
  }
}

const endpoints = (): Endpoint[] => cluster.file().processes.filter((p) => p.role === 'frontend').map((p) => ({ host: '127.0.0.1', port: p.clientPorts![0]! }));
const full = (m: ClusterMap | null) => m !== null && m.partitions.every((p) => p.chain.length === 2) && m;
/** A name whose slot is in [from, to): slots 682-1023 move 1 → 2 when P goes 2 → 3 and back when it returns to 2. */
const inSlots = (prefix: string, from: number, to: number): string => {
  for (let i = 0; ; i++) {
    const name = `${prefix}${i}`;
    const s = slotOf(name);
    if (s >= from && s < to) return name;
  }
};

beforeAll(async () => {
  cluster = await startCluster({ frontends: 2, partitions: 2, args: ['--redundancy', '2'] });
  await until('chains of two', async () => full(await cluster.map()), 30_000);
}, 120_000);
afterAll(async () => {
  if (process.env.EDGEMQ_TEST_OUTPUT) (await import('node:fs')).writeFileSync(process.env.EDGEMQ_TEST_OUTPUT, cluster.output());
  await cluster?.stop();
}, 30_000);

async function scale(partitions: number): Promise<number> {
  return (await scalePartitions(cluster, partitions)).ms;
}

describe('live re-partitioning, 2 → 3 → 2', () => {
  it('moves slot ranges with sessions, queues and keys under QoS 1 and QoS 2 load: 0 lost, 0 QoS 2 duplicates, 0 order violations, 0 phantoms', async () => {
    const run = `rp${Date.now().toString(36)}`;
    const [url0, url1] = cluster.frontendUrls() as [string, string];
    // An offline persistent session whose slot moves, with messages queued while it is away.
    const offlineId = inSlots(`${run}-off`, 700, 1000);
    const offlineTopic = `rp/${run}/offline`;
    const off = await mqtt.connectAsync(url0, { clientId: offlineId, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 600 }, reconnectPeriod: 0 });
    await off.subscribeAsync(offlineTopic, { qos: 1 });
    await off.endAsync();
    // A live MQTT 5 client whose slot moves: it must see DISCONNECT 0x9C once per scaling step.
    const liveId = inSlots(`${run}-live`, 700, 1000);
    const reasons: number[] = [];
    const live: MqttClient = mqtt.connect(url1, { clientId: liveId, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 600 }, reconnectPeriod: 200 });
    live.on('disconnect', (p) => reasons.push(p.reasonCode ?? -1));
    live.on('error', () => {});
    await new Promise<void>((r) => live.once('connect', () => r()));
    // State-store keys in moving slots (2 → 3 moves 341-511 to partition 1 and 682-1023 to partition 2).
    // Clients without reconnection sit in slots that never move (0-340).
    const dss = await DssClient.connect(url0, inSlots(`${run}-dss`, 0, 300));
    const keys = [inSlots(`${run}-ka`, 345, 510), inSlots(`${run}-kb`, 690, 1020), inSlots(`${run}-kc`, 10, 300)];
    for (const k of keys) expect((await dss.request(['SET', k, `v-${k}`], { __ts: hlc() })).raw.toString()).toBe('+OK\r\n');

    const q1 = new Stream(`${run}a`, { qos: 1, publishers: 2, subscribers: 2, window: 4, intervalMs: 20 }, endpoints);
    const q2 = new Stream(`${run}b`, { qos: 2, publishers: 2, subscribers: 2, window: 1, intervalMs: 20 }, endpoints);
    await q1.start();
    await q2.start();
    try {
      const pub = await mqtt.connectAsync(url1, { clientId: inSlots(`${run}-pub`, 0, 300), protocolVersion: 5, reconnectPeriod: 0 });
      for (let i = 0; i < 10; i++) await pub.publishAsync(offlineTopic, `off:${i}`, { qos: 1 });
      await new Promise((r) => setTimeout(r, 1000));

      const upMs = await scale(3);
      const m3 = (await cluster.map())!;
      expect(m3.partitions.map((p) => p.id)).toEqual([0, 1, 2]);
      expect(m3.moving).toBeUndefined();
      expect(m3.slots).toEqual([
        { from: 0, to: 341, partition: 0 },
        { from: 341, to: 682, partition: 1 },
        { from: 682, to: 1024, partition: 2 },
      ]);
      const afterUp = reasons.length;
      for (const k of keys) expect(await get(dss, k)).toBe(`$${`v-${k}`.length}\r\nv-${k}\r\n`);
      for (let i = 10; i < 20; i++) await pub.publishAsync(offlineTopic, `off:${i}`, { qos: 1 });
      await new Promise((r) => setTimeout(r, 1000));

      const downMs = await scale(2);
      const m2 = (await cluster.map())!;
      expect(m2.partitions.map((p) => p.id)).toEqual([0, 1]);
      expect(m2.slots).toEqual([
        { from: 0, to: 512, partition: 0 },
        { from: 512, to: 1024, partition: 1 },
      ]);
      for (const k of keys) expect(await get(dss, k)).toBe(`$${`v-${k}`.length}\r\nv-${k}\r\n`);
      await new Promise((r) => setTimeout(r, 1000));
      await q1.drain(20_000);
      await q2.drain(20_000);

      // The offline session crossed two handovers with its queue: every message, in order, once.
      const got: string[] = [];
      // The listener before CONNACK: the queue follows it in the same read.
      const back = mqtt.connect(url0, { clientId: offlineId, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 600 }, reconnectPeriod: 0 });
      back.on('message', (_t, p) => got.push(p.toString()));
      const present = await new Promise<boolean>((r) => back.once('connect', (ack) => r(ack.sessionPresent)));
      expect(present).toBe(true);
      await until('queued messages of the offline session', () => got.length >= 20, 10_000).catch(() => undefined);
      expect(got).toEqual(Array.from({ length: 20 }, (_, i) => `off:${i}`));
      await back.endAsync();
      await pub.endAsync();

      const c1 = q1.counts();
      const c2 = q2.counts();
      console.log('repartition', JSON.stringify({ upMs, downMs, liveDisconnects: reasons, afterUp, q1: c1, q2: c2 }));
      expect(reasons.slice(0, afterUp)).toEqual([0x9c]);
      expect(reasons).toEqual([0x9c, 0x9c]);
      for (const c of [c1, c2]) {
        expect(c.acknowledged).toBeGreaterThan(50);
        expect(c.lostSamples).toEqual([]);
        expect(c.lost).toBe(0);
        expect(c.phantoms).toBe(0);
        expect(c.orderViolations).toBe(0);
      }
      expect({ duplicates: c2.duplicates, samples: c2.duplicateSamples }).toEqual({ duplicates: 0, samples: [] });
    } finally {
      live.end(true);
      await dss.end();
      await q1.stop();
      await q2.stop();
    }
  }, 180_000);

  it('the source head SIGKILLed in the middle of a handover (3 → 2): the new head finishes it, with the same zero counts', async () => {
    const run = `rk${Date.now().toString(36)}`;
    const q1 = new Stream(`${run}a`, { qos: 1, publishers: 2, subscribers: 2, window: 4, intervalMs: 20 }, endpoints);
    const q2 = new Stream(`${run}b`, { qos: 2, publishers: 2, subscribers: 2, window: 1, intervalMs: 20 }, endpoints);
    await q1.start();
    await q2.start();
    // Watched, not polled: a handover lasts a few hundred milliseconds.
    const store = new EtcdStore({ endpoints: (cluster.file().etcd as { endpoints: string[] }).endpoints });
    let killed: { head: string; pid: number; move: number } | undefined;
    let armed = false;
    const unwatch = await store.watchMap(({ value: m }) => {
      if (!armed || killed || !m.moving) return;
      const head = m.partitions.find((p) => p.id === m.moving!.source)!.chain[0]!;
      const e = cluster.file().processes.find((p) => p.id === head)!;
      process.kill(e.pid!, 'SIGKILL');
      killed = { head, pid: e.pid!, move: m.moving.id };
    });
    try {
      await scale(3);
      // The new partition's second replica needs its state transfer first: a new partition whose
      // only replica with state dies before that stays unavailable (README, chain replication limits).
      await until('chains of two', async () => full(await cluster.map()), 30_000);
      await new Promise((r) => setTimeout(r, 3000));
      armed = true;
      await scale(2);
      expect(killed).toBeDefined();
      await cluster.waitRestarted('backend', Number(killed!.head.replace(/\D/g, '')), killed!.pid);
      await until('chains of two again', async () => full(await cluster.map()), 30_000);
      const m = (await cluster.map())!;
      expect(m.slots).toEqual([
        { from: 0, to: 512, partition: m.partitions[0]!.id },
        { from: 512, to: 1024, partition: m.partitions[1]!.id },
      ]);
      await new Promise((r) => setTimeout(r, 1000));
      await q1.drain(20_000);
      await q2.drain(20_000);
      const c1 = q1.counts();
      const c2 = q2.counts();
      console.log('repartition with a head killed', JSON.stringify({ killed, q1: c1, q2: c2 }));
      for (const c of [c1, c2]) {
        expect(c.acknowledged).toBeGreaterThan(50);
        expect(c.lostSamples).toEqual([]);
        expect(c.lost).toBe(0);
        expect(c.phantoms).toBe(0);
        expect(c.orderViolations).toBe(0);
      }
      expect({ duplicates: c2.duplicates, samples: c2.duplicateSamples }).toEqual({ duplicates: 0, samples: [] });
    } finally {
      await unwatch();
      await store.close();
      await q1.stop();
      await q2.stop();
    }
  }, 180_000);
});
