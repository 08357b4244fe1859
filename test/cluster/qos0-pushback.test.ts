/**
 * QoS 0 fan-in on a cluster (issue #14): the single node's promise holds across the links. A
 * subscriber that keeps draining loses nothing, however fast the publishers go: the front end holds
 * back publishers whose messages go to a link that is behind, the back end stops reading front ends
 * while its deliveries to one are behind. Only a subscriber that stopped draining is shed, at its
 * own front end, without holding the others back.
 *
 * Real processes (1 front end, 1 back end, as the bench's `edgemq-cluster`), raw sockets on both
 * sides so nothing in a client library paces the traffic: publishers write everything at once.
 */
import net from 'node:net';
import mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixedCluster, type FixedCluster } from './fixtures/fixed-cluster.js';

let cluster: FixedCluster;
let port: number;
const RUN = process.pid;

beforeAll(async () => {
  cluster = await startFixedCluster({
    frontends: 1,
    partitions: 1,
    config: `apiVersion: mq.edgemq.io/v1beta1
kind: Broker
metadata: {name: default}
spec:
  advanced:
    clients:
      stalledSubscriberSeconds: 2
`,
  });
  port = Number(new URL(cluster.url(0)).port);
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

/** A 3.1.1 connection after its CONNACK; `onData` sees every byte after it. */
async function open(clientId: string, onData?: (d: Buffer) => void): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  socket.on('error', () => {});
  await new Promise<void>((r, j) => socket.once('connect', r).once('error', j));
  await new Promise<void>((resolve) => {
    let head = Buffer.alloc(0);
    const first = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      if (head.length < 4) return;
      socket.off('data', first);
      if (onData) {
        socket.on('data', onData);
        if (head.length > 4) onData(head.subarray(4));
      }
      resolve();
    };
    socket.on('data', first);
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 0 } as mqttPacket.IConnectPacket));
  });
  return socket;
}

/**
 * A subscriber reading as fast as it can, with a hand parser (no packet objects): counts distinct
 * messages by the (publisher, sequence) in the first 8 payload bytes. `pauseEveryBytes`: stop
 * reading for `pauseMs` after that many bytes (a healthy but slower reader).
 */
async function subscriber(name: string, topic: string, pauseEveryBytes = 0, pauseMs = 0) {
  const seen = new Set<number>();
  let carry = Buffer.alloc(0);
  let subacked: () => void;
  const suback = new Promise<void>((r) => (subacked = r));
  let sinceLast = 0;
  let socket: net.Socket | undefined;
  const onData = (d: Buffer) => {
    if (pauseEveryBytes > 0 && (sinceLast += d.length) >= pauseEveryBytes && socket) {
      sinceLast = 0;
      socket.pause();
      setTimeout(() => socket!.resume(), pauseMs);
    }
    const buf = carry.length > 0 ? Buffer.concat([carry, d]) : d;
    let i = 0;
    for (;;) {
      if (i + 2 > buf.length) break;
      let len = 0;
      let mul = 1;
      let j = i + 1;
      for (; j < buf.length && j < i + 5; j++) {
        len += (buf[j] & 0x7f) * mul;
        mul *= 128;
        if ((buf[j] & 0x80) === 0) break;
      }
      if (j >= buf.length) break;
      const body = j + 1;
      if (body + len > buf.length) break;
      const type = buf[i] >> 4;
      if (type === 3) {
        const topicLen = buf.readUInt16BE(body);
        const qos = (buf[i] >> 1) & 3;
        const payload = body + 2 + topicLen + (qos > 0 ? 2 : 0);
        seen.add(buf.readUInt32BE(payload) * 1e7 + buf.readUInt32BE(payload + 4));
      } else if (type === 9) subacked!();
      i = body + len;
    }
    carry = i < buf.length ? Buffer.from(buf.subarray(i)) : Buffer.alloc(0);
  };
  socket = await open(`${name}-${RUN}`, onData);
  socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 0 }] } as mqttPacket.ISubscribePacket));
  await suback;
  return { socket, seen };
}

