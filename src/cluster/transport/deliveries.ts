/**
 * DELIVERIES frames: the deliveries, PUBRELs and kicks a back end has for one front end, gathered
 * over one event-loop turn. The hottest frame of a fan-out, so it has a hand layout (a generic
 * MessagePack walk of every delivery was the back end's largest cost in profiles):
 *
 *   body     = u32:recordLength record u32:n delivery*n u32:r release*r u32:k kick*k
 *   record   = the frame's messages as publish commands in the command log's encoding (each message
 *              once per frame, however many deliveries of it the frame holds)
 *   delivery = f64:connectionId u32:messageIndex u8:qos u16:packetId u8:flags [u8:count u32*count] [u32:backlog]
 *              flags: dup (1), retain (2), subscription identifiers follow (4), queue backlog follows (8)
 *   release  = f64:connectionId u16:packetId u8:reasonCode
 *   kick     = f64:connectionId u8:reasonCode
 */
import { decodeCommands, encodeCommands } from '../../storage/command-codec.js';
import type { Delivery, Message, QoS } from '../../core/types.js';
import type { PublishCommand } from '../../partition/commands.js';

const F_DUP = 1;
const F_RETAIN = 2;
const F_SUB_IDS = 4;
const F_BACKLOG = 8;

export interface DeliveryTarget {
  deliver(connectionId: number, d: Delivery): void;
  release(connectionId: number, packetId: number, reasonCode?: number): void;
  kick(connectionId: number, reasonCode: number): void;
}

/** A frame's deliveries are written as they come into memory of this size, kept from one frame to the next... */
const DELIVERY_BYTES = 16 * 1024;
/** ...unless a frame made it grow past this. */
const DELIVERY_BYTES_KEPT = 256 * 1024;
/** The most one delivery takes: the fixed part, 255 subscription identifiers and a backlog. */
const DELIVERY_MAX = 16 + 1 + 4 * 255 + 4;

export class DeliveryBatch {
  private messages: PublishCommand[] = [];
  private readonly index = new Map<Message, number>();
  /** The deliveries of the frame being gathered, already in their wire layout (no object or array entry per delivery). */
  private encoded = Buffer.allocUnsafe(DELIVERY_BYTES);
  private encodedBytes = 0;
  private count = 0;
  private releases: number[] = [];
  private kicks: number[] = [];
  private lastMessage: Message | undefined;
  private lastIndex = 0;

  get empty(): boolean {
    return this.count === 0 && this.releases.length === 0 && this.kicks.length === 0;
  }

  deliver(connectionId: number, d: Delivery): void {
    // A fan-out hands over one message's deliveries in a row: the last one's index answers without the map.
    let mi = d.message === this.lastMessage ? this.lastIndex : this.index.get(d.message);
    if (mi === undefined) {
      mi = this.messages.length;
      // As a publish command whose client id is the origin: the log encoding then writes no extra string.
      this.messages.push({ type: 'publish', now: 0, clientId: d.message.origin, message: d.message });
      this.index.set(d.message, mi);
    }
    this.lastMessage = d.message;
    this.lastIndex = mi;
    if (this.encodedBytes + DELIVERY_MAX > this.encoded.length) {
      const bigger = Buffer.allocUnsafe(this.encoded.length * 2);
      this.encoded.copy(bigger, 0, 0, this.encodedBytes);
      this.encoded = bigger;
    }
    const out = this.encoded;
    let at = out.writeDoubleBE(connectionId, this.encodedBytes);
    at = out.writeUInt32BE(mi, at);
    out[at++] = d.qos;
    at = out.writeUInt16BE(d.packetId, at);
    const ids = d.subscriptionIds;
    out[at++] = (d.dup ? F_DUP : 0) | (d.retain ? F_RETAIN : 0) | (ids ? F_SUB_IDS : 0) | (d.backlog ? F_BACKLOG : 0);
    if (ids) {
      const count = Math.min(ids.length, 255);
      out[at++] = count;
      for (let j = 0; j < count; j++) at = out.writeUInt32BE(ids[j], at);
    }
    if (d.backlog) at = out.writeUInt32BE(Math.min(d.backlog, 0xffffffff), at);
    this.encodedBytes = at;
    this.count++;
  }

