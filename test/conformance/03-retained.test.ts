/**
 * Retained messages: store, deliver on subscribe with RETAIN 1, replace, delete with an empty payload,
 * non-retained publishes leave the store alone, QoS of retained delivery.
 */
import { describe, it, expect } from 'vitest';
import { useConformanceBroker, connect, collect, subscribe, publish, close, topicRoot, vname, VERSIONS } from './helpers/clients.js';

const broker = useConformanceBroker();

describe('03 retained', { timeout: 15000 }, () => {
  for (const v of VERSIONS) {
    it(`[MQTT-3.3.1-5] retained message is stored and delivered on subscribe with RETAIN 1 (${vname(v)})`, async () => {
      const topic = `${topicRoot('ret')}/a`;
      const pub = await connect(broker.url, { protocolVersion: v });
      await publish(pub, topic, 'kept', { qos: 1, retain: true });
      const sub = await connect(broker.url, { protocolVersion: v });
      const got = collect(sub);
      await subscribe(sub, topic, { qos: 1 });
      const [m] = await got.waitFor(1);
      expect(m.topic).toBe(topic);
      expect(m.payload).toBe('kept');
      // 3.1.1 [MQTT-3.3.1-8]; 5.0 retained messages sent for a new subscription carry RETAIN 1
      expect(m.packet.retain).toBe(true);
      expect(m.packet.qos).toBe(1);
      await close(sub);
      await close(pub);
    });

    it(`[MQTT-3.3.1-5] a new retained message replaces the previous one (${vname(v)})`, async () => {
      const topic = `${topicRoot('ret')}/replace`;
      const pub = await connect(broker.url, { protocolVersion: v });
      await publish(pub, topic, 'old', { qos: 1, retain: true });
      await publish(pub, topic, 'new', { qos: 1, retain: true });
      const sub = await connect(broker.url, { protocolVersion: v });
      const got = collect(sub);
      await subscribe(sub, topic, { qos: 1 });
      await got.waitFor(1);
      await got.settle(200);
      expect(got.messages.map((m) => m.payload)).toEqual(['new']);
      await close(sub);
      await close(pub);
    });

    it(`[MQTT-3.3.1-6] a retained message with an empty payload deletes the retained message (${vname(v)})`, async () => {
      const topic = `${topicRoot('ret')}/delete`;
      const pub = await connect(broker.url, { protocolVersion: v });
      await publish(pub, topic, 'doomed', { qos: 1, retain: true });
      // An existing subscriber still receives the empty message as a normal publish.
      const live = await connect(broker.url, { protocolVersion: v });
      const liveGot = collect(live);
      await subscribe(live, topic, { qos: 1 });
      await liveGot.waitFor(1); // the retained 'doomed'
      await publish(pub, topic, '', { qos: 1, retain: true });
      await liveGot.waitFor(2);
      expect(liveGot.messages[1].payload).toBe('');
      // [MQTT-3.3.1-7] the zero-byte message is not stored, and the old one is gone.
      const sub = await connect(broker.url, { protocolVersion: v });
      const got = collect(sub);
      await subscribe(sub, topic, { qos: 1 });
      await got.settle(400);
      expect(got.messages).toHaveLength(0);
      await close(sub);
      await close(live);
      await close(pub);
    });

    it(`[MQTT-3.3.1-8] a publish with RETAIN 0 neither stores nor replaces the retained message (${vname(v)})`, async () => {
      const topic = `${topicRoot('ret')}/keep`;
      const pub = await connect(broker.url, { protocolVersion: v });
      await publish(pub, topic, 'retained', { qos: 1, retain: true });
      await publish(pub, topic, 'transient', { qos: 1, retain: false });
      const sub = await connect(broker.url, { protocolVersion: v });
      const got = collect(sub);
      await subscribe(sub, topic, { qos: 1 });
      await got.waitFor(1);
      await got.settle(200);
      expect(got.messages.map((m) => m.payload)).toEqual(['retained']);
      await close(sub);
      await close(pub);
    });

    it(`[MQTT-3.3.1-9] a retained message forwarded to an existing subscription has RETAIN 0 (${vname(v)})`, async () => {
      // 3.1.1 [MQTT-3.3.1-9]; 5.0 [MQTT-3.3.1-12] with Retain As Published 0 (the default)
      const topic = `${topicRoot('ret')}/live`;
      const sub = await connect(broker.url, { protocolVersion: v });
      const got = collect(sub);
      await subscribe(sub, topic, { qos: 1 });
      const pub = await connect(broker.url, { protocolVersion: v });
      await publish(pub, topic, 'live', { qos: 1, retain: true });
      const [m] = await got.waitFor(1);
      expect(m.packet.retain).toBe(false);
      await publish(pub, topic, '', { qos: 1, retain: true });
      await close(sub);
      await close(pub);
    });

    it(`[MQTT-3.8.4-8] retained messages are delivered at min(stored QoS, granted QoS) and match wildcards (${vname(v)})`, async () => {
      const root = topicRoot('retwild');
      const pub = await connect(broker.url, { protocolVersion: v });
      await publish(pub, `${root}/a`, 'A', { qos: 2, retain: true });
      await publish(pub, `${root}/b/c`, 'BC', { qos: 1, retain: true });
      await publish(pub, `${root}/d`, 'D', { qos: 0, retain: true });
      const sub = await connect(broker.url, { protocolVersion: v });
      const got = collect(sub);
      await subscribe(sub, `${root}/#`, { qos: 1 });
      await got.waitFor(3);
      const byTopic = Object.fromEntries(got.messages.map((m) => [m.topic, m]));
      expect(byTopic[`${root}/a`].packet.qos).toBe(1);
      expect(byTopic[`${root}/b/c`].packet.qos).toBe(1);
      expect(byTopic[`${root}/d`].packet.qos).toBe(0);
      expect(got.messages.every((m) => m.packet.retain)).toBe(true);
      const plus = await connect(broker.url, { protocolVersion: v });
      const plusGot = collect(plus);
      await subscribe(plus, `${root}/+`, { qos: 2 });
      await plusGot.waitFor(2);
      await plusGot.settle(200);
      expect(plusGot.messages.map((m) => m.topic).sort()).toEqual([`${root}/a`, `${root}/d`]);
      await close(sub);
      await close(plus);
      await close(pub);
    });
  }

  it('[MQTT-3.3.1-5] a retained message published by a v5 client is delivered to a v3.1.1 subscriber and vice versa', async () => {
    const root = topicRoot('retx');
    const p5 = await connect(broker.url, { protocolVersion: 5 });
    const p3 = await connect(broker.url, { protocolVersion: 4 });
    await publish(p5, `${root}/from5`, 'five', { qos: 1, retain: true, properties: { userProperties: { a: 'b' } } });
    await publish(p3, `${root}/from3`, 'three', { qos: 1, retain: true });
    const s3 = await connect(broker.url, { protocolVersion: 4 });
    const s5 = await connect(broker.url, { protocolVersion: 5 });
    const g3 = collect(s3);
    const g5 = collect(s5);
    await subscribe(s3, `${root}/#`, { qos: 1 });
    await subscribe(s5, `${root}/#`, { qos: 1 });
    await g3.waitFor(2);
    await g5.waitFor(2);
    expect(g3.messages.map((m) => m.payload).sort()).toEqual(['five', 'three']);
    expect(g5.messages.map((m) => m.payload).sort()).toEqual(['five', 'three']);
    expect(g5.messages.find((m) => m.payload === 'five')?.packet.properties?.userProperties).toEqual({ a: 'b' });
    for (const c of [p5, p3, s3, s5]) await close(c);
  });
});
