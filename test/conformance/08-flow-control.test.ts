/**
 * Flow control (Receive Maximum, both directions) and Maximum Packet Size (both directions).
 */
import { describe, it, expect } from 'vitest';
import type { IPublishPacket } from 'mqtt-packet';
import { useConformanceBroker, connect, collect, subscribe, publish, close, uid, topicRoot, vname, VERSIONS, isEdgemq } from './helpers/clients.js';
import { rawConnect } from './helpers/raw.js';

const BROKER_RECEIVE_MAX = 3;
const BROKER_MAX_PACKET = 2048;
const broker = useConformanceBroker({ clients: { maxPacketSizeBytes: BROKER_MAX_PACKET }, edgemq: { receiveMaximum: BROKER_RECEIVE_MAX } });

describe('08 flow control', { timeout: 15000 }, () => {
  // Mosquitto 2.0.11 sends two new messages after the first PUBACK while one is still unacknowledged (3 in
  // flight with Receive Maximum 2), which [MQTT-3.3.4-9] forbids; so this runs on edgemq only.
  it.skipIf(!isEdgemq)('[MQTT-3.3.4-9] broker never has more than the client Receive Maximum QoS 1 messages unacknowledged', async () => {
    const topic = `${topicRoot('rm')}/a`;
    const RM = 2;
    const { client } = await rawConnect(broker.port, { protocolVersion: 5, clientId: uid(), properties: { receiveMaximum: RM } });
    await client.subscribe([{ topic, qos: 1 }]);
    const pub = await connect(broker.url, { protocolVersion: 5 });
    const N = 6;
    for (let i = 0; i < N; i++) await publish(pub, topic, String(i), { qos: 1 });
    const received: IPublishPacket[] = [];
    let unacked: IPublishPacket[] = [];
    while (received.length < N) {
      const batch = (await client.collectFor('publish', 400)) as IPublishPacket[];
      if (process.env.CONF_DEBUG) console.log('batch', batch.map((b) => b.payload.toString()), 'unacked', unacked.length);
      received.push(...batch);
      unacked.push(...batch);
      expect(unacked.length).toBeLessThanOrEqual(RM);
      expect(unacked.length).toBeGreaterThan(0); // the window is used: no stall
      const p = unacked.shift()!;
      client.puback(p.messageId!);
    }
    for (const p of unacked) client.puback(p.messageId!);
    unacked = [];
    expect(received.map((p) => p.payload.toString())).toEqual(Array.from({ length: N }, (_, i) => String(i)));
    await client.expectNoPacket('publish', 200);
    await client.end();
    await close(pub);
  });

  it('[MQTT-3.3.4-9] a QoS 2 message occupies the Receive Maximum window until PUBCOMP', async () => {
    const topic = `${topicRoot('rm2')}/a`;
    const { client } = await rawConnect(broker.port, { protocolVersion: 5, clientId: uid(), properties: { receiveMaximum: 1 } });
    await client.subscribe([{ topic, qos: 2 }]);
    const pub = await connect(broker.url, { protocolVersion: 5 });
    await publish(pub, topic, 'first', { qos: 2 });
    await publish(pub, topic, 'second', { qos: 2 });
    const p1 = await client.expectPacket<IPublishPacket>('publish');
    expect(p1.payload.toString()).toBe('first');
    await client.expectNoPacket('publish', 300);
    client.send({ cmd: 'pubrec', messageId: p1.messageId });
    await client.expectPacket('pubrel');
    await client.expectNoPacket('publish', 300);
    client.send({ cmd: 'pubcomp', messageId: p1.messageId });
    const p2 = await client.expectPacket<IPublishPacket>('publish');
    expect(p2.payload.toString()).toBe('second');
    await client.end();
    await close(pub);
  });

  // Mosquitto 2.0.11 answers the excess PUBLISH with PUBREC 0x97 Quota exceeded and keeps the connection; the
  // spec (3.3.4, Receive Maximum) says the server uses DISCONNECT 0x93 Receive Maximum exceeded.
  it.skipIf(!isEdgemq)('[MQTT-3.3.4-7] client exceeding the broker Receive Maximum gets DISCONNECT 0x93 Receive Maximum exceeded', async () => {
    const { client, connack } = await rawConnect(broker.port, { protocolVersion: 5, clientId: uid() });
    const rm = connack.properties?.receiveMaximum ?? 65535;
    if (isEdgemq) expect(rm).toBe(BROKER_RECEIVE_MAX);
    expect(rm).toBeLessThanOrEqual(100); // so the test can exceed it
    const topic = `${topicRoot('rmx')}/a`;
    // QoS 2 without PUBREL keeps every message in flight.
    for (let i = 1; i <= rm + 1; i++) client.publish(topic, String(i), { qos: 2, messageId: i });
    await client.expectDisconnect(0x93, { strict: true });
    // the broker acknowledged (PUBREC) no more than rm of them
    expect(client.received.filter((p) => p.cmd === 'pubrec').length).toBeLessThanOrEqual(rm);
  });

  it('[MQTT-3.1.2-25] broker does not send packets larger than the client Maximum Packet Size and carries on', async () => {
    const topic = `${topicRoot('mps')}/a`;
    const { client } = await rawConnect(broker.port, { protocolVersion: 5, clientId: uid(), properties: { maximumPacketSize: 256 } });
    await client.subscribe([{ topic, qos: 1 }]);
    const pub = await connect(broker.url, { protocolVersion: 5 });
    const big = 'B'.repeat(1000);
    await publish(pub, topic, 'small-1', { qos: 1 });
    await publish(pub, topic, big, { qos: 1 });
    await publish(pub, topic, 'small-2', { qos: 0 });
    await publish(pub, topic, big, { qos: 0 });
    await publish(pub, topic, 'small-3', { qos: 1 });
    const got: string[] = [];
    for (let i = 0; i < 3; i++) {
      const p = await client.expectPacket<IPublishPacket>('publish');
      if (p.qos > 0) client.puback(p.messageId!);
      got.push(p.payload.toString());
    }
    expect(got).toEqual(['small-1', 'small-2', 'small-3']);
    await client.expectNoPacket('publish', 300);
    expect(client.closed).toBe(false);
    await client.end();
    await close(pub);
  });

  it.skipIf(!isEdgemq)('[MQTT-3.2.2-15] CONNACK advertises Maximum Packet Size; a larger packet gets DISCONNECT 0x95 Packet too large', async () => {
    const { client, connack } = await rawConnect(broker.port, { protocolVersion: 5, clientId: uid() });
    expect(connack.properties?.maximumPacketSize).toBe(BROKER_MAX_PACKET);
    const bystander = await connect(broker.url, { protocolVersion: 5 });
    client.publish(`${topicRoot('mps')}/big`, Buffer.alloc(BROKER_MAX_PACKET * 2, 1), { qos: 1 });
    await client.expectDisconnect(0x95, { strict: true });
    // others keep being served
    const topic = `${topicRoot('mps')}/after`;
    const got = collect(bystander);
    await subscribe(bystander, topic, { qos: 1 });
    await publish(bystander, topic, 'still-alive', { qos: 1 });
    await got.waitFor(1);
    await close(bystander);
  });

  it.skipIf(!isEdgemq)('[MQTT-3.2.2-15] v3.1.1: a packet above maxPacketSizeBytes closes the connection', async () => {
    const { client } = await rawConnect(broker.port, { protocolVersion: 4, clientId: uid() });
    client.publish(`${topicRoot('mps')}/big3`, Buffer.alloc(BROKER_MAX_PACKET * 2, 1), { qos: 1 });
    await client.expectClose();
    expect(client.received.filter((p) => p.cmd === 'puback')).toHaveLength(0);
  });

  for (const v of VERSIONS) {
    it(`[MQTT-4.9.0-1] QoS 1 burst larger than any window is delivered completely and in order (${vname(v)})`, async () => {
      const topic = `${topicRoot('burst')}/a`;
      const sub = await connect(broker.url, { protocolVersion: v, ...(v === 5 ? { properties: { receiveMaximum: 5 } } : {}) });
      const got = collect(sub);
      await subscribe(sub, topic, { qos: 1 });
      const pub = await connect(broker.url, { protocolVersion: v });
      const N = 200;
      // one at a time: this broker's Receive Maximum (3 on edgemq) must not be exceeded by the publisher
      for (let i = 0; i < N; i++) await publish(pub, topic, String(i), { qos: 1 });
      await got.waitFor(N, 8000);
      expect(got.messages.map((m) => Number(m.payload))).toEqual(Array.from({ length: N }, (_, i) => i));
      await close(sub);
      await close(pub);
    });
  }
});
