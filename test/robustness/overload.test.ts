/**
 * Overload: publishers faster than a subscriber that keeps reading. The broker must push back on
 * the publishers (stop reading their sockets) instead of dropping what it already acknowledged;
 * only a subscriber that stopped draining is shed.
 *
 * - Fan-in QoS 1: four publishers each keep up to 1000 PUBLISH unacknowledged (they wait only for
 *   PUBACK, as devices do), one subscriber reads a little slower than they write and acknowledges
 *   everything: it must get every acknowledged message (the queue limit is 1000, far below the
 *   backlog the publishers could build, and at most 200 messages may be in flight to a client).
 * - QoS 0: one publisher writes as fast as TCP allows to a topic with a stalled subscriber and a
 *   healthy but slower one: the healthy one gets at least 99 %, the stalled one is shed (logged
 *   with its client id).
 * Raw sockets on both sides, so nothing in a client library paces the traffic.
 */
import net from 'node:net';
import mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, isEdgemq, startBroker, type RunningBroker } from '../helpers/broker.js';
import * as K from './helpers/packets.js';
import { RawConn } from './helpers/raw-conn.js';
import { settled } from '../helpers/settled.js';

let broker: RunningBroker;
const RUN = process.pid;

beforeAll(async () => {
  const port = await freePort();
  broker = await startBroker({
    port,
    config: `apiVersion: mq.edgemq.io/v1beta1
kind: Broker
metadata: {name: default}
spec:
  advanced:
    clients:
      subscriberQueueLimit: {length: 1000, strategy: None}
      maxReceiveMaximum: 200
      stalledSubscriberSeconds: 2
---
apiVersion: mq.edgemq.io/v1beta1
kind: BrokerListener
metadata: {name: overload}
spec: {brokerRef: default, port: ${port}}
`,
  });
}, 30_000);

afterAll(async () => {
  await broker?.stop();
});

/** A 3.1.1 connection speaking raw bytes: CONNECT, then whatever the test writes; counts what comes back. */
async function open(clientId: string): Promise<{ socket: net.Socket; parser: ReturnType<typeof mqttPacket.parser> }> {
  const socket = net.connect(broker.port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise<void>((r, j) => socket.once('connect', r).once('error', j));
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  socket.on('data', (d) => parser.parse(d));
  socket.on('error', () => {});
  const connack = new Promise<void>((r) => parser.once('packet', () => r()));
  socket.write(K.connect(4, clientId, { clean: true }));
  await connack;
  return { socket, parser };
}

function publishBytes(topic: string, qos: 0 | 1, packetId: number, payload: Buffer): Buffer {
  return mqttPacket.generate({ cmd: 'publish', topic, payload, qos, retain: false, dup: false, messageId: qos ? packetId : undefined } as mqttPacket.IPublishPacket);
}

/** Publishes `count` QoS 1 messages keeping up to `window` unacknowledged; resolves to the number acknowledged. */
async function windowedPublisher(index: number, topic: string, count: number, window: number): Promise<number> {
  const { socket, parser } = await open(`overload-pub-${index}-${RUN}`);
  let sent = 0;
  let acked = 0;
  return new Promise<number>((resolve, reject) => {
    const fill = () => {
      const batch: Buffer[] = [];
      while (sent < count && sent - acked < window) {
        const payload = Buffer.alloc(64);
        payload.writeUInt32BE(index, 0);
        payload.writeUInt32BE(sent, 4);
        batch.push(publishBytes(topic, 1, (sent % 65535) + 1, payload));
        sent++;
      }
      if (batch.length) socket.write(Buffer.concat(batch));
    };
    parser.on('packet', (p: mqttPacket.Packet) => {
      if (p.cmd !== 'puback') return;
      acked++;
      if (acked === count) {
        socket.end();
        resolve(acked);
      } else if (sent - acked <= window / 2) fill();
    });
    socket.once('close', () => acked < count && reject(new Error(`publisher ${index} closed after ${acked}/${count} PUBACKs`)));
    fill();
  });
}

/**
 * A subscriber that keeps reading and acknowledging, but more slowly than the publishers write:
 * after each `pauseEveryBytes` it stops reading for `pauseMs`.
 */
async function slowerSubscriber(name: string, topic: string, qos: 0 | 1, pauseEveryBytes: number, pauseMs: number) {
  const { socket, parser } = await open(`${name}-${RUN}`);
  const seen = new Set<number>();
  let bytes = 0;
  let sinceLast = 0;
  socket.on('data', (d) => {
    bytes += d.length;
    sinceLast += d.length;
    if (sinceLast >= pauseEveryBytes) {
      sinceLast = 0;
      socket.pause();
      setTimeout(() => socket.resume(), pauseMs);
    }
  });
  parser.on('packet', (p: mqttPacket.Packet) => {
    if (p.cmd !== 'publish') return;
    const pl = p.payload as Buffer;
    seen.add(pl.readUInt32BE(0) * 1e6 + pl.readUInt32BE(4));
    if (p.qos === 1) socket.write(Buffer.from([0x40, 0x02, p.messageId! >> 8, p.messageId! & 0xff]));
  });
  const suback = new Promise<void>((r) => parser.on('packet', (p: mqttPacket.Packet) => p.cmd === 'suback' && r()));
  socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] } as mqttPacket.ISubscribePacket));
  await suback;
  return { socket, seen, bytes: () => bytes };
}

