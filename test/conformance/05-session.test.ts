/**
 * Sessions: clean start, session present, persistence of subscriptions and queued messages, session expiry,
 * DISCONNECT-time session expiry change, and session takeover.
 */
import { describe, it, expect } from 'vitest';
import type { IDisconnectPacket } from 'mqtt-packet';
import { useConformanceBroker, connect, connectWithAck, connectCollect, collect, subscribe, publish, close, dropConnection, uid, topicRoot, vname, VERSIONS, sleep, isEdgemq } from './helpers/clients.js';
import { rawConnect } from './helpers/raw.js';

const broker = useConformanceBroker();

/** Options for a session that outlives its connection (v5: expiry 60 s; v3.1.1: clean session 0). */
function keep(v: 4 | 5, clientId: string, cleanStart = false) {
  return v === 5 ? { protocolVersion: v, clientId, clean: cleanStart, properties: { sessionExpiryInterval: 60 } } : { protocolVersion: v, clientId, clean: false };
}

describe('05 session', { timeout: 15000 }, () => {
  for (const v of VERSIONS) {
    it(`[MQTT-3.2.2-3] resumed session: Session Present 1, subscriptions kept, QoS 1 messages queued while offline are delivered (${vname(v)})`, async () => {
      const topic = `${topicRoot('sess')}/q`;
      const id = uid('sess');
      const a = await connectWithAck(broker.url, keep(v, id, true));
      expect(a.connack.sessionPresent).toBe(false);
      await subscribe(a.client, topic, { qos: 1 });
      await close(a.client);
      const pub = await connect(broker.url, { protocolVersion: v });
      await publish(pub, topic, 'while-offline-1', { qos: 1 });
      await publish(pub, topic, 'while-offline-2', { qos: 1 });
      const b = await connectCollect(broker.url, keep(v, id));
      expect(b.connack.sessionPresent).toBe(true);
      await b.got.waitFor(2);
      expect(b.got.messages.map((m) => m.payload)).toEqual(['while-offline-1', 'while-offline-2']);
      // the subscription is still live on the resumed session
      await publish(pub, topic, 'online', { qos: 1 });
      await b.got.waitFor(3);
      await close(b.client);
      await close(pub);
    });

    it(`[MQTT-3.1.2-4] clean start discards the existing session: Session Present 0 and no old subscriptions (${vname(v)})`, async () => {
      const topic = `${topicRoot('sess')}/clean`;
      const id = uid('clean');
      const a = await connect(broker.url, keep(v, id, true));
      await subscribe(a, topic, { qos: 1 });
      await close(a);
      const b = await connectWithAck(broker.url, { protocolVersion: v, clientId: id, clean: true });
      expect(b.connack.sessionPresent).toBe(false);
      const got = collect(b.client);
      const pub = await connect(broker.url, { protocolVersion: v });
      await publish(pub, topic, 'x', { qos: 1 });
      await got.settle(400);
      expect(got.messages).toHaveLength(0);
      await close(b.client);
      await close(pub);
    });

    it(`[MQTT-3.1.2-6] clean start 0 without an existing session creates a new one: Session Present 0 (${vname(v)})`, async () => {
      const b = await connectWithAck(broker.url, keep(v, uid('fresh')));
      expect(b.connack.sessionPresent).toBe(false);
      await close(b.client);
    });

    it(`[MQTT-3.1.4-3] session takeover: a second connection with the same client id closes the first (${vname(v)})`, async () => {
      const id = uid('take');
      const first = await rawConnect(broker.port, keep(v, id, true));
      const second = await rawConnect(broker.port, keep(v, id));
      expect(second.connack.sessionPresent).toBe(true);
      if (v === 5) {
        // [MQTT-3.1.4-3] v5: the existing connection gets DISCONNECT 0x8E Session taken over.
        // Mosquitto 2.0.11 closes the old connection without the DISCONNECT, so strictness is edgemq-only.
        const d = (await first.client.expectDisconnect(0x8e, { strict: isEdgemq })) as IDisconnectPacket | undefined;
        if (isEdgemq) expect(d?.reasonCode).toBe(0x8e);
      } else {
        await first.client.expectClose();
      }
      second.client.disconnect();
      await second.client.end();
    });
  }

  it('[MQTT-3.1.2-7] v3.1.1 clean session 1: the session ends with the connection', async () => {
    const topic = `${topicRoot('sess')}/v3clean`;
    const id = uid('v3c');
    const a = await connect(broker.url, { protocolVersion: 4, clientId: id, clean: true });
    await subscribe(a, topic, { qos: 1 });
    await close(a);
    const b = await connectWithAck(broker.url, { protocolVersion: 4, clientId: id, clean: false });
    expect(b.connack.sessionPresent).toBe(false);
    await close(b.client);
  });

  it('[MQTT-3.1.2-5] v3.1.1 clean session 0 persists across several reconnects and a dropped connection', async () => {
    const topic = `${topicRoot('sess')}/v3keep`;
    const id = uid('v3k');
    const a = await connect(broker.url, { protocolVersion: 4, clientId: id, clean: false });
    await subscribe(a, topic, { qos: 1 });
    dropConnection(a);
    await sleep(1200);
    const pub = await connect(broker.url, { protocolVersion: 4 });
    await publish(pub, topic, 'kept', { qos: 1 });
    const { client, connack } = await rawConnect(broker.port, { protocolVersion: 4, clientId: id, clean: false });
    expect(connack.sessionPresent).toBe(true);
    const p = await client.expectPacket('publish');
    expect((p as { payload: Buffer }).payload.toString()).toBe('kept');
    client.puback((p as { messageId: number }).messageId);
    client.disconnect();
    await client.end();
    await close(pub);
    await close(a);
  });

  it('[MQTT-3.1.2-23] v5 Session Expiry Interval 0 (absent): session ends at disconnect even with clean start 0', async () => {
    const id = uid('sei0');
    const topic = `${topicRoot('sess')}/sei0`;
    const a = await connect(broker.url, { protocolVersion: 5, clientId: id, clean: false });
    await subscribe(a, topic, { qos: 1 });
    await close(a);
    const b = await connectWithAck(broker.url, { protocolVersion: 5, clientId: id, clean: false });
    expect(b.connack.sessionPresent).toBe(false);
    await close(b.client);
  });

  it('[MQTT-3.1.2-23] v5 expired session is gone after the Session Expiry Interval', async () => {
    const id = uid('sei1');
    const topic = `${topicRoot('sess')}/sei1`;
    const a = await connect(broker.url, { protocolVersion: 5, clientId: id, clean: true, properties: { sessionExpiryInterval: 1 } });
    await subscribe(a, topic, { qos: 1 });
    await close(a);
    const pub = await connect(broker.url, { protocolVersion: 5 });
    await publish(pub, topic, 'lost', { qos: 1 });
    await sleep(2500);
    const { client, connack } = await rawConnect(broker.port, { protocolVersion: 5, clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
    expect(connack.sessionPresent).toBe(false);
    await client.expectNoPacket('publish', 300);
    client.disconnect(0, { sessionExpiryInterval: 0 });
    await client.end();
    await close(pub);
  });

  it('[MQTT-3.1.2-23] v5 session within its expiry interval is resumed', async () => {
    const id = uid('sei5');
    const a = await connect(broker.url, { protocolVersion: 5, clientId: id, clean: true, properties: { sessionExpiryInterval: 5 } });
    await close(a);
    await sleep(500);
    const b = await connectWithAck(broker.url, { protocolVersion: 5, clientId: id, clean: false, properties: { sessionExpiryInterval: 5 } });
    expect(b.connack.sessionPresent).toBe(true);
    await close(b.client);
  });

  it('[MQTT-3.14.2-2] v5 DISCONNECT may set Session Expiry Interval 0, ending a session that would have persisted', async () => {
    const id = uid('discsei');
    const { client } = await rawConnect(broker.port, { protocolVersion: 5, clientId: id, clean: true, properties: { sessionExpiryInterval: 60 } });
    client.disconnect(0, { sessionExpiryInterval: 0 });
    await client.expectClose();
    const b = await connectWithAck(broker.url, { protocolVersion: 5, clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
    expect(b.connack.sessionPresent).toBe(false);
    await close(b.client);
  });

  it('[MQTT-3.14.2-2] v5 DISCONNECT setting a non-zero Session Expiry when CONNECT had 0 is a protocol error (0x82)', async () => {
    const { client } = await rawConnect(broker.port, { protocolVersion: 5, clientId: uid() });
    client.disconnect(0, { sessionExpiryInterval: 30 });
    // The server may answer with DISCONNECT 0x82 before closing; the session must not persist either way.
    await client.expectDisconnect(0x82, { strict: false });
  });

  it('[MQTT-3.1.4-3] v5 takeover keeps the session: QoS 1 subscription of the old connection serves the new one', async () => {
    const id = uid('takeq');
    const topic = `${topicRoot('sess')}/take`;
    const first = await rawConnect(broker.port, { protocolVersion: 5, clientId: id, properties: { sessionExpiryInterval: 60 } });
    await first.client.subscribe([{ topic, qos: 1 }]);
    const second = await rawConnect(broker.port, { protocolVersion: 5, clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
    expect(second.connack.sessionPresent).toBe(true);
    await first.client.expectClose();
    const pub = await connect(broker.url, { protocolVersion: 5 });
    await publish(pub, topic, 'to-new', { qos: 1 });
    const p = await second.client.expectPacket('publish');
    expect((p as { payload: Buffer }).payload.toString()).toBe('to-new');
    second.client.disconnect(0, { sessionExpiryInterval: 0 });
    await second.client.end();
    await close(pub);
  });
});
