/**
 * The data plane with real processes: 2 back ends (one partition each) and 2 front ends started
 * from a fixed map (no etcd), real MQTT clients on both front ends, and SIGKILL for the failures.
 * The cases run in order on one cluster; the failure cases come last.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import mqttPacket, { type IPublishPacket } from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientIdIn, connectTo, startFixedCluster, type FixedCluster } from './fixtures/fixed-cluster.js';
import { DssClient, hlc } from '../statestore/dss-client.js';
import { rawConnect } from '../conformance/helpers/raw.js';
import { until } from '../helpers/cluster.js';

let cluster: FixedCluster;
const clients: MqttClient[] = [];

beforeAll(async () => {
  cluster = await startFixedCluster({ frontends: 2, partitions: 2 });
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.end(true);
  await cluster?.stop();
});

const connect = (frontend: number, clientId: string, opts: IClientOptions = {}): Promise<MqttClient> => connectTo(cluster, clients, frontend, clientId, opts);

function collect(c: MqttClient): Array<{ topic: string; payload: string; retain: boolean }> {
  const got: Array<{ topic: string; payload: string; retain: boolean }> = [];
  c.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), retain: packet.retain }));
  return got;
}


/** A PUBACK/PUBREC reason code for a publish (mqtt.js resolves with the ack packet). */
async function publishCode(c: MqttClient, topic: string, payload: string, qos: 1 | 2, retain = false): Promise<number> {
  try {
    const ack = (await c.publishAsync(topic, payload, { qos, retain })) as { reasonCode?: number } | undefined;
    return ack?.reasonCode ?? 0;
  } catch (err) {
    const code = (err as { code?: number }).code;
    if (typeof code === 'number') return code;
    throw err;
  }
}