/** Writes `count` QoS 0 PUBLISH of `size` bytes at once, then a PINGREQ; resolves at its PINGRESP (the front end read them all). */
async function blast(index: number, topic: string, count: number, size: number): Promise<void> {
  let ponged: () => void;
  const pong = new Promise<void>((r) => (ponged = r));
  const socket = await open(`q0-pub-${index}-${RUN}`, (d) => d.includes(0xd0) && ponged());
  const one = mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.alloc(size), qos: 0, retain: false, dup: false } as mqttPacket.IPublishPacket);
  const at = one.length - size;
  const chunk = Buffer.alloc(one.length * 1000);
  for (let sent = 0; sent < count; ) {
    const n = Math.min(1000, count - sent);
    for (let k = 0; k < n; k++) {
      one.copy(chunk, k * one.length);
      chunk.writeUInt32BE(index, k * one.length + at);
      chunk.writeUInt32BE(sent + k, k * one.length + at + 4);
    }
    socket.write(Buffer.from(chunk.subarray(0, n * one.length)));
    sent += n;
  }
  socket.write(Buffer.from([0xc0, 0x00]));
  await pong;
  socket.destroy();
}

/** Waits until `count()` reaches `target` or stops moving for `quietMs`. */
async function settled(count: () => number, target: number, quietMs = 3000, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let lastChange = Date.now();
  while (count() < target && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    if (count() !== last) {
      last = count();
      lastChange = Date.now();
    } else if (Date.now() - lastChange > quietMs) return;
  }
}

function logs(): string {
  return [...cluster.frontends, ...cluster.backends].map((p) => p.out).join('\n');
}

describe('cluster QoS 0 pushback (1 front end, 1 back end)', () => {
  it('fan-in: 16 publishers blasting QoS 0 without waiting, a subscriber that reads as fast as it can gets every message', async () => {
    const topic = `q0/${RUN}/fanin`;
    // 64 MB from 16 sockets: resumed together, they give the front end more than 16 MiB to read in
    // one turn, past the links' shedding limit of the earlier code (which lost 881 and 1,383 here).
    const PUBLISHERS = 16;
    const EACH = 4000;
    const SIZE = 1024;
    const sub = await subscriber('q0-fanin-sub', topic);
    await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) => blast(i, topic, EACH, SIZE)));
    await settled(() => sub.seen.size, PUBLISHERS * EACH);
    sub.socket.destroy();
    expect(PUBLISHERS * EACH - sub.seen.size, `lost; logs:\n${logs().split('\n').filter((l) => /shed|stall/.test(l)).join('\n')}`).toBe(0);
    expect(logs(), 'the last-resort QoS 0 guard of a link fired').not.toMatch(/QoS 0 (publishes|deliveries) to a (back|front) end shed/);
  }, 90_000);

  it('a stalled QoS 0 subscriber is shed at its front end; the healthy one beside it gets >= 99 %', async () => {
    const topic = `q0/${RUN}/stall`;
    const PUBLISHERS = 4;
    const EACH = 10_000;
    const SIZE = 1024;
    const stalled = await subscriber('q0-stalled', topic);
    stalled.socket.pause();
    const healthy = await subscriber('q0-healthy', topic, 256 * 1024, 10);
    await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) => blast(i, topic, EACH, SIZE)));
    await settled(() => healthy.seen.size, PUBLISHERS * EACH);
    healthy.socket.destroy();
    stalled.socket.destroy();
    expect(healthy.seen.size / (PUBLISHERS * EACH), `healthy got ${healthy.seen.size}/${PUBLISHERS * EACH}`).toBeGreaterThanOrEqual(0.99);
    // The stall is logged with the client id, by the front end that holds the connection.
    expect(cluster.frontends[0].out).toContain(`q0-stalled-${RUN}`);
  }, 90_000);
});