/** A subscriber that made no progress for 2 s is done: what it has is what it gets. */
const settle = (count: () => number, target: number) => settled(count, target, 2000, 40_000);

describe.skipIf(!isEdgemq)('overload', () => {
  it('fan-in QoS 1: a subscriber that keeps reading loses no acknowledged message (4 publishers x 1000 unacked)', async () => {
    const topic = `overload/${RUN}/fanin`;
    const PUBLISHERS = 4;
    const EACH = 15_000;
    const sub = await slowerSubscriber('overload-fanin-sub', topic, 1, 256 * 1024, 5);
    const acked = await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) => windowedPublisher(i, topic, EACH, 1000)));
    const total = acked.reduce((a, b) => a + b, 0);
    expect(total).toBe(PUBLISHERS * EACH);
    await settle(() => sub.seen.size, total);
    sub.socket.destroy();
    expect(total - sub.seen.size, 'acknowledged but never delivered').toBe(0);
  }, 60_000);

  it('QoS 0: a healthy but slower subscriber gets >= 99 % while its stalled sibling is shed', async () => {
    const topic = `overload/${RUN}/qos0`;
    const N = 30_000;
    const SIZE = 1024;
    const stalled = await RawConn.connected(broker.port, 4, `overload-stalled-${RUN}`);
    stalled.send(K.subscribeRaw(4, { packetId: 1, entries: [[topic, 0]] }));
    await stalled.waitFor('suback');
    stalled.socket.pause();
    const healthy = await slowerSubscriber('overload-healthy', topic, 0, 256 * 1024, 10);

    const { socket: pub } = await open(`overload-q0-pub-${RUN}`);
    const chunk: Buffer[] = [];
    for (let i = 0; i < N; i++) {
      const payload = Buffer.alloc(SIZE);
      payload.writeUInt32BE(0, 0);
      payload.writeUInt32BE(i, 4);
      chunk.push(publishBytes(topic, 0, 0, payload));
      if (chunk.length === 500) pub.write(Buffer.concat(chunk.splice(0)));
    }
    pub.write(Buffer.concat(chunk));
    // A PINGRESP comes once the broker has read every PUBLISH in front of the PINGREQ.
    const done = new Promise<void>((r) => pub.on('data', (d) => d.includes(0xd0) && r()));
    pub.write(Buffer.from([0xc0, 0x00]));
    await done;
    await settle(() => healthy.seen.size, N);
    pub.destroy();
    healthy.socket.destroy();
    stalled.socket.destroy();
    const stalls = broker.output().split('\n').filter((l) => l.includes('stalled'));
    expect(healthy.seen.size / N, `healthy subscriber got ${healthy.seen.size}/${N}; ${stalls.join(' | ')}`).toBeGreaterThanOrEqual(0.99);
    expect(broker.output()).toContain(`overload-stalled-${RUN}`); // the stall is logged with the client id
  }, 60_000);
});