  release(connectionId: number, packetId: number, reasonCode = 0): void {
    this.releases.push(connectionId, packetId, reasonCode);
  }

  kick(connectionId: number, reasonCode: number): void {
    this.kicks.push(connectionId, reasonCode);
  }

  /** The frame body; the batch is empty again afterwards. */
  take(): Buffer {
    const rest = 4 + this.encodedBytes + 4 + (this.releases.length / 3) * 11 + 4 + (this.kicks.length / 2) * 9;
    // The record is encoded in place (no second buffer and copy); one that is not (v8 form) is copied.
    let out: Buffer | undefined;
    const record = this.messages.length > 0 ? encodeCommands(this.messages, (bound) => (out = Buffer.allocUnsafe(4 + bound + rest)).subarray(4)) : Buffer.alloc(0);
    if (out === undefined || record.buffer !== out.buffer || record.byteOffset !== out.byteOffset + 4) {
      out = Buffer.allocUnsafe(4 + record.length + rest);
      record.copy(out, 4);
    }
    out.writeUInt32BE(record.length, 0);
    let at = 4 + record.length;
    at = out.writeUInt32BE(this.count, at);
    at += this.encoded.copy(out, at, 0, this.encodedBytes);
    at = out.writeUInt32BE(this.releases.length / 3, at);
    for (let i = 0; i < this.releases.length; i += 3) {
      at = out.writeDoubleBE(this.releases[i], at);
      at = out.writeUInt16BE(this.releases[i + 1], at);
      out[at++] = this.releases[i + 2];
    }
    at = out.writeUInt32BE(this.kicks.length / 2, at);
    for (let i = 0; i < this.kicks.length; i += 2) {
      at = out.writeDoubleBE(this.kicks[i], at);
      out[at++] = this.kicks[i + 1];
    }
    this.messages = [];
    this.index.clear();
    this.lastMessage = undefined;
    this.count = 0;
    this.encodedBytes = 0;
    if (this.encoded.length > DELIVERY_BYTES_KEPT) this.encoded = Buffer.allocUnsafe(DELIVERY_BYTES);
    this.releases = [];
    this.kicks = [];
    return out.subarray(0, at);
  }
}

/** Throws on a body that is not a deliveries frame (the link that carried it is closed). */
export function decodeDeliveries(body: Buffer, to: DeliveryTarget): void {
  const recordLength = body.readUInt32BE(0);
  let at = 4 + recordLength;
  const messages = recordLength > 0 ? decodeCommands(body.subarray(4, at)).map((c) => (c as PublishCommand).message) : [];
  const n = body.readUInt32BE(at);
  at += 4;
  for (let i = 0; i < n; i++) {
    const connectionId = body.readDoubleBE(at);
    const message = messages[body.readUInt32BE(at + 8)];
    if (message === undefined) throw new Error('delivery of a message the frame does not hold');
    const qos = body[at + 12] as QoS;
    const packetId = body.readUInt16BE(at + 13);
    const flags = body[at + 15];
    at += 16;
    const d: Delivery = { message, qos, packetId, dup: (flags & F_DUP) !== 0, retain: (flags & F_RETAIN) !== 0 };
    if (flags & F_SUB_IDS) {
      const count = body[at++];
      const ids = new Array<number>(count);
      for (let j = 0; j < count; j++, at += 4) ids[j] = body.readUInt32BE(at);
      d.subscriptionIds = ids;
    }
    if (flags & F_BACKLOG) {
      d.backlog = body.readUInt32BE(at);
      at += 4;
    }
    to.deliver(connectionId, d);
  }
  const r = body.readUInt32BE(at);
  at += 4;
  for (let i = 0; i < r; i++, at += 11) to.release(body.readDoubleBE(at), body.readUInt16BE(at + 8), body[at + 10]);
  const k = body.readUInt32BE(at);
  at += 4;
  for (let i = 0; i < k; i++, at += 9) to.kick(body.readDoubleBE(at), body[at + 8]);
}
