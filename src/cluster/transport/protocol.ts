/**
 * Frame types and body layouts of the internal protocol (version 1, see frame.ts).
 *
 *   HELLO/WELCOME/REFUSED  msgpack objects (handshake.ts)
 *   COMMANDS   u32:partition u32:n n*u32:requestId  record       front end -> back end
 *              record = partition commands in the command log's own encoding (storage/command-codec),
 *              so a publish costs on the wire what it costs in the log: no generic object walk.
 *              requestId 0 = nobody waits for the outcome (acks, QoS 0).
 *   REPLIES    u32:n (u32:requestId u8:status f64:feedSeq value)*n           back end -> front end
 *              status 0 = the command's result, 1 = refused: value = [reasonCode, message]
 *              value = 0x00 (null) | 0x01 publish result | 0x02 u32:length msgpack(value)
 *              publish result = i32:matched u8:flags [u8:reasonCode] [u32:backlog]
 *                flags: reasonCode (1), backlog (2), duplicate (4)
 *              A PUBACK's answer, the hottest reply, has a hand layout: in MessagePack every
 *              reply was a generic object walk in the back end and again in the front end.
 *   DELIVERIES deliveries, PUBRELs and kicks for one front end (layout in deliveries.ts)
 *              every message once per frame however many of its deliveries the frame holds
 *   REQUEST    msgpack [requestId, op, arg]                              follow / stats / route
 *              follow: arg = partition, or [partition, feedId, seq] to resume (filter-feed.ts);
 *              its reply value = {feed, resumed}
 *   FEED       msgpack [partition, seq, reset, added, removed, counts]  back end -> followers
 *              counts = [filter, sessions]* for the filters whose count changed (all of them in a reset)
 *   CHAIN_*    replication between the replicas of a partition (src/replication/chain-protocol.ts)
 *
 * Frames of one turn leave together (link.ts); every frame carries the sender's map epoch.
 */
import { Packr } from 'msgpackr';
import { decodeCommands, encodeCommands } from '../../storage/command-codec.js';
import type { PublishResult } from '../../core/types.js';
import type { Command } from '../../partition/commands.js';
import { HEADER_BYTES } from './frame.js';

export const FrameType = {
  Hello: 1,
  Welcome: 2,
  Refused: 3,
  Commands: 4,
  Replies: 5,
  Deliveries: 6,
  Request: 7,
  Feed: 8,
  /** Chain replication (src/replication/chain-protocol.ts): successor -> predecessor. */
  ChainHello: 9,
  /** Predecessor -> successor: commands with their chain sequence numbers. */
  ChainAppend: 10,
  /** Successor -> predecessor: everything up to this sequence is stored here and further down. */
  ChainAck: 11,
  /** Predecessor -> successor: state transfer (snapshot at a sequence number). */
  ChainState: 12,
  /** Predecessor -> successor: the hello was refused (not my successor in my map, stale epoch). */
  ChainRefused: 13,
} as const;

export const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export const ReplyStatus = { Ok: 0, Refused: 1 } as const;

// ---- COMMANDS --------------------------------------------------------------------------------------

/** One buffer: room for the frame header, then the body, so the link writes it in one piece. */
export function encodeCommandsFrame(partition: number, requestIds: number[], commands: Command[]): Buffer {
  const head = HEADER_BYTES + 8 + 4 * requestIds.length;
  // The record is encoded in place after the head (no second buffer and copy); the rare record
  // that is not (v8 form, see command-codec) is copied.
  let frame: Buffer | undefined;
  const record = encodeCommands(commands, (bound) => (frame = Buffer.allocUnsafe(head + bound)).subarray(head));
  if (frame === undefined || record.buffer !== frame.buffer || record.byteOffset !== frame.byteOffset + head) {
    frame = Buffer.allocUnsafe(head + record.length);
    record.copy(frame, head);
  }
  frame.writeUInt32BE(partition, HEADER_BYTES);
  frame.writeUInt32BE(requestIds.length, HEADER_BYTES + 4);
  for (let i = 0; i < requestIds.length; i++) frame.writeUInt32BE(requestIds[i] >>> 0, HEADER_BYTES + 8 + 4 * i);
  return frame.subarray(0, head + record.length);
}

export interface CommandsBody {
  partition: number;
  requestIds: number[];
  commands: Command[];
  /** The commands as encoded (a view of the frame), for a log that takes them as they are. */
  record: Buffer;
  /** Where each command's `now` is in `record` (-1: not there), so the receiver can stamp it. */
  nowAt: number[];
}

export function decodeCommandsBody(body: Buffer): CommandsBody {
  if (body.length < 8) throw new Error('COMMANDS frame too short');
  const partition = body.readUInt32BE(0);
  const n = body.readUInt32BE(4);
  if (body.length < 8 + 4 * n) throw new Error('COMMANDS frame shorter than its request ids');
  const requestIds = new Array<number>(n);
  for (let i = 0; i < n; i++) requestIds[i] = body.readUInt32BE(8 + 4 * i);
  // The record's buffers are copied out (command-codec), so a queued message does not pin the frame.
  const record = body.subarray(8 + 4 * n);
  const nowAt: number[] = [];
  const commands = decodeCommands(record, nowAt);
  if (commands.length !== n) throw new Error(`COMMANDS frame holds ${commands.length} commands for ${n} request ids`);
  return { partition, requestIds, commands, record, nowAt };
}

// ---- REPLIES ---------------------------------------------------------------------------------------

const V_NULL = 0;
const V_PUBLISH = 1;
const V_PACKED = 2;
const P_REASON = 1;
const P_BACKLOG = 2;
const P_DUPLICATE = 4;

