/** Tests in this file only wait (expiry, keep-alive), are independent, and run concurrently to keep the suite short. */
/**
 * Message Expiry Interval (v5): queued messages expire, delivered messages carry the remaining lifetime,
 * retained messages expire; edgemq caps for message and session expiry.
 */
import { describe, it, expect } from 'vitest';
import type { IPublishPacket } from 'mqtt-packet';
import { useConformanceBroker, connect, connectWithAck, connectCollect, collect, subscribe, publish, close, uid, topicRoot, sleep, isEdgemq } from './helpers/clients.js';
import { rawConnect } from './helpers/raw.js';

const broker = useConformanceBroker({ clients: { maxSessionExpirySeconds: 30, maxMessageExpirySeconds: 3600 } });

async function offlineSubscriber(version: 4 | 5, topic: string) {
  const id = uid('exp');
  const opts = version === 5 ? { protocolVersion: 5 as const, clientId: id, clean: true, properties: { sessionExpiryInterval: 30 } } : { protocolVersion: 4 as const, clientId: id, clean: false };
  const c = await connect(broker.url, opts);
  await subscribe(c, topic, { qos: 1 });
  await close(c);
  return { id, reconnect: () => connectCollect(broker.url, { ...opts, clean: false }) };
}

describe.concurrent('06 message expiry', { timeout: 15000 }, () => {
  it('[MQTT-3.3.2-5] a queued message for an offline session is discarded once its Message Expiry Interval passed', async () => {
    const topic = `${topicRoot('exp')}/q`;
    const sub = await offlineSubscriber(5, topic);
    const pub = await connect(broker.url, { protocolVersion: 5 });
    await publish(pub, topic, 'short-lived', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await publish(pub, topic, 'durable', { qos: 1 });
    await sleep(2200);
    const r = await sub.reconnect();
    expect(r.connack.sessionPresent).toBe(true);
    await r.got.waitFor(1);
    await r.got.settle(300);
    expect(r.got.messages.map((m) => m.payload)).toEqual(['durable']);
    await close(r.client);
    await close(pub);
  });

  it('[MQTT-3.3.2-5] an expired message queued for an offline v3.1.1 session is discarded too', async () => {
    const topic = `${topicRoot('exp')}/q3`;
    const sub = await offlineSubscriber(4, topic);
    const pub = await connect(broker.url, { protocolVersion: 5 });
    await publish(pub, topic, 'short-lived', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await publish(pub, topic, 'durable', { qos: 1 });
    await sleep(2200);
    const r = await sub.reconnect();
    await r.got.waitFor(1);
    await r.got.settle(300);
    expect(r.got.messages.map((m) => m.payload)).toEqual(['durable']);
    await close(r.client);
    await close(pub);
  });

  it('[MQTT-3.3.2-6] the delivered Message Expiry Interval is the received value minus the time spent waiting', async () => {
    const topic = `${topicRoot('exp')}/dec`;
    const sub = await offlineSubscriber(5, topic);
    const pub = await connect(broker.url, { protocolVersion: 5 });
    await publish(pub, topic, 'aging', { qos: 1, properties: { messageExpiryInterval: 20 } });
    await sleep(2100);
    const r = await sub.reconnect();
    const [m] = await r.got.waitFor(1);
    const left = m.packet.properties?.messageExpiryInterval;
    expect(left).toBeDefined();
    expect(left).toBeLessThanOrEqual(19);
    expect(left).toBeGreaterThan(0);
    await close(r.client);
    await close(pub);
  });

  it('[MQTT-3.3.2-6] a live delivery carries the Message Expiry Interval (never more than published)', async () => {
    const topic = `${topicRoot('exp')}/live`;
    const sub = await connect(broker.url, { protocolVersion: 5 });
    const got = collect(sub);
    await subscribe(sub, topic, { qos: 1 });
    const pub = await connect(broker.url, { protocolVersion: 5 });
    await publish(pub, topic, 'x', { qos: 1, properties: { messageExpiryInterval: 100 } });
    await publish(pub, topic, 'y', { qos: 1 });
    await got.waitFor(2);
    const left = got.messages[0].packet.properties?.messageExpiryInterval;
    expect(left).toBeGreaterThan(90);
    expect(left).toBeLessThanOrEqual(100);
    // no expiry published -> no expiry delivered
    expect(got.messages[1].packet.properties?.messageExpiryInterval).toBeUndefined();
    await close(sub);
    await close(pub);
  });

  it('[MQTT-3.3.2-5] a retained message is no longer delivered after its Message Expiry Interval', async () => {
    const topic = `${topicRoot('exp')}/ret`;
    const pub = await connect(broker.url, { protocolVersion: 5 });
    await publish(pub, topic, 'fleeting', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } });
    await sleep(2200);
    const sub = await connect(broker.url, { protocolVersion: 5 });
    const got = collect(sub);
    await subscribe(sub, topic, { qos: 1 });
    await got.settle(400);
    expect(got.messages).toHaveLength(0);
    await close(sub);
    await close(pub);
  });

  it('[MQTT-3.3.2-6] a retained message is delivered with its remaining Message Expiry Interval', async () => {
    const topic = `${topicRoot('exp')}/retdec`;
    const pub = await connect(broker.url, { protocolVersion: 5 });
    await publish(pub, topic, 'aging-retained', { qos: 1, retain: true, properties: { messageExpiryInterval: 30 } });
    await sleep(2100);
    const sub = await connect(broker.url, { protocolVersion: 5 });
    const got = collect(sub);
    await subscribe(sub, topic, { qos: 1 });
    const [m] = await got.waitFor(1);
    const left = m.packet.properties?.messageExpiryInterval;
    expect(left).toBeLessThanOrEqual(29);
    expect(left).toBeGreaterThan(0);
    await publish(pub, topic, '', { qos: 1, retain: true });
    await close(sub);
    await close(pub);
  });

  it.skipIf(!isEdgemq)('[MQTT-3.2.2.3.2] edgemq caps Session Expiry Interval at maxSessionExpirySeconds and says so in CONNACK', async () => {
    // v5 3.2.2.3.2: the server returns Session Expiry Interval in CONNACK when it uses a different value.
    const r = await connectWithAck(broker.url, { protocolVersion: 5, clientId: uid(), properties: { sessionExpiryInterval: 100000 } });
    expect(r.connack.properties?.sessionExpiryInterval).toBe(30);
    await close(r.client);
  });

  it.skipIf(!isEdgemq)('edgemq caps Message Expiry Interval at maxMessageExpirySeconds', async () => {
    const topic = `${topicRoot('exp')}/cap`;
    const { client } = await rawConnect(broker.port, { protocolVersion: 5, clientId: uid() });
    await client.subscribe([{ topic, qos: 1 }]);
    const pub = await connect(broker.url, { protocolVersion: 5 });
    await publish(pub, topic, 'capped', { qos: 1, properties: { messageExpiryInterval: 1_000_000 } });
    const p = await client.expectPacket<IPublishPacket>('publish');
    expect(p.properties?.messageExpiryInterval).toBeLessThanOrEqual(3600);
    await client.end();
    await close(pub);
  });
});
