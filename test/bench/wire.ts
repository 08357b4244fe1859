/**
 * Minimal MQTT wire layer for the load generator.
 *
 * - Control packets that are sent rarely (CONNECT, SUBSCRIBE, DISCONNECT) are
 *   produced with mqtt-packet's `generate`.
 * - PUBLISH packets are generated ONCE per publisher as a template; the hot
 *   path copies the template into one batch buffer and patches only the
 *   packet id, the sequence number and the timestamp (see `PublishTemplate`).
 * - Incoming bytes are parsed by a tiny hand parser that only understands what
 *   the generator needs (CONNACK, SUBACK, PUBLISH, PUBACK, PINGRESP) and
 *   reads the benchmark header straight out of the PUBLISH payload without
 *   allocating a packet object per message.
 *
 * Payload layout (little endian, first 16 bytes of every payload):
 *   [0..3]  publisher index (u32)     [4..7] sequence number (u32)
 *   [8..15] send time, performance.now() in ms (f64), same process as receiver
 */
import mqttPacket from 'mqtt-packet';
import type { Socket } from 'node:net';

/** Where packetEnd found the packet's variable header (one shared slot: the parsers are synchronous). */
export const packetBody = { at: 0 };

/**
 * End of the MQTT packet starting at `off`, or -1 when buf[off, length) holds only part of it. Its
 * variable header starts at `packetBody.at`.
 */
export function packetEnd(buf: Buffer, off: number, length: number): number {
  let rl = 0;
  let mul = 1;
  let p = off + 1;
  for (let i = 0; i < 4 && p < length; i++) {
    const b = buf[p++]!;
    rl += (b & 0x7f) * mul;
    mul *= 128;
    if ((b & 0x80) === 0) {
      const end = p + rl;
      if (end > length) return -1;
      packetBody.at = p;
      return end;
    }
  }
  return -1;
}

/** Where an MQTT 5 property block starting at `q` (its length varint) ends. */
export function afterProperties(buf: Buffer, q: number): number {
  let pl = 0;
  let m = 1;
  for (let i = 0; i < 4; i++) {
    const b = buf[q++]!;
    pl += (b & 0x7f) * m;
    m *= 128;
    if ((b & 0x80) === 0) break;
  }
  return q + pl;
}


export const HEADER_BYTES = 16;
export type ProtocolVersion = 4 | 5;

export function connectPacket(clientId: string, version: ProtocolVersion, keepalive = 0): Buffer {
  return mqttPacket.generate(
    {
      cmd: 'connect',
      clientId,
      protocolId: 'MQTT',
      protocolVersion: version,
      clean: true,
      keepalive,
      ...(version === 5 ? { properties: {} } : {}),
    },
    { protocolVersion: version },
  );
}

export function subscribePacket(topic: string, qos: 0 | 1, messageId: number, version: ProtocolVersion): Buffer {
  return mqttPacket.generate(
    {
      cmd: 'subscribe',
      messageId,
      subscriptions: [{ topic, qos }],
      ...(version === 5 ? { properties: {} } : {}),
    },
    { protocolVersion: version },
  );
}

export function disconnectPacket(): Buffer {
  return Buffer.from([0xe0, 0x00]);
}

export class PublishTemplate {
  readonly buf: Buffer;
  readonly len: number;
  readonly payloadOff: number;
  readonly idOff: number; // -1 for QoS 0

  constructor(topic: string, qos: 0 | 1, payloadSize: number, pubIdx: number, version: ProtocolVersion) {
    if (payloadSize < HEADER_BYTES) throw new Error(`payload must be >= ${HEADER_BYTES} bytes`);
    const payload = Buffer.alloc(payloadSize, 0x61);
    payload.writeUInt32LE(pubIdx, 0);
    this.buf = mqttPacket.generate(
      {
        cmd: 'publish',
        topic,
        payload,
        qos,
        retain: false,
        dup: false,
        ...(qos > 0 ? { messageId: 1 } : {}),
        ...(version === 5 ? { properties: {} } : {}),
      },
      { protocolVersion: version },
    );
    this.len = this.buf.length;
    this.payloadOff = this.len - payloadSize;
    // v5 inserts a 1-byte (empty) property length between packet id and payload.
    this.idOff = qos > 0 ? this.payloadOff - 2 - (version === 5 ? 1 : 0) : -1;
  }