describe('cluster data plane (2 front ends, 2 partitions on 2 back ends)', () => {
  it('delivers from a publisher on one front end to a subscriber on the other at QoS 0, 1 and 2, in both directions', async () => {
    for (const [subFe, pubFe] of [
      [0, 1],
      [1, 0],
    ]) {
      // The subscriber's session in one partition, the publisher's in the other.
      const sub = await connect(subFe, clientIdIn(cluster.map, subFe, `x-sub-${subFe}`));
      const pub = await connect(pubFe, clientIdIn(cluster.map, pubFe, `x-pub-${pubFe}`));
      const got = collect(sub);
      const [granted] = await sub.subscribeAsync(`cross/${subFe}/#`, { qos: 2 });
      expect(granted.qos).toBe(2);
      pub.publish(`cross/${subFe}/q0`, 'zero', { qos: 0 });
      expect(await publishCode(pub, `cross/${subFe}/q1`, 'one', 1)).toBe(0);
      expect(await publishCode(pub, `cross/${subFe}/q2`, 'two', 2)).toBe(0);
      await until('three messages', () => got.length === 3);
      expect(got.map((m) => m.payload).sort()).toEqual(['one', 'two', 'zero']);
      // No subscriber anywhere: a success code (0x10 in v5), not an error.
      expect(await publishCode(pub, 'nobody/listens', 'x', 1)).toBeLessThan(0x80);
      await sub.endAsync();
      await pub.endAsync();
    }
  });

  it('resumes a persistent session on the other front end with the messages queued meanwhile', async () => {
    const id = clientIdIn(cluster.map, 1, 'resume');
    const first = await connect(0, id, { clean: false, properties: { sessionExpiryInterval: 300 } });
    await first.subscribeAsync('resume/#', { qos: 1 });
    await first.endAsync();
    const pub = await connect(1, clientIdIn(cluster.map, 0, 'resume-pub'));
    for (let i = 0; i < 10; i++) expect(await publishCode(pub, 'resume/t', `m${i}`, 1)).toBe(0);
    const again = mqtt.connect(cluster.url(1), { clientId: id, protocolVersion: 5, clean: false, reconnectPeriod: 0, manualConnect: true, properties: { sessionExpiryInterval: 300 } });
    clients.push(again);
    const got = collect(again);
    let present = false;
    again.on('connect', (ack) => (present = ack.sessionPresent));
    again.connect();
    await until('ten queued messages', () => got.length === 10);
    expect(present).toBe(true);
    expect(got.map((m) => m.payload)).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
    await again.endAsync();
    await pub.endAsync();
  });

  it('serves retained messages to subscribers of either partition on either front end, and clears them', async () => {
    const pub = await connect(0, 'retain-pub');
    expect(await publishCode(pub, 'retained/a', 'kept', 1, true)).toBeLessThan(0x80);
    for (const [fe, p] of [
      [0, 1],
      [1, 0],
    ]) {
      const sub = await connect(fe, clientIdIn(cluster.map, p, `retain-sub-${fe}`));
      const got = collect(sub);
      await sub.subscribeAsync('retained/#', { qos: 1 });
      await until('retained message', () => got.length === 1);
      expect(got[0]).toEqual({ topic: 'retained/a', payload: 'kept', retain: true });
      await sub.endAsync();
    }
    await publishCode(pub, 'retained/a', '', 1, true);
    const late = await connect(1, 'retain-late');
    const got = collect(late);
    await late.subscribeAsync('retained/#', { qos: 1 });
    await late.publishAsync('retained/marker', 'm', { qos: 1 });
    await until('marker', () => got.length === 1);
    expect(got[0].topic).toBe('retained/marker');
    await late.endAsync();
    await pub.endAsync();
  });

  it('gives each message of a share group to exactly one member across partitions and front ends', async () => {
    const a = await connect(0, clientIdIn(cluster.map, 0, 'share-a'));
    const b = await connect(1, clientIdIn(cluster.map, 1, 'share-b'));
    const gotA = collect(a);
    const gotB = collect(b);
    await a.subscribeAsync('$share/g1/jobs/#', { qos: 1 });
    await b.subscribeAsync('$share/g1/jobs/#', { qos: 1 });
    const pub = await connect(1, 'share-pub');
    const N = 40;
    for (let i = 0; i < N; i++) expect(await publishCode(pub, `jobs/${i}`, `${i}`, 1)).toBe(0);
    await until('every job', () => gotA.length + gotB.length >= N);
    await new Promise((r) => setTimeout(r, 200)); // a duplicate would arrive now
    const all = [...gotA, ...gotB].map((m) => Number(m.payload)).sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(gotA.length).toBeGreaterThan(0);
    expect(gotB.length).toBeGreaterThan(0);
    await a.endAsync();
    await b.endAsync();
    await pub.endAsync();
  });

  it('takes a session over across front ends: the old connection gets DISCONNECT 0x8E', async () => {
    const id = 'takeover-client';
    const old = await connect(0, id);
    let reason = -1;
    old.on('disconnect', (p) => (reason = p.reasonCode ?? 0));
    const closed = new Promise<void>((r) => old.once('close', () => r()));
    const fresh = await connect(1, id);
    await closed;
    expect(reason).toBe(0x8e);
    expect(fresh.connected).toBe(true);
    // The new connection is the session's: it receives.
    const got = collect(fresh);
    await fresh.subscribeAsync('takeover/t', { qos: 1 });
    const pub = await connect(0, 'takeover-pub');
    await pub.publishAsync('takeover/t', 'after', { qos: 1 });
    await until('message after takeover', () => got.length === 1);
    await fresh.endAsync();
    await pub.endAsync();
  });

  it("applies every PUBACK of a subscriber's one write (joined into one command): a resumed session gets back only the message it did not acknowledge", async () => {
    const port = (fe: number) => Number(new URL(cluster.url(fe)).port);
    const id = clientIdIn(cluster.map, 1, 'acks-burst');
    const session = { clientId: id, protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 300 } };
    const sub = (await rawConnect(port(0), session)).client;
    await sub.subscribe([{ topic: 'burst/#', qos: 1 }]);
    const pub = await connect(1, clientIdIn(cluster.map, 0, 'acks-burst-pub'));
    const n = 100;
    for (let i = 0; i < n; i++) expect(await publishCode(pub, 'burst/t', `b${i}`, 1)).toBe(0);
    const got: Array<{ messageId: number; payload: string }> = [];
    for (let i = 0; i < n; i++) {
      const p = await sub.expectPacket<IPublishPacket>('publish', 10_000);
      got.push({ messageId: p.messageId!, payload: p.payload.toString() });
    }
    expect(got.map((m) => m.payload)).toEqual(Array.from({ length: n }, (_, i) => `b${i}`));
    // All but the last acknowledged in one write: the front end reads them as one run.
    sub.sendRaw(Buffer.concat(got.slice(0, n - 1).map((m) => mqttPacket.generate({ cmd: 'puback', messageId: m.messageId }, { protocolVersion: 5 }))));
    sub.disconnect();
    await sub.end();
    const again = await rawConnect(port(1), session);
    expect(again.connack.sessionPresent).toBe(true);
    const resent = await again.client.expectPacket<IPublishPacket>('publish', 10_000);
    expect([resent.payload.toString(), resent.dup]).toEqual([`b${n - 1}`, true]);
    await again.client.expectNoPacket('publish', 1000);
    again.client.disconnect();
    await again.client.end();
    await pub.endAsync();
  });

  it('answers state-store (DSS) requests on either front end, keys placed by partition key', async () => {
    const d0 = await DssClient.connect(cluster.url(0), 'dss-0');
    const d1 = await DssClient.connect(cluster.url(1), 'dss-1');
    for (let i = 0; i < 6; i++) {
      const set = await d0.request(['SET', `app${i}||k`, `v${i}`], { __ts: hlc() });
      expect(set.raw.toString()).toBe('+OK\r\n');
    }
    for (let i = 0; i < 6; i++) {
      const get = await d1.request(['GET', `app${i}||k`], { __ts: hlc() });
      expect(get.raw.toString()).toBe(`$2\r\nv${i}\r\n`);
    }
    await d0.end();
    await d1.end();
  });

  it('publishes the will of a client whose front end is SIGKILLed; the other front end carries on', async () => {
    const watcher = await connect(0, clientIdIn(cluster.map, 1, 'will-watcher'));
    const got = collect(watcher);
    await watcher.subscribeAsync('wills/#', { qos: 1 });
    const doomed = await mqtt.connectAsync(cluster.url(1), {
      clientId: clientIdIn(cluster.map, 0, 'will-owner'),
      protocolVersion: 5,
      reconnectPeriod: 0,
      will: { topic: 'wills/owner', payload: Buffer.from('gone'), qos: 1, retain: false },
    });
    doomed.on('error', () => {});
    clients.push(doomed);
    await cluster.kill(cluster.frontends[1]);
    await until('the will', () => got.length === 1, 15_000);
    expect(got[0]).toMatchObject({ topic: 'wills/owner', payload: 'gone' });
    // Front end 0 still routes between its clients.
    const pub = await connect(0, 'after-fe-kill');
    expect(await publishCode(pub, 'wills/other', 'still here', 1)).toBe(0);
    await until('a message after the kill', () => got.length === 2);
    await cluster.restart(cluster.frontends[1]);
    await watcher.endAsync();
    await pub.endAsync();
  });

  it('loses nothing acknowledged when a back end is SIGKILLed; the other partition keeps working; no false PUBACK', async () => {
    // A persistent subscriber in partition 1, offline while messages queue for it.
    const subId = clientIdIn(cluster.map, 1, 'durable-sub');
    const sub = await connect(0, subId, { clean: false, properties: { sessionExpiryInterval: 600 } });
    await sub.subscribeAsync('durable/#', { qos: 1 });
    await sub.endAsync();
    const pub = await connect(0, clientIdIn(cluster.map, 0, 'durable-pub'));
    const acked: string[] = [];
    for (let i = 0; i < 50; i++) {
      expect(await publishCode(pub, 'durable/t', `d${i}`, 1)).toBe(0);
      acked.push(`d${i}`);
    }
    await cluster.kill(cluster.backends[1]);

    // Partition 0's clients keep working while partition 1 is down.
    const local = await connect(1, clientIdIn(cluster.map, 0, 'p0-local'));
    const localGot = collect(local);
    await local.subscribeAsync('p0only/#', { qos: 1 });
    expect(await publishCode(pub, 'p0only/x', 'alive', 1)).toBe(0);
    await until('partition 0 traffic', () => localGot.length === 1);
    // A session in the dead partition cannot connect: CONNACK 0x88 Server unavailable.
    await expect(mqtt.connectAsync(cluster.url(1), { clientId: subId, protocolVersion: 5, clean: false, reconnectPeriod: 0 })).rejects.toMatchObject({ code: 0x88 });
    // A publish that involves the dead partition is refused, never acknowledged as delivered.
    const code = await publishCode(pub, 'durable/t', 'while-down', 1);
    expect(code).toBeGreaterThanOrEqual(0x80);
    // QoS 2 likewise (PUBREC 0x80), and the publisher's partition lets go of the packet id, so the same
    // id sent again later is a new message, not a resend to be swallowed.
    const raw = (await rawConnect(Number(new URL(cluster.url(0)).port), { clientId: clientIdIn(cluster.map, 0, 'q2-raw'), protocolVersion: 5 })).client;
    raw.publish('durable/t', 'q2-down', { qos: 2, messageId: 77 });
    const refused = await raw.expectPacket<{ cmd: 'pubrec'; reasonCode?: number }>('pubrec', 10_000);
    expect(refused.reasonCode).toBe(0x80);

    await cluster.restart(cluster.backends[1]);
    const back = mqtt.connect(cluster.url(1), {
      clientId: subId,
      protocolVersion: 5,
      clean: false,
      reconnectPeriod: 0,
      manualConnect: true,
      properties: { sessionExpiryInterval: 600 },
    });
    clients.push(back);
    const got = collect(back);
    // The front ends re-dial the restarted back end; retry CONNECT until it is reachable again.
    let connected = false;
    for (let i = 0; i < 50 && !connected; i++) {
      back.connect();
      connected = await new Promise<boolean>((r) => {
        back.once('connect', () => r(true));
        back.once('error', () => r(false));
        back.once('close', () => r(false));
      });
      if (!connected) await new Promise((r) => setTimeout(r, 200));
    }
    expect(connected).toBe(true);
    await until('every acknowledged message', () => acked.every((p) => got.some((m) => m.payload === p)), 15_000);
    raw.publish('durable/t', 'q2-after', { qos: 2, messageId: 77 });
    const accepted = await raw.expectPacket<{ cmd: 'pubrec'; reasonCode?: number }>('pubrec', 10_000);
    expect(accepted.reasonCode ?? 0).toBe(0);
    raw.send({ cmd: 'pubrel', messageId: 77 });
    await raw.expectPacket('pubcomp');
    await until('the QoS 2 message sent again with the same id', () => got.some((m) => m.payload === 'q2-after'));
    expect(got.some((m) => m.payload === 'q2-down')).toBe(false);
    raw.destroy();
    await back.endAsync();
    await pub.endAsync();
    await local.endAsync();
  });
});
