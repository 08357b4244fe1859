/**
 * Request/response and message properties (v5): Response Topic, Correlation Data, User Properties (order and
 * repeats), Content Type, Payload Format Indicator are passed through unaltered; cross-version delivery.
 */
import { describe, it, expect } from 'vitest';
import type { IPublishPacket } from 'mqtt-packet';
import { useConformanceBroker, connect, collect, subscribe, publish, close, uid, topicRoot, isEdgemq } from './helpers/clients.js';
import { rawConnect } from './helpers/raw.js';

const broker = useConformanceBroker();

describe('11 request/response and properties', { timeout: 15000 }, () => {
  it('[MQTT-3.3.2-15] [MQTT-3.3.2-16] Response Topic and Correlation Data are forwarded unaltered; a request/response round trip works', async () => {
    const root = topicRoot('rr');
    const responder = await connect(broker.url, { protocolVersion: 5 });
    const requests = collect(responder);
    await subscribe(responder, `${root}/req`, { qos: 1 });
    const requester = await connect(broker.url, { protocolVersion: 5 });
    const responses = collect(requester);
    const responseTopic = `${root}/resp/${uid()}`;
    await subscribe(requester, responseTopic, { qos: 1 });
    const corr = Buffer.from([0x00, 0xff, 0x10, 0x80, 0x7f]);
    await publish(requester, `${root}/req`, 'ping', { qos: 1, properties: { responseTopic, correlationData: corr } });
    const [req] = await requests.waitFor(1);
    expect(req.packet.properties?.responseTopic).toBe(responseTopic);
    expect(Buffer.from(req.packet.properties?.correlationData as Buffer)).toEqual(corr);
    await publish(responder, req.packet.properties!.responseTopic!, 'pong', { qos: 1, properties: { correlationData: req.packet.properties!.correlationData } });
    const [resp] = await responses.waitFor(1);
    expect(resp.payload).toBe('pong');
    expect(Buffer.from(resp.packet.properties?.correlationData as Buffer)).toEqual(corr);
    await close(responder);
    await close(requester);
  });

  for (const qos of [0, 1, 2] as const) {
    it(`[MQTT-3.3.2-17] [MQTT-3.3.2-18] User Properties are forwarded in order, repeated keys included (QoS ${qos})`, async () => {
      const topic = `${topicRoot('up')}/a`;
      const { client } = await rawConnect(broker.port, { protocolVersion: 5, clientId: uid() });
      await client.subscribe([{ topic, qos: 2 }]);
      const pub = await rawConnect(broker.port, { protocolVersion: 5, clientId: uid() });
      const id = pub.client.publish(topic, 'with-props', { qos, properties: { userProperties: { z: 'last-letter', a: ['one', 'two', 'three'], 'ключ': 'значение' } } });
      if (qos === 2) {
        // a broker may forward on PUBLISH or only after PUBREL (4.3.3 method A/B)
        await pub.client.expectPacket('pubrec');
        pub.client.send({ cmd: 'pubrel', messageId: id });
      }
      const p = await client.expectPacket<IPublishPacket>('publish');
      expect(p.properties?.userProperties).toEqual({ z: 'last-letter', a: ['one', 'two', 'three'], 'ключ': 'значение' });
      // order of keys as sent
      expect(Object.keys(p.properties!.userProperties!)).toEqual(['z', 'a', 'ключ']);
      await client.end();
      await pub.client.end();
    });
  }

  it('[MQTT-3.3.2-20] [MQTT-3.3.2-4] Content Type and Payload Format Indicator are forwarded unaltered', async () => {
    const topic = `${topicRoot('ct')}/a`;
    const sub = await connect(broker.url, { protocolVersion: 5 });
    const got = collect(sub);
    await subscribe(sub, topic, { qos: 1 });
    const pub = await connect(broker.url, { protocolVersion: 5 });
    await publish(pub, topic, '{"v":1}', { qos: 1, properties: { contentType: 'application/json; charset=utf-8', payloadFormatIndicator: true } });
    await publish(pub, topic, Buffer.from([0xde, 0xad, 0xbe, 0xef]), { qos: 1, properties: { contentType: 'application/octet-stream', payloadFormatIndicator: false } });
    await got.waitFor(2);
    expect(got.messages[0].packet.properties?.contentType).toBe('application/json; charset=utf-8');
    expect(got.messages[0].packet.properties?.payloadFormatIndicator).toBe(true);
    expect(got.messages[1].packet.properties?.contentType).toBe('application/octet-stream');
    expect(got.messages[1].packet.properties?.payloadFormatIndicator ?? false).toBe(false);
    expect(Buffer.from(got.messages[1].packet.payload as Buffer)).toEqual(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    await close(sub);
    await close(pub);
  });

  it('[MQTT-3.3.2-17] properties also reach subscribers through retained delivery', async () => {
    const topic = `${topicRoot('rp')}/a`;
    const pub = await connect(broker.url, { protocolVersion: 5 });
    await publish(pub, topic, 'state', { qos: 1, retain: true, properties: { contentType: 'text/plain', responseTopic: `${topic}/r`, correlationData: Buffer.from('c1'), userProperties: { k: 'v' } } });
    const sub = await connect(broker.url, { protocolVersion: 5 });
    const got = collect(sub);
    await subscribe(sub, topic, { qos: 1 });
    const [m] = await got.waitFor(1);
    expect(m.packet.properties?.contentType).toBe('text/plain');
    expect(m.packet.properties?.responseTopic).toBe(`${topic}/r`);
    expect(Buffer.from(m.packet.properties?.correlationData as Buffer).toString()).toBe('c1');
    expect(m.packet.properties?.userProperties).toEqual({ k: 'v' });
    await publish(pub, topic, '', { qos: 1, retain: true });
    await close(sub);
    await close(pub);
  });

  it('v5 publisher -> v3.1.1 subscriber gets topic and payload; v3.1.1 publisher -> v5 subscriber gets no properties', async () => {
    const topic = `${topicRoot('xv')}/a`;
    const s3 = await connect(broker.url, { protocolVersion: 4 });
    const s5 = await connect(broker.url, { protocolVersion: 5 });
    const g3 = collect(s3);
    const g5 = collect(s5);
    await subscribe(s3, topic, { qos: 1 });
    await subscribe(s5, topic, { qos: 1 });
    const p5 = await connect(broker.url, { protocolVersion: 5 });
    const p3 = await connect(broker.url, { protocolVersion: 4 });
    await publish(p5, topic, 'from-v5', { qos: 1, properties: { userProperties: { a: 'b' }, contentType: 'text/plain', responseTopic: 'x/y' } });
    await g3.waitFor(1);
    await g5.waitFor(1);
    await publish(p3, topic, 'from-v3', { qos: 1 });
    await g3.waitFor(2);
    await g5.waitFor(2);
    expect(g3.messages.map((m) => [m.topic, m.payload])).toEqual([
      [topic, 'from-v5'],
      [topic, 'from-v3'],
    ]);
    const fromV3 = g5.messages[1].packet.properties ?? {};
    expect(fromV3.userProperties).toBeUndefined();
    expect(fromV3.contentType).toBeUndefined();
    expect(fromV3.responseTopic).toBeUndefined();
    for (const c of [s3, s5, p5, p3]) await close(c);
  });

  it.skipIf(!isEdgemq)('[MQTT-3.3.2-4] Payload Format Indicator 1 with invalid UTF-8 is refused with 0x99 Payload format invalid', async () => {
    // The receiver MAY validate (v5 3.3.2.3.2); edgemq does (issue 2): PUBACK 0x99 or DISCONNECT 0x99.
    const topic = `${topicRoot('pfi')}/a`;
    const watcher = await connect(broker.url, { protocolVersion: 5 });
    const got = collect(watcher);
    await subscribe(watcher, topic, { qos: 1 });
    const { client } = await rawConnect(broker.port, { protocolVersion: 5, clientId: uid() });
    client.publish(topic, Buffer.from([0xc3, 0x28, 0xff]), { qos: 1, properties: { payloadFormatIndicator: true } });
    const p = await client.nextPacket().catch(() => undefined);
    if (p?.cmd === 'puback') expect((p as { reasonCode?: number }).reasonCode).toBe(0x99);
    else expect((p as { reasonCode?: number } | undefined)?.reasonCode).toBe(0x99);
    await got.settle(300);
    expect(got.messages).toHaveLength(0);
    await client.end();
    await close(watcher);
  });
});
