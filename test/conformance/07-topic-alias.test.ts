/**
 * Topic aliases (v5), client -> broker and broker -> client.
 */
import { describe, it, expect } from 'vitest';
import type { IPublishPacket } from 'mqtt-packet';
import { useConformanceBroker, connect, collect, subscribe, publish, close, uid, topicRoot, isEdgemq } from './helpers/clients.js';
import { rawConnect } from './helpers/raw.js';

const ALIAS_MAX = 5;
const broker = useConformanceBroker({ edgemq: { topicAliasMaximum: ALIAS_MAX, outboundTopicAliasMaximum: 10 } });

async function subscriber(filter: string) {
  const c = await connect(broker.url, { protocolVersion: 5 });
  const got = collect(c);
  await subscribe(c, filter, { qos: 1 });
  return { c, got };
}

describe('07 topic alias', { timeout: 15000 }, () => {
  it('[MQTT-3.2.2-17] CONNACK advertises a Topic Alias Maximum', async () => {
    const { client, connack } = await rawConnect(broker.port, { protocolVersion: 5, clientId: uid() });
    const max = connack.properties?.topicAliasMaximum;
    expect(max).toBeGreaterThan(0);
    if (isEdgemq) expect(max).toBe(ALIAS_MAX);
    await client.end();
  });

  it('[MQTT-3.3.2-12] client->broker: alias set with a topic, then used with an empty topic, delivers the full topic', async () => {
    const root = topicRoot('alias');
    const { c, got } = await subscriber(`${root}/#`);
    const { client } = await rawConnect(broker.port, { protocolVersion: 5, clientId: uid() });
    client.publish(`${root}/one`, 'first', { qos: 1, properties: { topicAlias: 1 } });
    await client.expectPacket('puback');
    client.publish('', 'second', { qos: 1, properties: { topicAlias: 1 } });
    await client.expectPacket('puback');
    // remap alias 1 to another topic
    client.publish(`${root}/two`, 'third', { qos: 0, properties: { topicAlias: 1 } });
    client.publish('', 'fourth', { qos: 1, properties: { topicAlias: 1 } });
    await client.expectPacket('puback');
    await got.waitFor(4);
    expect(got.messages.map((m) => [m.topic, m.payload])).toEqual([
      [`${root}/one`, 'first'],
      [`${root}/one`, 'second'],
      [`${root}/two`, 'third'],
      [`${root}/two`, 'fourth'],
    ]);
    // the alias is not forwarded to a subscriber that did not ask for aliases
    expect(got.messages.every((m) => m.packet.properties?.topicAlias === undefined)).toBe(true);
    await client.end();
    await close(c);
  });

  it('[MQTT-3.3.2-8] Topic Alias 0 is answered with DISCONNECT 0x94 Topic Alias invalid', async () => {
    const { client } = await rawConnect(broker.port, { protocolVersion: 5, clientId: uid() });
    client.publish(`${topicRoot('alias')}/zero`, 'x', { qos: 0, properties: { topicAlias: 0 } });
    // The reason-code table names 0x94 for an invalid alias (EMQX and HiveMQ use it for 0 too); edgemq's choice.
    // Mosquitto 2.0.11 answers 0x81 Malformed Packet, tolerated on that target only.
    await client.expectDisconnect(isEdgemq ? 0x94 : [0x94, 0x81], { strict: true });
  });

  it('[MQTT-3.3.2-9] Topic Alias above the advertised maximum is answered with DISCONNECT 0x94', async () => {
    const { client, connack } = await rawConnect(broker.port, { protocolVersion: 5, clientId: uid() });
    const max = connack.properties?.topicAliasMaximum ?? 0;
    client.publish(`${topicRoot('alias')}/big`, 'x', { qos: 0, properties: { topicAlias: max + 1 } });
    await client.expectDisconnect(0x94, { strict: true });
  });

  it('[MQTT-3.3.2-12] an empty topic with an unknown Topic Alias is a protocol error (DISCONNECT 0x82)', async () => {
    const { client } = await rawConnect(broker.port, { protocolVersion: 5, clientId: uid() });
    client.publish('', 'x', { qos: 0, properties: { topicAlias: 2 } });
    // Protocol Error per 3.3.2.3.4 (no mapping); Mosquitto closes without a DISCONNECT.
    await client.expectDisconnect(0x82, { strict: isEdgemq });
  });

  it('[MQTT-3.3.2-7] topic alias mappings do not carry over to a new network connection', async () => {
    const root = topicRoot('alias');
    const id = uid();
    const a = await rawConnect(broker.port, { protocolVersion: 5, clientId: id });
    a.client.publish(`${root}/a`, 'x', { qos: 1, properties: { topicAlias: 1 } });
    await a.client.expectPacket('puback');
    a.client.disconnect();
    await a.client.end();
    const b = await rawConnect(broker.port, { protocolVersion: 5, clientId: id });
    b.client.publish('', 'y', { qos: 1, properties: { topicAlias: 1 } });
    await b.client.expectDisconnect(0x82, { strict: isEdgemq });
  });

  it('[MQTT-3.1.2-27] broker sends no Topic Alias to a client that did not advertise Topic Alias Maximum', async () => {
    const root = topicRoot('alias');
    const { client } = await rawConnect(broker.port, { protocolVersion: 5, clientId: uid() });
    await client.subscribe([{ topic: `${root}/#`, qos: 0 }]);
    const pub = await connect(broker.url, { protocolVersion: 5 });
    for (let i = 0; i < 6; i++) await publish(pub, `${root}/t${i % 2}`, String(i), { qos: 1 });
    const packets: IPublishPacket[] = [];
    for (let i = 0; i < 6; i++) packets.push(await client.expectPacket<IPublishPacket>('publish'));
    for (const p of packets) {
      expect(p.properties?.topicAlias).toBeUndefined();
      expect(p.topic.startsWith(root)).toBe(true);
    }
    await client.end();
    await close(pub);
  });

  it('[MQTT-3.1.2-26] broker->client: aliases never exceed the client Topic Alias Maximum and resolve to the right topics', async () => {
    const root = topicRoot('alias');
    const { client } = await rawConnect(broker.port, { protocolVersion: 5, clientId: uid(), properties: { topicAliasMaximum: 2 } });
    await client.subscribe([{ topic: `${root}/#`, qos: 1 }]);
    const pub = await connect(broker.url, { protocolVersion: 5 });
    const sent: string[] = [];
    for (let i = 0; i < 12; i++) {
      const t = `${root}/topic-${i % 3}`;
      sent.push(t);
      await publish(pub, t, String(i), { qos: 1 });
    }
    const map = new Map<number, string>();
    const resolved: string[] = [];
    let aliasOnly = 0;
    for (let i = 0; i < sent.length; i++) {
      const p = await client.expectPacket<IPublishPacket>('publish');
      client.puback(p.messageId!);
      const alias = p.properties?.topicAlias;
      let topic = p.topic;
      if (alias !== undefined) {
        expect(alias).toBeGreaterThanOrEqual(1);
        expect(alias).toBeLessThanOrEqual(2);
        if (topic) map.set(alias, topic);
        else {
          aliasOnly++;
          expect(map.has(alias)).toBe(true);
          topic = map.get(alias)!;
        }
      } else {
        expect(topic.length).toBeGreaterThan(0);
      }
      resolved.push(topic);
      expect(p.payload.toString()).toBe(String(i));
    }
    expect(resolved).toEqual(sent);
    // edgemq assigns outbound aliases (documented); a broker may legitimately choose not to (Mosquitto 2.0 does not).
    if (isEdgemq) expect(aliasOnly).toBeGreaterThan(0);
    await client.end();
    await close(pub);
  });

  it('[MQTT-3.3.2-12] MQTT.js with topicAliasMaximum receives every message with its correct topic', async () => {
    const root = topicRoot('alias');
    const c = await connect(broker.url, { protocolVersion: 5, properties: { topicAliasMaximum: 3 } });
    const got = collect(c);
    await subscribe(c, `${root}/#`, { qos: 1 });
    const pub = await connect(broker.url, { protocolVersion: 5, autoAssignTopicAlias: true } as never);
    const sent: Array<[string, string]> = [];
    for (let i = 0; i < 20; i++) {
      const t = `${root}/s/${i % 5}`;
      sent.push([t, String(i)]);
      await publish(pub, t, String(i), { qos: 1 });
    }
    await got.waitFor(sent.length);
    expect(got.messages.map((m) => [m.topic, m.payload])).toEqual(sent);
    await close(c);
    await close(pub);
  });
});
