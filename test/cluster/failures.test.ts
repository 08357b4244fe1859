/**
 * Failures of a real `edgemq cluster` (F = 2, P = 2, etcd, coordinator, all separate processes)
 * with SIGKILL, each process restarted by the supervisor:
 * - a front end: its clients resume on the other front end with their queued messages, wills of
 *   the killed connections are published, and it comes back;
 * - a back end: the other partition keeps working, a publish that needs the dead partition never
 *   gets a false success, and after the restart nothing acknowledged is lost;
 * - a back end restarted while etcd hangs (SIGSTOP): it serves on its cached map;
 * - the coordinator and etcd together: the data path carries on, both come back, and the map
 *   changes again afterwards.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf, type ClusterMap } from '../../src/cluster/map.js';
import { close, collect, connectCollect, connectWithAck, publish, subscribe, uid } from '../conformance/helpers/clients.js';
import { startCluster, until, type TestCluster } from '../helpers/cluster.js';

let cluster: TestCluster;
let map: ClusterMap;
const clients: MqttClient[] = [];
const track = (c: MqttClient) => (clients.push(c), c);

beforeAll(async () => {
  cluster = await startCluster({ frontends: 2, partitions: 2 });
  map = await until('the first map', () => cluster.map(), 30_000);
}, 120_000);
afterEach(async () => {
  for (const c of clients.splice(0)) await close(c, true);
});
afterAll(async () => {
  await cluster?.stop();
}, 30_000);

/** A client id whose session lives in `partition`. */
function idIn(partition: number, prefix: string): string {
  for (;;) {
    const id = uid(prefix);
    if (partitionOf(map, id) === partition) return id;
  }
}

const fe = (i: number) => cluster.frontendUrls()[i]!;

/**
 * Publishes `payload` until `got` has a message. A SUBACK promises only that the subscriber's own
 * front end routes to the new subscription; another front end learns it from the partition's feed
 * a moment later (longer while its link to a restarted back end is re-dialed), so a publish from
 * there is repeated until it arrives, within a bound.
 */
async function publishUntilDelivered(pub: MqttClient, topic: string, payload: string, got: ReturnType<typeof collect>): Promise<string> {
  await until(`a delivery on ${topic}`, async () => {
    await publish(pub, topic, payload, { qos: 1 });
    await new Promise((r) => setTimeout(r, 200));
    return got.messages.length > 0;
  }, 15_000);
  return got.messages[0]!.payload;
}

