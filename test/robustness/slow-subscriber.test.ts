/**
 * A stalled subscriber must neither grow the broker's memory without bound nor slow the publisher or the other
 * subscribers of the same topic (no head-of-line blocking; in Aedes one stalled reader throttles the whole topic).
 *
 * Two subscribers (one QoS 1, one QoS 0 subscription) connect and then stop reading their sockets (`pause()`); a
 * publisher sends N x 1 KiB QoS 1 messages; a healthy QoS 1 subscriber on the same topic must receive every one of
 * them while the others stall, the publisher's PUBACKs must keep coming, and the broker's RSS must stay bounded.
 * edgemq is configured with `subscriberQueueLimit {length: 1000, strategy: DropOldest}`; Mosquitto keeps up to
 * max_queued_messages (100000, from the shared helper) per client, which for this volume is also bounded.
 * No speed assertions: the timeouts only catch a broker that stops making progress.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../helpers/broker.js';
import * as K from './helpers/packets.js';
import { RawConn } from './helpers/raw-conn.js';
import { brokerAlive, HealthyClient, rssBytes, startTarget } from './helpers/target.js';

const N = Number(process.env.SLOW_SUB_MESSAGES ?? 20_000);
const SIZE = 1024;
const TOPIC = `slow/${process.pid}/t`;
const MAX_RSS_GROWTH = 300 * 1024 * 1024;

let broker: RunningBroker;

beforeAll(async () => {
  broker = await startTarget({ edgemq: { subscriberQueueLimit: { length: 1000, strategy: 'DropOldest' } } });
}, 30_000);

afterAll(async () => {
  await broker?.stop();
});

const seqOf = (payload: Buffer) => payload.readUInt32BE(0);

async function stalledSubscriber(qos: 0 | 1, name: string): Promise<RawConn> {
  // A small Receive Maximum: the broker may have at most 20 unacknowledged QoS 1 messages out to this client; the
  // rest must wait in (or be dropped from) its bounded queue.
  const c = await RawConn.connected(broker.port, 5, `${name}-${process.pid}`, { properties: { receiveMaximum: 20 } });
  c.send(K.subscribeRaw(5, { packetId: 1, entries: [[TOPIC, qos]] }));
  const ack = await c.waitFor('suback');
  expect(ack.granted).toEqual([qos]);
  c.socket.pause();
  return c;
}

describe('slow subscriber', () => {
  it(`a stalled subscriber does not block the publisher or a healthy subscriber (${N} x ${SIZE} B QoS 1)`, async () => {
    const pid = broker.process.pid!;
    const stalled1 = await stalledSubscriber(1, 'stalled-q1');
    const stalled0 = await stalledSubscriber(0, 'stalled-q0');

    // The healthy subscriber: a normal MQTT.js client that acknowledges everything.
    const sub = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: `healthy-sub-${process.pid}`, reconnectPeriod: 0 });
    const seen = new Uint8Array(N);
    let received = 0;
    let lastSeq = -1;
    let outOfOrder = 0;
    let allReceived!: () => void;
    const allReceivedP = new Promise<void>((r) => (allReceived = r));
    sub.on('message', (_t, payload) => {
      const s = seqOf(payload);
      if (s < lastSeq) outOfOrder++;
      lastSeq = s;
      if (!seen[s]) {
        seen[s] = 1;
        if (++received === N) allReceived();
      }
    });
    await sub.subscribeAsync(TOPIC, { qos: 1 });

    const { client: pub, receiveMaximum } = await connectWithConnack(broker.url, `publisher-${process.pid}`);
    // Stay inside the broker's Receive Maximum (the CONNACK's; 65535 when absent), at most 100 in flight.
    const window = Math.min(receiveMaximum, 100);

    const rss0 = rssBytes(pid);
    let rssMax = rss0;
    const sampler = setInterval(() => {
      try {
        rssMax = Math.max(rssMax, rssBytes(pid));
      } catch {
        /* process gone: asserted below */
      }
    }, 100);

    let acked = 0;
    let maxAckGapMs = 0;
    let lastAck = Date.now();
    const payload = Buffer.alloc(SIZE, 0x61);
    let next = 0;
    const t0 = Date.now();
    try {
      const worker = async () => {
        while (next < N) {
          const s = next++;
          const p = Buffer.from(payload);
          p.writeUInt32BE(s, 0);
          const ack = (await pub.publishAsync(TOPIC, p, { qos: 1 })) as { reasonCode?: number } | undefined;
          // 0x10 (No matching subscribers) would mean the healthy subscription vanished.
          expect(ack?.reasonCode ?? 0).toBe(0);
          const now = Date.now();
          maxAckGapMs = Math.max(maxAckGapMs, now - lastAck);
          lastAck = now;
          acked++;
        }
      };
      await Promise.all(Array.from({ length: window }, worker));
      const publishMs = Date.now() - t0;

      await Promise.race([
        allReceivedP,
        new Promise((_, rej) => setTimeout(() => rej(new Error(`healthy subscriber got ${received}/${N}`)), 30_000)),
      ]);
      const deliverMs = Date.now() - t0;
      clearInterval(sampler);
      rssMax = Math.max(rssMax, rssBytes(pid));

      console.info(
        `slow-subscriber: ${N} msgs, window ${window}, all PUBACKs after ${publishMs} ms (max gap ${maxAckGapMs} ms), ` +
          `healthy got all after ${deliverMs} ms (out of order: ${outOfOrder}), broker RSS ${mb(rss0)} -> max ${mb(rssMax)} MB`,
      );
      expect(acked).toBe(N);
      expect(received).toBe(N);
      expect(outOfOrder, 'order per publisher per topic is kept (promise 2)').toBe(0);
      expect(rssMax - rss0, `RSS grew from ${mb(rss0)} to ${mb(rssMax)} MB`).toBeLessThan(MAX_RSS_GROWTH);
      expect(brokerAlive(broker)).toBe(true);

      // The stalled subscribers really stalled (they got at most what fits in the socket buffers).
      expect(stalled1.packets.filter((p) => p.cmd === 'publish').length).toBeLessThan(N);

      // Resumed, the QoS 1 subscriber catches up: it acknowledges and eventually gets the newest message (with
      // DropOldest the oldest queued ones may have been dropped; without a limit it gets them all).
      stalled1.autoAck = true;
      stalled1.clearPackets();
      stalled1.socket.resume();
      stalled0.destroy();
      await waitForSeq(stalled1, N - 1, 30_000);
      await stalled1.ping(10_000);
      expect(stalled1.closed).toBe(false);

      // Everyone else is still served.
      const h = await HealthyClient.connect(broker.port, 5, 'slow-after');
      await h.roundTrip();
      await h.end();
      expect(pub.connected && sub.connected).toBe(true);
    } finally {
      clearInterval(sampler);
      stalled1.destroy();
      stalled0.destroy();
      await pub.endAsync(true);
      await sub.endAsync(true);
    }
  }, 90_000);
});

function mb(n: number): string {
  return (n / 1024 / 1024).toFixed(1);
}

/** An MQTT.js v5 client plus the Receive Maximum its CONNACK announced. */
function connectWithConnack(url: string, clientId: string): Promise<{ client: mqtt.MqttClient; receiveMaximum: number }> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { protocolVersion: 5, clientId, reconnectPeriod: 0, connectTimeout: 5000 });
    client.once('connect', (ack) => resolve({ client, receiveMaximum: ack.properties?.receiveMaximum ?? 65535 }));
    client.once('error', reject);
  });
}

async function waitForSeq(c: RawConn, seq: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // Drop what was consumed so a long catch-up does not keep 20k packets around.
    const hit = c.packets.some((p) => p.cmd === 'publish' && seqOf(p.payload as Buffer) === seq);
    if (hit) return;
    if (c.packets.length > 5000) c.clearPackets();
    if (c.closed) throw new Error(`resumed subscriber was closed: ${c.describe().slice(0, 300)}`);
    if (Date.now() > deadline) throw new Error(`resumed subscriber did not get message ${seq} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
