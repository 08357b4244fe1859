/**
 * The state store across partitions. KEYNOTIFY on a cluster behaves as on one node: a registration ends with the connection that made
 * it, also when the client's session lives in another partition than the key (the key's partition
 * cannot see that connection end by itself). Real processes: 2 front ends, 2 partitions on 2 back
 * ends; the front-end case SIGKILLs a front end.
 *
 * No sleeps before "nothing arrived": after the write that must not notify, a marker key in the same
 * partition is written and its notification awaited. Both notifications leave that partition in order
 * and reach the session in order, so a stale one would have come first.
 *
 * An XTX over keys of two partitions is refused (by design: Dapr's keys of one app share a partition).
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf } from '../../src/cluster/map.js';
import { DssClient, hexUpper, hlc } from '../statestore/dss-client.js';
import { clientIdIn, startFixedCluster, type FixedCluster } from './fixtures/fixed-cluster.js';
import { until } from '../helpers/cluster.js';

const NOTIFY = 'clients/statestore/v1/FA9AE35F-2F64-47CD-9BFF-08E2B32A0FE8';
let cluster: FixedCluster;
const open: Array<DssClient | MqttClient> = [];

beforeAll(async () => {
  cluster = await startFixedCluster({ frontends: 2, partitions: 2 });
}, 60_000);

afterAll(async () => {
  for (const c of open) ('mqtt' in c ? c.mqtt : c).end(true);
  await cluster?.stop();
});

/** A state-store key (`{app}||k`) whose partition key places it in `partition`. */
function keyIn(partition: number, prefix: string): string {
  for (let i = 0; ; i++) if (partitionOf(cluster.map, `${prefix}${i}`) === partition) return `${prefix}${i}||k`;
}


/** A DSS client that also subscribes to its own notifications. */
async function watcher(frontend: number, clientId: string, opts: mqtt.IClientOptions = {}): Promise<DssClient> {
  const c = await DssClient.connect(cluster.url(frontend), clientId, opts);
  open.push(c);
  await c.mqtt.subscribeAsync(`${NOTIFY}/${hexUpper(clientId)}/command/notify/#`, { qos: 1 });
  return c;
}

const notified = (c: DssClient, key: string) => c.notifications.filter((n) => n.topic.endsWith(`/notify/${hexUpper(key)}`));

/** The reconnected client registers `marker`; a write of `key` then of `marker`: only the marker may notify. */
async function expectNoNotification(again: DssClient, writer: DssClient, key: string, marker: string): Promise<void> {
  expect((await again.request(['KEYNOTIFY', marker])).raw.toString()).toBe('+OK\r\n');
  expect((await writer.request(['SET', key, 'after'], { __ts: hlc() })).raw.toString()).toBe('+OK\r\n');
  expect((await writer.request(['SET', marker, 'm'], { __ts: hlc() })).raw.toString()).toBe('+OK\r\n');
  await until('the marker notification', () => notified(again, marker).length === 1);
  expect(notified(again, key)).toEqual([]);
}

describe('KEYNOTIFY of a client whose session is in another partition than the key', () => {
  it('ends when the connection that made it disconnects (persistent session, same client id back)', async () => {
    const id = clientIdIn(cluster.map, 0, 'kn-dc');
    const key = keyIn(1, 'kn-dc-key');
    const marker = keyIn(1, 'kn-dc-marker');
    const writer = await watcher(1, 'kn-dc-writer');
    const w = await watcher(0, id, { clean: false, properties: { sessionExpiryInterval: 600 } });
    expect((await w.request(['KEYNOTIFY', key])).raw.toString()).toBe('+OK\r\n');
    await writer.request(['SET', key, 'before'], { __ts: hlc() });
    await until('the notification while registered', () => notified(w, key).length === 1);
    await w.end();

    const again = await watcher(1, id, { clean: false, properties: { sessionExpiryInterval: 600 } });
    await expectNoNotification(again, writer, key, marker);
    await again.end();
    await writer.end();
  });

  it('ends when the connection is taken over from another front end', async () => {
    const id = clientIdIn(cluster.map, 1, 'kn-to');
    const key = keyIn(0, 'kn-to-key');
    const marker = keyIn(0, 'kn-to-marker');
    const writer = await watcher(0, 'kn-to-writer');
    const w = await watcher(0, id, { clean: false, properties: { sessionExpiryInterval: 600 } });
    w.mqtt.on('error', () => {});
    expect((await w.request(['KEYNOTIFY', key])).raw.toString()).toBe('+OK\r\n');
    const closed = new Promise<void>((r) => w.mqtt.once('close', () => r()));
    const again = await watcher(1, id, { clean: false, properties: { sessionExpiryInterval: 600 } });
    await closed;
    await expectNoNotification(again, writer, key, marker);
    await again.end();
    await writer.end();
  });

  it('ends when the front end holding the connection is SIGKILLed', async () => {
    const id = clientIdIn(cluster.map, 0, 'kn-kill');
    const key = keyIn(1, 'kn-kill-key');
    const marker = keyIn(1, 'kn-kill-marker');
    const writer = await watcher(0, 'kn-kill-writer');
    const wills = await mqtt.connectAsync(cluster.url(0), { clientId: 'kn-kill-wills', protocolVersion: 5, reconnectPeriod: 0 });
    open.push(wills);
    const willsSeen: string[] = [];
    wills.on('message', (t) => willsSeen.push(t));
    await wills.subscribeAsync('kn-kill/wills/#', { qos: 1 });
    const w = await watcher(1, id, { clean: false, properties: { sessionExpiryInterval: 600 } });
    w.mqtt.on('error', () => {});
    expect((await w.request(['KEYNOTIFY', key])).raw.toString()).toBe('+OK\r\n');
    // A client of the key's partition on the same front end: its will says that partition's back end
    // has ended the dead front end's connections.
    const probe = await mqtt.connectAsync(cluster.url(1), {
      clientId: clientIdIn(cluster.map, 1, 'kn-kill-probe'),
      protocolVersion: 5,
      reconnectPeriod: 0,
      will: { topic: 'kn-kill/wills/probe', payload: Buffer.from('gone'), qos: 1, retain: false },
    });
    probe.on('error', () => {});
    open.push(probe);
    await cluster.kill(cluster.frontends[1]);
    await until("the probe's will (the dead front end's connections ended)", () => willsSeen.length === 1);

    const again = await watcher(0, id, { clean: false, properties: { sessionExpiryInterval: 600 } });
    await expectNoNotification(again, writer, key, marker);
    await again.end();
    await writer.end();
    await cluster.restart(cluster.frontends[1]);
  });
});

describe('XTX across partitions', () => {
  it('is refused with a clear error text, and nothing is applied', async () => {
    const c = await watcher(0, 'tx-across');
    const a = keyIn(0, 'tx-a');
    const b = keyIn(1, 'tx-b');
    const reply = await c.request(['XTX', 'SET', a, '1', 'SET', b, '2'], { __ts: hlc() });
    expect(reply.raw.toString()).toBe('-ERR the keys of one transaction must share a partition key (the part before "||")\r\n');
    expect((await c.request(['XGET', a, b])).value).toEqual([null, null]);
    await c.end();
  });
});