/** A PublishResult with nothing else in it, and fields that fit the hand layout. */
function isPublishResult(v: unknown): v is PublishResult {
  if (v === null || typeof v !== 'object') return false;
  const r = v as Record<string, unknown>;
  for (const k in r) if (k !== 'matched' && k !== 'reasonCode' && k !== 'duplicate' && k !== 'backlog') return false;
  const { matched, reasonCode, duplicate, backlog } = r;
  return (
    Number.isInteger(matched) &&
    (matched as number) >= -0x80000000 &&
    (matched as number) <= 0x7fffffff &&
    (reasonCode === undefined || (Number.isInteger(reasonCode) && (reasonCode as number) >= 0 && (reasonCode as number) <= 0xff)) &&
    (duplicate === undefined || typeof duplicate === 'boolean') &&
    (backlog === undefined || (Number.isInteger(backlog) && (backlog as number) >= 0 && (backlog as number) <= 0xffffffff))
  );
}

/** `flat` = [requestId, status, value, feedSeq]*; the REPLIES body. */
export function encodeReplies(flat: unknown[]): Buffer {
  const n = flat.length / 4;
  let size = 4 + n * (4 + 1 + 8 + 1 + 4 + 1 + 1 + 4);
  let packed: Array<Buffer | undefined> | undefined;
  for (let i = 0; i < n; i++) {
    const v = flat[4 * i + 2];
    if (v === null || v === undefined || isPublishResult(v)) continue;
    const p = packr.pack(v);
    (packed ??= [])[i] = p;
    size += 4 + p.length;
  }
  const out = Buffer.allocUnsafe(size);
  let at = out.writeUInt32BE(n, 0);
  for (let i = 0; i < n; i++) {
    at = out.writeUInt32BE((flat[4 * i] as number) >>> 0, at);
    out[at++] = flat[4 * i + 1] as number;
    at = out.writeDoubleBE(flat[4 * i + 3] as number, at);
    const v = flat[4 * i + 2];
    const p = packed?.[i];
    if (p !== undefined) {
      out[at++] = V_PACKED;
      at = out.writeUInt32BE(p.length, at);
      at += p.copy(out, at);
    } else if (v === null || v === undefined) {
      out[at++] = V_NULL;
    } else {
      const r = v as PublishResult;
      out[at++] = V_PUBLISH;
      at = out.writeInt32BE(r.matched, at);
      out[at++] = (r.reasonCode !== undefined ? P_REASON : 0) | (r.backlog !== undefined ? P_BACKLOG : 0) | (r.duplicate ? P_DUPLICATE : 0);
      if (r.reasonCode !== undefined) out[at++] = r.reasonCode;
      if (r.backlog !== undefined) at = out.writeUInt32BE(r.backlog, at);
    }
  }
  return out.subarray(0, at);
}

/** The REPLIES body as [requestId, status, value, feedSeq]*; throws on a body that is not one. */
export function decodeReplies(body: Buffer): unknown[] {
  const n = body.readUInt32BE(0);
  const flat = new Array<unknown>(4 * n);
  let at = 4;
  for (let i = 0; i < n; i++) {
    flat[4 * i] = body.readUInt32BE(at);
    flat[4 * i + 1] = body[at + 4];
    flat[4 * i + 3] = body.readDoubleBE(at + 5);
    const kind = body[at + 13];
    at += 14;
    if (kind === V_NULL) {
      flat[4 * i + 2] = null;
    } else if (kind === V_PUBLISH) {
      const r: PublishResult = { matched: body.readInt32BE(at) };
      const flags = body[at + 4];
      at += 5;
      if (flags & P_REASON) r.reasonCode = body[at++];
      if (flags & P_BACKLOG) {
        r.backlog = body.readUInt32BE(at);
        at += 4;
      }
      if (flags & P_DUPLICATE) r.duplicate = true;
      flat[4 * i + 2] = r;
    } else if (kind === V_PACKED) {
      const length = body.readUInt32BE(at);
      at += 4;
      if (at + length > body.length) throw new Error('REPLIES value runs past the frame');
      flat[4 * i + 2] = packr.unpack(body.subarray(at, at + length));
      at += length;
    } else {
      throw new Error(`REPLIES value of unknown kind ${kind}`);
    }
  }
  return flat;
}

// ---- DELIVERIES: deliveries.ts (hand layout) ---------------------------------------------------

export { DeliveryBatch, decodeDeliveries, type DeliveryTarget } from './deliveries.js';

// ---- FEED ------------------------------------------------------------------------------------------

/** A change of one partition's filter set: `reset` replaces everything the follower had for it. */
export interface FeedChange {
  partition: number;
  seq: number;
  reset: boolean;
  added: string[];
  removed: string[];
  /**
   * How many of the partition's sessions subscribe to each filter whose count changed (every
   * filter in a reset), flat: [filter, count]*. A front end compares them with its own live
   * subscribers to tell when a QoS 0 message has nobody else to go to (direct-qos0.ts). A feed
   * without them (an older back end) leaves the counts unknown.
   */
  counts?: Array<string | number>;
}

export function encodeFeed(c: FeedChange): Buffer {
  return packr.pack([c.partition, c.seq, c.reset, c.added, c.removed, c.counts ?? []]);
}

export function decodeFeed(body: Buffer): FeedChange {
  const [partition, seq, reset, added, removed, counts] = packr.unpack(body) as [number, number, boolean, string[], string[], Array<string | number> | undefined];
  return counts === undefined || counts.length === 0 ? { partition, seq, reset, added, removed } : { partition, seq, reset, added, removed, counts };
}
