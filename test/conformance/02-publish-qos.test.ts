/**
 * PUBLISH at QoS 0/1/2 in both directions, QoS downgrade, QoS 2 exactly-once handshake, ordering, and
 * re-delivery of unacknowledged outbound messages on reconnect.
 */
import { describe, it, expect } from 'vitest';
import type { IPublishPacket, IPubrecPacket, IPubcompPacket, IPubackPacket, IPubrelPacket } from 'mqtt-packet';
import { useConformanceBroker, connect, collect, subscribe, publish, close, uid, topicRoot, vname, VERSIONS, sleep } from './helpers/clients.js';
import { rawConnect } from './helpers/raw.js';

const broker = useConformanceBroker();

const QOS = [0, 1, 2] as const;

/**
 * Session-keeping connect options for a raw client of either version: v5 Session Expiry 60 s (clean start as
 * asked); v3.1.1 always Clean Session 0, since a clean v3 session ends with its connection (ids are unique).
 */
function persistent(v: 4 | 5, clientId: string, clean: boolean) {
  return v === 5
    ? { protocolVersion: v, clientId, clean, properties: { sessionExpiryInterval: 60 } }
    : { protocolVersion: v, clientId, clean: false };
}

describe('02 publish and QoS', { timeout: 15000 }, () => {
  for (const v of VERSIONS) {
    for (const pubQos of QOS) {
      for (const subQos of QOS) {
        const expected = Math.min(pubQos, subQos);
        it(`[MQTT-3.8.4-8] publish QoS ${pubQos} to subscription QoS ${subQos} is delivered at QoS ${expected} (${vname(v)})`, async () => {
          const topic = `${topicRoot('qos')}/x`;
          const sub = await connect(broker.url, { protocolVersion: v });
          const pub = await connect(broker.url, { protocolVersion: v });
          const got = collect(sub);
          const granted = await subscribe(sub, topic, { qos: subQos });
          expect(granted).toEqual([subQos]);
          await publish(pub, topic, `hello-${pubQos}`, { qos: pubQos });
          const [m] = await got.waitFor(1);
          expect(m.topic).toBe(topic);
          expect(m.payload).toBe(`hello-${pubQos}`);
          expect(m.packet.qos).toBe(expected);
          await got.settle(150);
          expect(got.messages).toHaveLength(1);
          await close(sub);
          await close(pub);
        });
      }
    }

    it(`[MQTT-4.3.2-1] QoS 1 PUBLISH is acknowledged with PUBACK carrying its packet id (${vname(v)})`, async () => {
      const { client } = await rawConnect(broker.port, { protocolVersion: v, clientId: uid() });
      const id = client.publish(`${topicRoot('q1')}/a`, 'x', { qos: 1, messageId: 4242 });
      const ack = await client.expectPacket<IPubackPacket>('puback');
      expect(ack.messageId).toBe(id);
      if (v === 5) expect([0x00, 0x10]).toContain(ack.reasonCode ?? 0);
      await client.end();
    });

    it(`[MQTT-4.3.3-10] QoS 2 inbound: PUBREC, PUBREL, PUBCOMP; a duplicate before PUBREL is not delivered twice (${vname(v)})`, async () => {
      const topic = `${topicRoot('q2in')}/a`;
      const sub = await connect(broker.url, { protocolVersion: v });
      const got = collect(sub);
      await subscribe(sub, topic, { qos: 2 });
      const { client } = await rawConnect(broker.port, { protocolVersion: v, clientId: uid() });
      client.publish(topic, 'once', { qos: 2, messageId: 7 });
      const rec = await client.expectPacket<IPubrecPacket>('pubrec');
      expect(rec.messageId).toBe(7);
      client.publish(topic, 'once', { qos: 2, messageId: 7, dup: true });
      const rec2 = await client.expectPacket<IPubrecPacket>('pubrec');
      expect(rec2.messageId).toBe(7);
      client.send({ cmd: 'pubrel', messageId: 7 });
      const comp = await client.expectPacket<IPubcompPacket>('pubcomp');
      expect(comp.messageId).toBe(7);
      await got.waitFor(1);
      await got.settle(300);
      expect(got.messages.map((m) => m.payload)).toEqual(['once']);
      await client.end();
      await close(sub);
    });

    it(`[MQTT-4.3.3-3] QoS 2 outbound: broker sends PUBREL after PUBREC and completes on PUBCOMP (${vname(v)})`, async () => {
      const topic = `${topicRoot('q2out')}/a`;
      const { client } = await rawConnect(broker.port, { protocolVersion: v, clientId: uid() });
      await client.subscribe([{ topic, qos: 2 }]);
      const pub = await connect(broker.url, { protocolVersion: v });
      await publish(pub, topic, 'exactly-once', { qos: 2 });
      const p = await client.expectPacket<IPublishPacket>('publish');
      expect(p.qos).toBe(2);
      expect(p.dup).toBe(false);
      expect(p.payload.toString()).toBe('exactly-once');
      client.send({ cmd: 'pubrec', messageId: p.messageId });
      const rel = await client.expectPacket<IPubrelPacket>('pubrel');
      expect(rel.messageId).toBe(p.messageId);
      client.send({ cmd: 'pubcomp', messageId: p.messageId });
      await client.expectNoPacket('publish', 300);
      await client.end();
      await close(pub);
    });

    it(`[MQTT-4.6.0-6] QoS 1 messages from one publisher on one topic arrive in order (${vname(v)})`, async () => {
      const topic = `${topicRoot('order')}/a`;
      const sub = await connect(broker.url, { protocolVersion: v });
      const got = collect(sub);
      await subscribe(sub, topic, { qos: 1 });
      const pub = await connect(broker.url, { protocolVersion: v });
      const n = 50;
      await Promise.all(Array.from({ length: n }, (_, i) => publish(pub, topic, String(i), { qos: 1 })));
      await got.waitFor(n);
      expect(got.messages.map((m) => Number(m.payload))).toEqual(Array.from({ length: n }, (_, i) => i));
      await close(sub);
      await close(pub);
    });

    it(`[MQTT-4.4.0-1] unacknowledged QoS 1 PUBLISH is re-sent with DUP and the same packet id on reconnect (${vname(v)})`, async () => {
      const topic = `${topicRoot('retry1')}/a`;
      const id = uid('retry1');
      const first = await rawConnect(broker.port, persistent(v, id, true));
      await first.client.subscribe([{ topic, qos: 1 }]);
      const pub = await connect(broker.url, { protocolVersion: v });
      await publish(pub, topic, 'm1', { qos: 1 });
      const p1 = await first.client.expectPacket<IPublishPacket>('publish');
      expect(p1.qos).toBe(1);
      first.client.destroy(); // withhold PUBACK
      await sleep(100);
      const second = await rawConnect(broker.port, persistent(v, id, false));
      expect(second.connack.sessionPresent).toBe(true);
      const p2 = await second.client.expectPacket<IPublishPacket>('publish');
      expect(p2.dup).toBe(true);
      expect(p2.messageId).toBe(p1.messageId);
      expect(p2.payload.toString()).toBe('m1');
      second.client.puback(p2.messageId!);
      await second.client.expectNoPacket('publish', 300);
      second.client.disconnect();
      await second.client.end();
      // acknowledged: not re-sent again
      const third = await rawConnect(broker.port, persistent(v, id, false));
      await third.client.expectNoPacket('publish', 300);
      third.client.disconnect();
      await third.client.end();
      await close(pub);
    });

    it(`[MQTT-4.4.0-1] unacknowledged QoS 2 PUBLISH (no PUBREC) is re-sent with DUP and the same packet id on reconnect (${vname(v)})`, async () => {
      const topic = `${topicRoot('retry2')}/a`;
      const id = uid('retry2');
      const first = await rawConnect(broker.port, persistent(v, id, true));
      await first.client.subscribe([{ topic, qos: 2 }]);
      const pub = await connect(broker.url, { protocolVersion: v });
      await publish(pub, topic, 'm2', { qos: 2 });
      const p1 = await first.client.expectPacket<IPublishPacket>('publish');
      expect(p1.qos).toBe(2);
      first.client.destroy();
      await sleep(100);
      const second = await rawConnect(broker.port, persistent(v, id, false));
      expect(second.connack.sessionPresent).toBe(true);
      const p2 = await second.client.expectPacket<IPublishPacket>('publish');
      expect(p2.dup).toBe(true);
      expect(p2.messageId).toBe(p1.messageId);
      second.client.send({ cmd: 'pubrec', messageId: p2.messageId });
      await second.client.expectPacket('pubrel');
      second.client.send({ cmd: 'pubcomp', messageId: p2.messageId });
      second.client.disconnect();
      await second.client.end();
      await close(pub);
    });

    it(`[MQTT-4.4.0-1] after PUBREC, an unacknowledged PUBREL is re-sent with the same packet id on reconnect (${vname(v)})`, async () => {
      const topic = `${topicRoot('retry2rel')}/a`;
      const id = uid('retry2rel');
      const first = await rawConnect(broker.port, persistent(v, id, true));
      await first.client.subscribe([{ topic, qos: 2 }]);
      const pub = await connect(broker.url, { protocolVersion: v });
      await publish(pub, topic, 'm3', { qos: 2 });
      const p1 = await first.client.expectPacket<IPublishPacket>('publish');
      first.client.send({ cmd: 'pubrec', messageId: p1.messageId });
      await first.client.expectPacket('pubrel');
      first.client.destroy(); // withhold PUBCOMP
      await sleep(100);
      const second = await rawConnect(broker.port, persistent(v, id, false));
      expect(second.connack.sessionPresent).toBe(true);
      const rel = await second.client.expectPacket<IPubrelPacket>('pubrel');
      expect(rel.messageId).toBe(p1.messageId);
      // The message itself must not be delivered again.
      await second.client.expectNoPacket('publish', 300);
      second.client.send({ cmd: 'pubcomp', messageId: rel.messageId });
      second.client.disconnect();
      await second.client.end();
      await close(pub);
    });
  }
});