describe('SIGKILL in a running cluster', () => {
  it('a front end: clients resume on the other with queued messages, wills are published, and it is restarted', async () => {
    const root = `fail/fe/${uid()}`;
    const subId = uid('sub');
    const sub = track((await connectWithAck(fe(0), { clientId: subId, clean: false, properties: { sessionExpiryInterval: 300 } })).client);
    await subscribe(sub, `${root}/data`, { qos: 1 });
    track((await connectWithAck(fe(0), { will: { topic: `${root}/will`, payload: Buffer.from('gone'), qos: 1, retain: false } })).client);
    const watcher = track((await connectWithAck(fe(1))).client);
    const wills = collect(watcher);
    await subscribe(watcher, `${root}/will`, { qos: 1 });

    const old = await cluster.kill('frontend', 0);
    expect((await wills.waitFor(1, 15_000))[0]!.payload).toBe('gone');

    const pub = track((await connectWithAck(fe(1))).client);
    for (let i = 0; i < 3; i++) await publish(pub, `${root}/data`, `m${i}`, { qos: 1 });
    const back = await connectCollect(fe(1), { clientId: subId, clean: false, properties: { sessionExpiryInterval: 300 } });
    track(back.client);
    expect(back.connack.sessionPresent).toBe(true);
    const got = back.got;
    expect((await got.waitFor(3, 10_000)).map((m) => m.payload).sort()).toEqual(['m0', 'm1', 'm2']);

    await cluster.waitRestarted('frontend', 0, old);
    const again = track((await connectWithAck(fe(0))).client);
    expect(again.connected).toBe(true);
  }, 60_000);

  it('a back end: the other partition keeps working, no false PUBACK, nothing acknowledged lost after the restart', async () => {
    const root = `fail/be/${uid()}`;
    const victim = map.partitions[1]!.chain[0]!;
    const victimIndex = Number(victim.replace(/\D/g, ''));
    const liveId = idIn(0, 'live');
    const deadId = idIn(1, 'dead');
    const live = track((await connectWithAck(fe(0), { clientId: liveId })).client);
    const liveGot = collect(live);
    await subscribe(live, `${root}/live`, { qos: 1 });
    const dead = track((await connectWithAck(fe(1), { clientId: deadId, clean: false, properties: { sessionExpiryInterval: 300 } })).client);
    await subscribe(dead, `${root}/dead`, { qos: 1 });
    await close(dead);
    const pub = track((await connectWithAck(fe(1), { clientId: idIn(0, 'pub') })).client);
    await publish(pub, `${root}/dead`, 'before', { qos: 1 });

    expect(await publishUntilDelivered(pub, `${root}/live`, 'warm', liveGot)).toBe('warm');
    liveGot.clear();

    const old = await cluster.kill('backend', victimIndex);
    await publish(pub, `${root}/live`, 'still', { qos: 1 });
    expect((await liveGot.waitFor(1, 10_000))[0]!.payload).toBe('still');

    // Needs the dead partition: it may wait for the restart or fail with a reason code; a success must be kept.
    const during = publish(pub, `${root}/dead`, 'during', { qos: 1 }).then(
      (p) => ((p as { reasonCode?: number } | undefined)?.reasonCode ?? 0) < 0x80,
      () => false,
    );
    await cluster.waitRestarted('backend', victimIndex, old);
    const acked = await during;

    const resumed = await until(
      'the session back on the restarted back end',
      async () => {
        try {
          const r = await connectWithAck(fe(0), { clientId: deadId, clean: false, properties: { sessionExpiryInterval: 300 } }, (c) => {
            track(c);
            (c as MqttClient & { got?: ReturnType<typeof collect> }).got = collect(c);
          });
          return r;
        } catch {
          return undefined;
        }
      },
      30_000,
    );
    expect(resumed.connack.sessionPresent).toBe(true);
    const got = (resumed.client as MqttClient & { got: ReturnType<typeof collect> }).got;
    const want = acked ? ['before', 'during'] : ['before'];
    expect((await got.waitFor(want.length, 10_000)).map((m) => m.payload).sort()).toEqual(want.sort());
  }, 90_000);

  it('a back end restarted while etcd does not answer serves on its cached map', async () => {
    const root = `fail/cache/${uid()}`;
    const etcdPid = cluster.entry('etcd', 0).pid!;
    const victim = map.partitions[0]!.chain[0]!;
    const victimIndex = Number(victim.replace(/\D/g, ''));
    // SIGSTOP: etcd stays "running" for the supervisor but answers nothing, like a hung store.
    process.kill(etcdPid, 'SIGSTOP');
    try {
      const old = await cluster.kill('backend', victimIndex);
      await cluster.waitRestarted('backend', victimIndex, old);
      const sub = await until(
        'a session in the restarted partition',
        async () => {
          try {
            return (await connectCollect(fe(0), { clientId: idIn(0, 'cached') })) ?? undefined;
          } catch {
            return undefined;
          }
        },
        30_000,
      );
      track(sub.client);
      await subscribe(sub.client, `${root}/x`, { qos: 1 });
      const pub = track((await connectWithAck(fe(1), { clientId: idIn(1, 'pub') })).client);
      expect(await publishUntilDelivered(pub, `${root}/x`, 'on the cached map', sub.got)).toBe('on the cached map');
    } finally {
      process.kill(etcdPid, 'SIGCONT');
    }
  }, 90_000);

  it('the coordinator and etcd: the data path carries on, both come back, and the map changes again', async () => {
    const root = `fail/ctl/${uid()}`;
    const before = (await cluster.map())!;
    const oldCoordinator = await cluster.kill('coordinator', 0);
    const oldEtcd = await cluster.kill('etcd', 0);

    const sub = track((await connectWithAck(fe(0))).client);
    const got = collect(sub);
    await subscribe(sub, `${root}/x`, { qos: 1 });
    const pub = track((await connectWithAck(fe(1))).client);
    expect(await publishUntilDelivered(pub, `${root}/x`, 'while etcd is down', got)).toBe('while etcd is down');

    await cluster.waitRestarted('etcd', 0, oldEtcd);
    await cluster.waitRestarted('coordinator', 0, oldCoordinator);
    const oldFe = await cluster.kill('frontend', 1);
    const fresh = await cluster.waitRestarted('frontend', 1, oldFe);
    const after = await until('a map with the restarted front end', async () => {
      const m = await cluster.map();
      return m && m.nodes['frontend-1']?.pid === fresh.pid && m;
    }, 30_000);
    expect(after.epoch).toBeGreaterThan(before.epoch);
    expect(after.partitions).toEqual(before.partitions);
  }, 90_000);
});