  /**
   * Build `n` consecutive PUBLISH packets into one buffer.
   * seq0: first sequence number; id0: first packet id (1..65535, wraps).
   */
  batch(n: number, seq0: number, id0: number, now: number): Buffer {
    const { len, payloadOff, idOff } = this;
    const out = Buffer.allocUnsafe(n * len);
    let id = id0;
    for (let k = 0; k < n; k++) {
      const base = k * len;
      this.buf.copy(out, base);
      if (idOff >= 0) {
        out.writeUInt16BE(id, base + idOff);
        id = id === 65535 ? 1 : id + 1;
      }
      out.writeUInt32LE((seq0 + k) >>> 0, base + payloadOff + 4);
      out.writeDoubleLE(now, base + payloadOff + 8);
    }
    return out;
  }
}

export interface WireHandler {
  onPuback(conn: Conn, count: number): void;
  /** Called once per data chunk with the number of PUBLISH packets parsed (after onPublish calls). */
  onPublishBatchEnd(conn: Conn, count: number, now: number): void;
  onPublish(conn: Conn, pubIdx: number, seq: number, sentAt: number, now: number): void;
  onClose(conn: Conn): void;
}

/** One client connection with an incremental parser. */
export class Conn {
  private leftover: Buffer | null = null;
  closed = false;
  /** user tag (subscriber index, publisher index, ...) */
  tag = 0;
  /** one-shot callback for the next CONNACK / SUBACK (return code) */
  waiter: ((code: number) => void) | null = null;

  constructor(
    readonly sock: Socket,
    readonly version: ProtocolVersion,
    readonly handler: WireHandler,
    readonly autoPuback: boolean,
  ) {
    sock.setNoDelay(true);
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('error', () => {});
    sock.on('close', () => {
      this.closed = true;
      this.fireWaiter(-1);
      handler.onClose(this);
    });
  }

  private onData(chunk: Buffer): void {
    let buf = chunk;
    if (this.leftover) {
      buf = Buffer.concat([this.leftover, chunk]);
      this.leftover = null;
    }
    const h = this.handler;
    const v5 = this.version === 5;
    const len = buf.length;
    let off = 0;
    let pubs = 0;
    let acks = 0;
    let ackBuf: Buffer | null = null;
    let ackN = 0;
    const now = performance.now();
    while (off + 2 <= len) {
      const b0 = buf[off]!;
      const end = packetEnd(buf, off, len);
      if (end < 0) break;
      const p = packetBody.at;
      const type = b0 >> 4;
      if (type === 3) {
        const qos = (b0 >> 1) & 3;
        let q = p + 2 + buf.readUInt16BE(p);
        if (qos > 0) {
          if (this.autoPuback) {
            if (ackBuf === null) ackBuf = Buffer.allocUnsafe(4 * 1024);
            else if ((ackN + 1) * 4 > ackBuf.length) {
              const nb = Buffer.allocUnsafe(ackBuf.length * 2);
              ackBuf.copy(nb);
              ackBuf = nb;
            }
            const o = ackN * 4;
            ackBuf[o] = 0x40;
            ackBuf[o + 1] = 0x02;
            ackBuf[o + 2] = buf[q]!;
            ackBuf[o + 3] = buf[q + 1]!;
            ackN++;
          }
          q += 2;
        }
        if (v5) q = afterProperties(buf, q);
        if (end - q >= HEADER_BYTES) {
          h.onPublish(this, buf.readUInt32LE(q), buf.readUInt32LE(q + 4), buf.readDoubleLE(q + 8), now);
          pubs++;
        }
      } else if (type === 4) {
        acks++;
      } else if (type === 2) {
        this.fireWaiter(buf[p + 1]!);
      } else if (type === 9) {
        // v4: id(2) + codes ; v5: id(2) + props + codes -> take last byte
        this.fireWaiter(buf[end - 1]!);
      }
      off = end;
    }
    if (off < len) this.leftover = Buffer.from(buf.subarray(off));
    if (ackN > 0 && !this.closed) this.sock.write(ackBuf!.subarray(0, ackN * 4));
    if (acks > 0) h.onPuback(this, acks);
    if (pubs > 0) h.onPublishBatchEnd(this, pubs, now);
  }

  private fireWaiter(code: number): void {
    const w = this.waiter;
    this.waiter = null;
    if (w) w(code);
  }

  write(b: Buffer): boolean {
    if (this.closed) return false;
    return this.sock.write(b);
  }
}
