/**
 * Subscription identifiers, No Local, Retain As Published, Retain Handling 0/1/2 (v5), SUBACK/UNSUBACK codes and
 * re-subscription behaviour (both versions).
 */
import { describe, it, expect } from 'vitest';
import type { IPublishPacket, IUnsubackPacket } from 'mqtt-packet';
import { useConformanceBroker, connect, collect, subscribe, publish, close, uid, topicRoot, vname, VERSIONS, isEdgemq } from './helpers/clients.js';
import { rawConnect } from './helpers/raw.js';

const broker = useConformanceBroker();

function ids(p: IPublishPacket): number[] {
  const s = p.properties?.subscriptionIdentifier;
  return s === undefined ? [] : Array.isArray(s) ? s : [s];
}

describe('09 subscription options', { timeout: 15000 }, () => {
  it('[MQTT-3.3.4-3] overlapping subscriptions with identifiers: every matching Subscription Identifier is sent', async () => {
    const root = topicRoot('subid');
    const { client } = await rawConnect(broker.port, { protocolVersion: 5, clientId: uid() });
    await client.subscribe([{ topic: `${root}/+`, qos: 1 }], { subscriptionIdentifier: 1 });
    await client.subscribe([{ topic: `${root}/a`, qos: 1 }], { subscriptionIdentifier: 2 });
    await client.subscribe([{ topic: `${root}/#`, qos: 1 }]); // no identifier
    const pub = await connect(broker.url, { protocolVersion: 5 });
    await publish(pub, `${root}/a`, 'x', { qos: 1 });
    const copies = (await client.collectFor('publish', 500)) as IPublishPacket[];
    expect(copies.length).toBeGreaterThanOrEqual(1);
    const all = copies.flatMap(ids).sort();
    // [MQTT-3.3.4-4] single copy: all ids; [MQTT-3.3.4-5] several copies: each carries its own
    expect(all).toEqual([1, 2]);
    if (isEdgemq) {
      // edgemq's documented choice: one copy per session carrying every identifier
      expect(copies).toHaveLength(1);
      expect(ids(copies[0]).sort()).toEqual([1, 2]);
    }
    await client.end();
    await close(pub);
  });

  it('[MQTT-3.3.4-3] Subscription Identifier is sent with retained messages and not for subscriptions without one', async () => {
    const root = topicRoot('subid');
    const pub = await connect(broker.url, { protocolVersion: 5 });
    await publish(pub, `${root}/r`, 'retained', { qos: 1, retain: true });
    const { client } = await rawConnect(broker.port, { protocolVersion: 5, clientId: uid() });
    await client.subscribe([{ topic: `${root}/r`, qos: 1 }], { subscriptionIdentifier: 77 });
    const r = await client.expectPacket<IPublishPacket>('publish');
    expect(ids(r)).toEqual([77]);
    await client.subscribe([{ topic: `${root}/plain`, qos: 0 }]);
    await publish(pub, `${root}/plain`, 'p', { qos: 0 });
    const p = await client.expectPacket<IPublishPacket>('publish');
    expect(ids(p)).toEqual([]);
    await publish(pub, `${root}/r`, '', { qos: 1, retain: true });
    await client.end();
    await close(pub);
  });

  it('[MQTT-3.8.4-3] re-subscribing replaces the subscription, including its Subscription Identifier', async () => {
    const root = topicRoot('subid');
    const { client } = await rawConnect(broker.port, { protocolVersion: 5, clientId: uid() });
    await client.subscribe([{ topic: `${root}/x`, qos: 1 }], { subscriptionIdentifier: 5 });
    await client.subscribe([{ topic: `${root}/x`, qos: 1 }], { subscriptionIdentifier: 6 });
    const pub = await connect(broker.url, { protocolVersion: 5 });
    await publish(pub, `${root}/x`, 'once', { qos: 1 });
    const copies = (await client.collectFor('publish', 400)) as IPublishPacket[];
    expect(copies).toHaveLength(1);
    expect(ids(copies[0])).toEqual([6]);
    await client.end();
    await close(pub);
  });

  it('[MQTT-3.8.3-3] No Local: a client does not receive its own publications', async () => {
    const topic = `${topicRoot('nl')}/a`;
    const self = await connect(broker.url, { protocolVersion: 5 });
    const selfGot = collect(self);
    await subscribe(self, topic, { qos: 1, nl: true });
    const other = await connect(broker.url, { protocolVersion: 5 });
    const otherGot = collect(other);
    await subscribe(other, topic, { qos: 1, nl: false });
    await publish(self, topic, 'from-self', { qos: 1 });
    await publish(other, topic, 'from-other', { qos: 1 });
    await otherGot.waitFor(2);
    await selfGot.waitFor(1);
    await selfGot.settle(200);
    expect(selfGot.messages.map((m) => m.payload)).toEqual(['from-other']);
    expect(otherGot.messages.map((m) => m.payload).sort()).toEqual(['from-other', 'from-self']);
    await close(self);
    await close(other);
  });

  it('[MQTT-3.3.1-12] Retain As Published 0: live retained messages are forwarded with RETAIN 0', async () => {
    const topic = `${topicRoot('rap')}/0`;
    const sub = await connect(broker.url, { protocolVersion: 5 });
    const got = collect(sub);
    await subscribe(sub, topic, { qos: 1, rap: false });
    const pub = await connect(broker.url, { protocolVersion: 5 });
    await publish(pub, topic, 'r', { qos: 1, retain: true });
    const [m] = await got.waitFor(1);
    expect(m.packet.retain).toBe(false);
    await publish(pub, topic, '', { qos: 1, retain: true });
    await close(sub);
    await close(pub);
  });

  it('[MQTT-3.3.1-13] Retain As Published 1: live messages keep the RETAIN flag they were published with', async () => {
    const topic = `${topicRoot('rap')}/1`;
    const sub = await connect(broker.url, { protocolVersion: 5 });
    const got = collect(sub);
    await subscribe(sub, topic, { qos: 1, rap: true });
    const pub = await connect(broker.url, { protocolVersion: 5 });
    await publish(pub, topic, 'retained', { qos: 1, retain: true });
    await publish(pub, topic, 'plain', { qos: 1, retain: false });
    await got.waitFor(2);
    expect(got.messages.map((m) => [m.payload, m.packet.retain])).toEqual([
      ['retained', true],
      ['plain', false],
    ]);
    await publish(pub, topic, '', { qos: 1, retain: true });
    await close(sub);
    await close(pub);
  });

  it('[MQTT-3.3.1-9] Retain Handling 0: retained messages are sent on every subscribe, including a re-subscribe', async () => {
    const topic = `${topicRoot('rh')}/0`;
    const pub = await connect(broker.url, { protocolVersion: 5 });
    await publish(pub, topic, 'R', { qos: 1, retain: true });
    const sub = await connect(broker.url, { protocolVersion: 5 });
    const got = collect(sub);
    await subscribe(sub, topic, { qos: 1, rh: 0 });
    await got.waitFor(1);
    await subscribe(sub, topic, { qos: 1, rh: 0 });
    await got.waitFor(2);
    expect(got.messages.every((m) => m.payload === 'R' && m.packet.retain)).toBe(true);
    await close(sub);
    await close(pub);
  });

  it('[MQTT-3.3.1-10] Retain Handling 1: retained messages are sent only if the subscription did not exist', async () => {
    const topic = `${topicRoot('rh')}/1`;
    const pub = await connect(broker.url, { protocolVersion: 5 });
    await publish(pub, topic, 'R', { qos: 1, retain: true });
    const sub = await connect(broker.url, { protocolVersion: 5 });
    const got = collect(sub);
    await subscribe(sub, topic, { qos: 1, rh: 1 });
    await got.waitFor(1);
    await subscribe(sub, topic, { qos: 1, rh: 1 });
    await got.settle(400);
    expect(got.messages).toHaveLength(1);
    await close(sub);
    await close(pub);
  });

  it('[MQTT-3.3.1-11] Retain Handling 2: retained messages are not sent on subscribe', async () => {
    const topic = `${topicRoot('rh')}/2`;
    const pub = await connect(broker.url, { protocolVersion: 5 });
    await publish(pub, topic, 'R', { qos: 1, retain: true });
    const sub = await connect(broker.url, { protocolVersion: 5 });
    const got = collect(sub);
    await subscribe(sub, topic, { qos: 1, rh: 2 });
    await got.settle(400);
    expect(got.messages).toHaveLength(0);
    // live messages still flow
    await publish(pub, topic, 'live', { qos: 1 });
    await got.waitFor(1);
    expect(got.messages[0].payload).toBe('live');
    await close(sub);
    await close(pub);
  });

  // MQTT 5 3.8.3.1: "It is a Protocol Error to send a Retain Handling value of 3" (0x82, not 0x81).
  it('[MQTT 5 3.8.3.1] Retain Handling 3 is a Protocol Error (DISCONNECT 0x82)', async () => {
    const { client } = await rawConnect(broker.port, { protocolVersion: 5, clientId: uid() });
    // SUBSCRIBE id 1, no properties, filter "a", options 0x30 (retain handling 3)
    client.sendRaw([0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61, 0x30]);
    await client.expectDisconnect(0x82, { strict: isEdgemq });
  });

  for (const v of VERSIONS) {
    it(`[MQTT-3.8.4-3] re-subscribe replaces the subscription (new QoS) and re-sends retained messages (${vname(v)})`, async () => {
      const topic = `${topicRoot('resub')}/a`;
      const pub = await connect(broker.url, { protocolVersion: v });
      await publish(pub, topic, 'R', { qos: 2, retain: true });
      const sub = await connect(broker.url, { protocolVersion: v });
      const got = collect(sub);
      expect(await subscribe(sub, topic, { qos: 0 })).toEqual([0]);
      await got.waitFor(1);
      expect(got.messages[0].packet.qos).toBe(0);
      expect(await subscribe(sub, topic, { qos: 2 })).toEqual([2]);
      await got.waitFor(2);
      expect(got.messages[1].packet.qos).toBe(2);
      got.clear();
      await publish(pub, topic, 'live', { qos: 2 });
      await got.waitFor(1);
      await got.settle(200);
      expect(got.messages).toHaveLength(1); // one subscription, not two
      expect(got.messages[0].packet.qos).toBe(2);
      await close(sub);
      await close(pub);
    });

    it(`[MQTT-3.10.4-1] after UNSUBSCRIBE no further messages are delivered for that filter (${vname(v)})`, async () => {
      const topic = `${topicRoot('unsub')}/a`;
      const { client } = await rawConnect(broker.port, { protocolVersion: v, clientId: uid() });
      await client.subscribe([{ topic, qos: 1 }]);
      const messageId = client.packetId();
      client.send({ cmd: 'unsubscribe', messageId, unsubscriptions: [topic, `${topic}/never`] });
      const ack = await client.expectPacket<IUnsubackPacket>('unsuback');
      expect(ack.messageId).toBe(messageId);
      if (v === 5) {
        const codes = (ack as unknown as { reasonCode?: number[]; granted?: number[] }).granted ?? (ack as unknown as { reasonCode: number[] }).reasonCode;
        expect(codes[0]).toBe(0x00);
        // [MQTT-3.11.3-1] 0x11 No subscription existed; Mosquitto 2.0.11 answers 0x00 for it.
        if (isEdgemq) expect(codes[1]).toBe(0x11);
      }
      const pub = await connect(broker.url, { protocolVersion: v });
      await publish(pub, topic, 'x', { qos: 1 });
      await client.expectNoPacket('publish', 400);
      await client.end();
      await close(pub);
    });
  }
});
