/**
 * Will messages: abnormal close, DISCONNECT 0x00 removes it, DISCONNECT 0x04 publishes it, server-detected
 * protocol error publishes it, will retain and properties, will delay cancelled by reconnect.
 */
import { describe, it, expect } from 'vitest';
import { useConformanceBroker, isMosquitto, connect, collect, subscribe, close, dropConnection, uid, topicRoot, vname, VERSIONS, sleep } from './helpers/clients.js';
import { rawConnect } from './helpers/raw.js';

const broker = useConformanceBroker();

async function watcher(topic: string) {
  const w = await connect(broker.url, { protocolVersion: 5 });
  const got = collect(w);
  await subscribe(w, topic, { qos: 1 });
  return { w, got };
}

describe('04 will', { timeout: 15000 }, () => {
  for (const v of VERSIONS) {
    it(`[MQTT-3.1.2-8] will is published when the network connection closes without DISCONNECT (${vname(v)})`, async () => {
      const topic = `${topicRoot('will')}/abnormal`;
      const { w, got } = await watcher(topic);
      const c = await connect(broker.url, { protocolVersion: v, will: { topic, payload: Buffer.from('gone'), qos: 1, retain: false } });
      dropConnection(c);
      const [m] = await got.waitFor(1);
      expect(m.topic).toBe(topic);
      expect(m.payload).toBe('gone');
      expect(m.packet.qos).toBe(1);
      await close(c);
      await close(w);
    });

    it(`[MQTT-3.1.2-10] will is discarded on a normal DISCONNECT (0x00) (${vname(v)})`, async () => {
      const topic = `${topicRoot('will')}/normal`;
      const { w, got } = await watcher(topic);
      const c = await connect(broker.url, { protocolVersion: v, will: { topic, payload: Buffer.from('nope'), qos: 1, retain: false } });
      await close(c);
      await got.settle(500);
      expect(got.messages).toHaveLength(0);
      await close(w);
    });

    // Mosquitto 2.0.11 drops the will when it closes a connection over a second CONNECT; the spec lists a
    // server-side close for a protocol error among the cases that publish it (v5 3.1.2.5, v3.1.1 3.1.2.5).
    it.skipIf(isMosquitto)(`[MQTT-3.1.2-8] will is published when the server closes the connection for a protocol error (${vname(v)})`, async () => {
      const topic = `${topicRoot('will')}/protoerr`;
      const { w, got } = await watcher(topic);
      const id = uid();
      const { client } = await rawConnect(broker.port, { protocolVersion: v, clientId: id, will: { topic, payload: Buffer.from('violated'), qos: 0, retain: false } });
      // second CONNECT: protocol error [MQTT-3.1.0-2]
      client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: v, clean: true, clientId: id, keepalive: 60 });
      await client.expectClose();
      const [m] = await got.waitFor(1);
      expect(m.payload).toBe('violated');
      await close(w);
    });

    it(`[MQTT-3.1.2-17] will with Will Retain 1 is published as a retained message (${vname(v)})`, async () => {
      const topic = `${topicRoot('will')}/retain`;
      const c = await connect(broker.url, { protocolVersion: v, will: { topic, payload: Buffer.from('last'), qos: 1, retain: true } });
      dropConnection(c);
      await sleep(300);
      const { w, got } = await watcher(topic);
      const [m] = await got.waitFor(1);
      expect(m.payload).toBe('last');
      expect(m.packet.retain).toBe(true);
      await close(c);
      await close(w);
    });
  }

  it('[MQTT-3.14.2-1] v5 DISCONNECT with reason 0x04 (Disconnect with Will Message) publishes the will', async () => {
    const topic = `${topicRoot('will')}/rc4`;
    const { w, got } = await watcher(topic);
    const { client } = await rawConnect(broker.port, { protocolVersion: 5, clientId: uid(), will: { topic, payload: Buffer.from('rc4'), qos: 1, retain: false } });
    client.disconnect(0x04);
    await client.expectClose();
    const [m] = await got.waitFor(1);
    expect(m.payload).toBe('rc4');
    await close(w);
  });

  it('[MQTT-3.1.3-10] v5 will properties (content type, response topic, correlation data, user properties) are passed through', async () => {
    const topic = `${topicRoot('will')}/props`;
    const { w, got } = await watcher(topic);
    const c = await connect(broker.url, {
      protocolVersion: 5,
      will: {
        topic,
        payload: Buffer.from('{"state":"offline"}'),
        qos: 1,
        retain: false,
        properties: { contentType: 'application/json', responseTopic: `${topic}/resp`, correlationData: Buffer.from([1, 2, 3]), userProperties: { k: 'v' }, payloadFormatIndicator: true },
      },
    });
    dropConnection(c);
    const [m] = await got.waitFor(1);
    const p = m.packet.properties ?? {};
    expect(p.contentType).toBe('application/json');
    expect(p.responseTopic).toBe(`${topic}/resp`);
    expect(Buffer.from(p.correlationData as Buffer)).toEqual(Buffer.from([1, 2, 3]));
    expect(p.userProperties).toEqual({ k: 'v' });
    expect(p.payloadFormatIndicator).toBe(true);
    await close(c);
    await close(w);
  });

  it('[MQTT-3.1.3-9] v5 will delay: will is not sent if the client reconnects within the Will Delay Interval', async () => {
    const topic = `${topicRoot('will')}/delay-cancel`;
    const { w, got } = await watcher(topic);
    const id = uid('wd');
    const opts = { protocolVersion: 5 as const, clientId: id, clean: false, properties: { sessionExpiryInterval: 30 }, will: { topic, payload: Buffer.from('late'), qos: 1 as const, retain: false, properties: { willDelayInterval: 2 } } };
    const c = await connect(broker.url, opts);
    dropConnection(c);
    await sleep(400);
    const c2 = await connect(broker.url, { ...opts, will: undefined });
    await got.settle(2600);
    expect(got.messages).toHaveLength(0);
    await close(c);
    await close(c2);
    await close(w);
  });

  it('[MQTT-3.1.3-9] v5 will delay: will is sent once the Will Delay Interval has passed, not immediately', async () => {
    const topic = `${topicRoot('will')}/delay-fire`;
    const { w, got } = await watcher(topic);
    const c = await connect(broker.url, { protocolVersion: 5, clientId: uid('wd'), properties: { sessionExpiryInterval: 30 }, will: { topic, payload: Buffer.from('delayed'), qos: 1, retain: false, properties: { willDelayInterval: 1 } } });
    dropConnection(c);
    await got.settle(300);
    expect(got.messages).toHaveLength(0);
    const [m] = await got.waitFor(1, 4000);
    expect(m.payload).toBe('delayed');
    await close(c);
    await close(w);
  });

  // Mosquitto 2.0.11 keeps waiting for the full Will Delay Interval even though the session (expiry 0) already
  // ended; the spec sends the will at whichever comes first, delay or session end (v5 3.1.3.2.2).
  it.skipIf(isMosquitto)('[MQTT-3.1.2-8] v5 will delay longer than the session: will is sent when the session ends', async () => {
    const topic = `${topicRoot('will')}/delay-session`;
    const { w, got } = await watcher(topic);
    // Session Expiry 0: the session ends at disconnect, so the will (delay 60 s) is sent then.
    const c = await connect(broker.url, { protocolVersion: 5, clientId: uid('wd'), will: { topic, payload: Buffer.from('session-end'), qos: 1, retain: false, properties: { willDelayInterval: 60 } } });
    dropConnection(c);
    const [m] = await got.waitFor(1, 3000);
    expect(m.payload).toBe('session-end');
    await close(c);
    await close(w);
  });
});
