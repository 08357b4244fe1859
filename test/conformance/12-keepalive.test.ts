/** Tests in this file only wait (expiry, keep-alive), are independent, and run concurrently to keep the suite short. */
/**
 * Keep alive: the broker closes a silent connection after 1.5x Keep Alive, PINGREQ keeps it open, Server Keep
 * Alive caps the client's value (edgemq config), and a keep-alive timeout publishes the will.
 */
import { describe, it, expect } from 'vitest';
import { useConformanceBroker, connect, collect, subscribe, close, uid, topicRoot, vname, VERSIONS, isEdgemq, sleep } from './helpers/clients.js';
import { rawConnect } from './helpers/raw.js';

const MAX_KEEPALIVE = 2;
/**
 * How long to wait for the keep-alive close of a 1 s Keep Alive: 1.5 s plus slack on edgemq. Mosquitto 2.0.11
 * checks keep-alive on a coarse timer and closes after 4-6 s, so its wait is longer (a wait, not an assertion on speed).
 */
const KEEPALIVE_CLOSE_WAIT = isEdgemq ? 4000 : 7500;
const broker = useConformanceBroker({ clients: { maxKeepAliveSeconds: MAX_KEEPALIVE } });

describe.concurrent('12 keep alive', { timeout: 15000 }, () => {
  for (const v of VERSIONS) {
    it(`[MQTT-3.1.2-22] the broker closes a connection silent for 1.5x Keep Alive (1 s) (${vname(v)})`, async () => {
      const { client, connack } = await rawConnect(broker.port, { protocolVersion: v, clientId: uid(), keepalive: 1 });
      expect(connack.properties?.serverKeepAlive ?? 1).toBe(1);
      await client.expectClose(KEEPALIVE_CLOSE_WAIT);
      if (v === 5) {
        // 4.13 / reason code 0x8D Keep Alive timeout, if the server sends a DISCONNECT at all.
        const d = client.received.find((p) => p.cmd === 'disconnect') as { reasonCode?: number } | undefined;
        if (d || isEdgemq) expect(d?.reasonCode).toBe(0x8d);
      }
    });

    it(`[MQTT-3.12.4-1] PINGREQ is answered with PINGRESP and keeps the connection open (${vname(v)})`, async () => {
      const { client } = await rawConnect(broker.port, { protocolVersion: v, clientId: uid(), keepalive: 1 });
      for (let i = 0; i < 5; i++) {
        client.send({ cmd: 'pingreq' });
        await client.expectPacket('pingresp');
        await sleep(500);
      }
      expect(client.closed).toBe(false);
      await client.end();
    });

    it(`[MQTT-3.1.2-8] a keep-alive timeout publishes the will (${vname(v)})`, async () => {
      const topic = `${topicRoot('ka')}/will`;
      const w = await connect(broker.url, { protocolVersion: 5 });
      const got = collect(w);
      await subscribe(w, topic, { qos: 1 });
      const { client } = await rawConnect(broker.port, { protocolVersion: v, clientId: uid(), keepalive: 1, will: { topic, payload: Buffer.from('timed-out'), qos: 1, retain: false } });
      await client.expectClose(KEEPALIVE_CLOSE_WAIT);
      const [m] = await got.waitFor(1);
      expect(m.payload).toBe('timed-out');
      await close(w);
    });
  }

  it.skipIf(!isEdgemq)('[MQTT-3.2.2-21] v5 CONNACK Server Keep Alive caps a larger client Keep Alive, and the broker enforces it', async () => {
    const { client, connack } = await rawConnect(broker.port, { protocolVersion: 5, clientId: uid(), keepalive: 60 });
    expect(connack.properties?.serverKeepAlive).toBe(MAX_KEEPALIVE);
    await client.expectClose(MAX_KEEPALIVE * 1500 + 1500);
  });

  it.skipIf(!isEdgemq)('[MQTT-3.2.2-21] v5 Keep Alive 0 gets the Server Keep Alive when the broker has a maximum', async () => {
    const { client, connack } = await rawConnect(broker.port, { protocolVersion: 5, clientId: uid(), keepalive: 0 });
    expect(connack.properties?.serverKeepAlive).toBe(MAX_KEEPALIVE);
    await client.end();
  });
});
