/**
 * How a group commit's commands become one log record, and back.
 *
 * A record is a frame of entries. PUBLISH and ACK, nearly every command a running broker logs,
 * have a fixed binary layout written here by hand; every other command is one MessagePack
 * (msgpackr) value. Profiled in `os` mode, msgpackr's generic object walk was the single largest
 * cost on the broker's main thread (~23 % of samples under QoS 1 fan-in of 64 B messages); the
 * fixed layouts cost a fraction of it. Equivalence with applying the commands directly is
 * property-tested (test/unit/storage/command-codec.test.ts).
 *
 * v8.serialize is read too: records written by earlier versions, and the rare batch whose user
 * property names MessagePack cannot carry exactly (see `needsV8`). It is not the main encoding
 * because a v8 Serializer keeps everything it serialized alive until a full GC: every logged
 * message was promoted to the old generation (4-6 ms scavenges that set the p99 latency).
 *
 *   record  = 0x02 entry*                       (0x01: the same without string references, still read)
 *           | 0x03 (u32:length record)*         records joined: a cluster back end logs a front end's
 *                                               COMMANDS frame as it came (its own string numbers), see joinRecords
 *   entry   = 0x01 publish | 0x02 ack | 0x03 u32:length msgpack(command) | 0x04 publish extension | 0x05 ackRun
 *           | 0x06 acks
 *   publish = f64:now u8:flags [u16:packetId] [f64:expiresAt] str:clientId str:topic [str:origin]
 *             u32:length payload [u32:length msgpack(properties)]
 *             flags: qos (bits 0-1), retain (2), packetId (3), expiresAt (4), expiryHidden (5),
 *             properties (6), origin is the clientId (7: no origin field)
 *   extension = u8:xflags [u16:length utf8 key] [u16:n str*n groups] [u32:direct] [f64:directBelow]
 *             xflags: key (0), groups (1), groupsOnly (2), direct (3), directBelow (4). A cluster's publishes carry an
 *             idempotency key (every QoS 1/2 append) and share groups; in the generic MessagePack
 *             form they cost the front end, the back end's decoder and its log encoder a generic
 *             object walk per message. The key is unique per message: written without a string number.
 *   ack     = f64:now f64:connectionId u16:packetId u8:kind u8:reasonCode str:clientId
 *   ackRun  = f64:now f64:connectionId u8:kind str:clientId u16:n (u16:packetId u8:reasonCode)*n
 *             consecutive acks of one connection, kind and time: a subscriber's PUBACKs read from one
 *             socket chunk (20 per message in a cluster's fan-out, one per message in its fan-in).
 *             Each cost 24 bytes and two f64 writes and reads as an ack entry; in a run, 3 bytes.
 *   acks    = the layout of ackRun, for an AcksCommand: read back as that one command, where a run
 *             reads back as its AckCommands (a cluster's COMMANDS frame pairs every decoded command
 *             with a request id, so decoding must give the commands that were encoded)
 *   str     = 0x00 u16:length utf8      a new string: the record's string number n, counting from 0
 *           | 0x01 u16:n                 string number n again
 *
 * String references: a group commit repeats the same few client ids and topics hundreds of times
 * (every PUBACK of one subscriber names it); writing each once per record took a third of the
 * encoder's time and of the record's bytes.
 */
import v8 from 'node:v8';
import { Packr } from 'msgpackr';
import type { AckKind } from '../core/broker-core.js';
import type { Message, QoS } from '../core/types.js';
import type { AckCommand, AcksCommand, Command, PublishCommand } from '../partition/commands.js';
import { writeUtf8 } from '../util/write-utf8.js';

// Records (msgpackr's key-list compression) are defined inside each value, so every value decodes
// on its own with a fresh decoder. Buffers are copied out on decode so a recovered message does
// not pin its whole log record in memory.
const packr = new Packr({ useRecords: true, copyBuffers: true, mapsAsObjects: true });

const V8_SERIALIZED = 0xff; // first byte of every v8.serialize output
const FRAMED_PLAIN = 0x01;
const FRAMED = 0x02;
const JOINED = 0x03;
const STR_NEW = 0x00;
const STR_REF = 0x01;
const PUBLISH = 0x01;
const ACK = 0x02;
const PACKED = 0x03;
const PUBLISH_EXT = 0x04;
const ACK_RUN = 0x05;
const ACKS = 0x06;
/** At most this many acks in one run (its u16 count), or in one AcksCommand written in the hand layout. */
export const ACK_RUN_MAX = 0xffff;
const X_KEY = 1;
const X_GROUPS = 2;
const X_GROUPS_ONLY = 4;
const X_DIRECT = 8;
const X_DIRECT_BELOW = 16;

const F_RETAIN = 1 << 2;
const F_PACKET_ID = 1 << 3;
const F_EXPIRES = 1 << 4;
const F_EXPIRY_HIDDEN = 1 << 5;
const F_PROPERTIES = 1 << 6;
const F_ORIGIN_IS_CLIENT = 1 << 7;

const ACK_KINDS: readonly AckKind[] = ['puback', 'pubrec', 'pubcomp'];

// The hand layouts must carry every field: adding one to these types without adding it here fails
// to compile.
type Exhaustive<T, Known extends keyof T> = Exclude<keyof T, Known> extends never ? true : never;
const MESSAGE_FIELDS: Exhaustive<Message, 'topic' | 'payload' | 'qos' | 'retain' | 'origin' | 'expiresAt' | 'expiryHidden' | 'properties'> = true;
// `groups` (a cluster's share-group selection) and `key` (a cluster append's idempotency key) are
// written in the packed form: see encodeCommands.
const PUBLISH_FIELDS: Exhaustive<PublishCommand, 'type' | 'now' | 'clientId' | 'message' | 'packetId' | 'groups' | 'groupsOnly' | 'key' | 'direct' | 'directBelow'> = true;
const ACK_FIELDS: Exhaustive<AckCommand, 'type' | 'now' | 'clientId' | 'connectionId' | 'packetId' | 'kind' | 'reasonCode'> = true;
const ACKS_FIELDS: Exhaustive<AcksCommand, 'type' | 'now' | 'clientId' | 'connectionId' | 'kind' | 'packetIds' | 'reasonCodes'> = true;
void [MESSAGE_FIELDS, PUBLISH_FIELDS, ACK_FIELDS, ACKS_FIELDS];

/**
 * `alloc` gives the memory for the record, at least `bound` bytes; the default never comes from
 * Buffer's shared pool, so the record's memory is its own and a store may hand it to another
 * thread without a copy (PartitionStore.append). A store that copies during append lets the
 * caller pass reused memory instead.
 */
export function encodeCommands(commands: Command[], alloc: (bound: number) => Buffer = Buffer.allocUnsafeSlow): Buffer {
  // Pass 1: an upper bound of the size (UTF-8 is at most 3 bytes per UTF-16 unit) and the packed
  // parts, so pass 2 writes into one buffer without growing it.
  let bound = 1;
  let packed: Array<Uint8Array | undefined> | undefined;
  for (let i = 0; i < commands.length; i++) {
    const c = commands[i];
    if (c.type === 'publish') {
      const m = c.message;
      bound += 1 + 8 + 1 + 2 + 8 + 9 + 3 * (c.clientId.length + m.topic.length + m.origin.length) + 4 + m.payload.length;
      if (c.key !== undefined || c.groups !== undefined || c.groupsOnly || c.direct !== undefined) {
        bound += 1 + (c.key !== undefined ? 2 + 3 * c.key.length : 0) + (c.direct !== undefined ? 4 : 0) + (c.directBelow !== undefined ? 8 : 0);
        if (c.groups !== undefined) {
          bound += 2;
          for (let g = 0; g < c.groups.length; g++) bound += 3 + 3 * c.groups[g].length;
        }
      }
      if (m.properties !== undefined) {
        if (hasProtoKey(m.properties)) return v8.serialize(commands);
        const p = packr.pack(m.properties);
        (packed ??= [])[i] = p;
        bound += 4 + p.length;
      }
    } else if (c.type === 'ack') {
      bound += 1 + 8 + 8 + 2 + 1 + 1 + 3 + 3 * c.clientId.length;
    } else if (c.type === 'acks' && c.packetIds.length > 0 && c.packetIds.length <= ACK_RUN_MAX) {
      bound += 1 + 8 + 8 + 1 + 3 + 3 * c.clientId.length + 2 + 3 * c.packetIds.length;
    } else {
      if (c.type === 'connect' && c.will && hasProtoKey(c.will.message.properties)) return v8.serialize(commands);
      const p = packr.pack(c);
      (packed ??= [])[i] = p;
      bound += 1 + 4 + p.length;
    }
  }
  const out = alloc(bound);
  out[0] = FRAMED;
  let at = 1;
  const strings = STRING_REFS;
  strings.reset();
  for (let i = 0; i < commands.length; i++) {
    const c = commands[i];
    if (c.type === 'publish') {
      const m = c.message;
      const props = packed?.[i];
      const ext = c.key !== undefined || c.groups !== undefined || c.groupsOnly === true || c.direct !== undefined;
      out[at++] = ext ? PUBLISH_EXT : PUBLISH;
      at = out.writeDoubleLE(c.now, at);
      out[at++] =
        m.qos |
        (m.retain ? F_RETAIN : 0) |
        (c.packetId !== undefined ? F_PACKET_ID : 0) |
        (m.expiresAt !== undefined ? F_EXPIRES : 0) |
        (m.expiryHidden ? F_EXPIRY_HIDDEN : 0) |
        (props !== undefined ? F_PROPERTIES : 0) |
        (m.origin === c.clientId ? F_ORIGIN_IS_CLIENT : 0);
      if (c.packetId !== undefined) at = out.writeUInt16LE(c.packetId, at);
      if (m.expiresAt !== undefined) at = out.writeDoubleLE(m.expiresAt, at);
      at = writeString(out, at, c.clientId, strings);
      at = writeString(out, at, m.topic, strings);
      if (m.origin !== c.clientId) at = writeString(out, at, m.origin, strings);
      at = writeBytes(out, at, m.payload);
      if (props !== undefined) at = writeBytes(out, at, props);
      if (ext) at = writeExtension(out, at, c, strings);
    } else if (c.type === 'ack') {
      const end = ackRunEnd(commands, i, c);
      if (end === i + 1) {
        out[at++] = ACK;
        at = out.writeDoubleLE(c.now, at);
        at = out.writeDoubleLE(c.connectionId, at);
        at = out.writeUInt16LE(c.packetId, at);
        out[at++] = ACK_KINDS.indexOf(c.kind);
        out[at++] = c.reasonCode;
        at = writeString(out, at, c.clientId, strings);
        continue;
      }
      at = writeAckHead(out, at, ACK_RUN, c, end - i, strings);
      for (let j = i; j < end; j++) {
        const a = commands[j] as AckCommand;
        out[at++] = a.packetId;
        out[at++] = a.packetId >>> 8;
        out[at++] = a.reasonCode;
      }
      i = end - 1;
    } else if (packed?.[i] === undefined && c.type === 'acks') {
      const n = c.packetIds.length;
      at = writeAckHead(out, at, ACKS, c, n, strings);
      for (let j = 0; j < n; j++) {
        const id = c.packetIds[j];
        out[at++] = id;
        out[at++] = id >>> 8;
        out[at++] = c.reasonCodes[j];
      }
    } else {
      out[at++] = PACKED;
      at = writeBytes(out, at, packed![i]!);
    }
  }
  return out.subarray(0, at);
}

/**
 * `nowAt`, when given, gets for each command the offset in `record` of its `now` (an f64 the
 * caller may overwrite to stamp the command), or -1 where it has none there (a MessagePack entry).
 */
export function decodeCommands(record: Buffer, nowAt?: number[]): Command[] {
  if (record[0] === V8_SERIALIZED) return v8.deserialize(record) as Command[];
  if (record[0] === JOINED) return decodeJoined(record);
  if (record[0] !== FRAMED && record[0] !== FRAMED_PLAIN) {
    throw new Error(`log record starts with 0x${record[0]?.toString(16) ?? '(nothing)'}, not a command frame`);
  }
  const r = new Reader(record, 1, record[0] === FRAMED);
  const commands: Command[] = [];
  while (r.at < record.length) {
    const tag = r.u8();
    if (tag === PUBLISH || tag === PUBLISH_EXT) {
      nowAt?.push(r.at);
      const now = r.f64();
      const flags = r.u8();
      const packetId = flags & F_PACKET_ID ? r.u16() : undefined;
      const expiresAt = flags & F_EXPIRES ? r.f64() : undefined;
      const clientId = r.str();
      const topic = r.str();
      const origin = flags & F_ORIGIN_IS_CLIENT ? clientId : r.str();
      const payload = r.bytesCopy();
      const message: Message = { topic, payload, qos: (flags & 3) as QoS, retain: (flags & F_RETAIN) !== 0, origin };
      if (expiresAt !== undefined) message.expiresAt = expiresAt;
      if (flags & F_EXPIRY_HIDDEN) message.expiryHidden = true;
      if (flags & F_PROPERTIES) message.properties = packr.unpack(r.bytesView()) as Message['properties'];
      const cmd: PublishCommand = { type: 'publish', now, clientId, message };
      if (packetId !== undefined) cmd.packetId = packetId;
      if (tag === PUBLISH_EXT) readExtension(r, cmd);
      commands.push(cmd);
    } else if (tag === ACK) {
      nowAt?.push(r.at);
      const now = r.f64();
      const connectionId = r.f64();
      const packetId = r.u16();
      const kind = ACK_KINDS[r.u8()];
      if (kind === undefined) throw new Error('ack entry with an unknown kind');
      const reasonCode = r.u8();
      commands.push({ type: 'ack', now, clientId: r.str(), connectionId, packetId, kind, reasonCode });
    } else if (tag === ACK_RUN || tag === ACKS) {
      const what = tag === ACKS ? 'acks entry' : 'ack run';
      const nowOffset = r.at;
      const now = r.f64();
      const connectionId = r.f64();
      const kind = ACK_KINDS[r.u8()];
      if (kind === undefined) throw new Error(`${what} with an unknown kind`);
      const clientId = r.str();
      const n = r.u16();
      if (n === 0) throw new Error(`empty ${what} at offset ${nowOffset - 1}`);
      if (tag === ACKS) {
        nowAt?.push(nowOffset);
        const packetIds = new Array<number>(n);
        const reasonCodes = new Array<number>(n);
        for (let k = 0; k < n; k++) {
          packetIds[k] = r.u16();
          reasonCodes[k] = r.u8();
        }
        commands.push({ type: 'acks', now, clientId, connectionId, kind, packetIds, reasonCodes });
        continue;
      }
      for (let k = 0; k < n; k++) {
        nowAt?.push(nowOffset);
        const packetId = r.u16();
        commands.push({ type: 'ack', now, clientId, connectionId, packetId, kind, reasonCode: r.u8() });
      }
    } else if (tag === PACKED) {
      nowAt?.push(-1);
      const cmd = packr.unpack(r.bytesView()) as Command;
      if (typeof cmd !== 'object' || cmd === null || typeof cmd.type !== 'string') throw new Error('packed entry is not a command');
      commands.push(cmd);
    } else {
      throw new Error(`unknown entry tag 0x${tag.toString(16)} at offset ${r.at - 1}`);
    }
  }
  return commands;
}

/** Where the run of acks starting at `i` ends: the same connection, kind and time (exclusive index). */
function ackRunEnd(commands: Command[], i: number, first: AckCommand): number {
  const limit = Math.min(commands.length, i + ACK_RUN_MAX);
  let j = i + 1;
  while (j < limit) {
    const c = commands[j];
    if (c.type !== 'ack' || !sameAckHead(c, first)) break;
    j++;
  }
  return j;
}

function decodeJoined(record: Buffer): Command[] {
  const commands: Command[] = [];
  let at = 1;
  while (at < record.length) {
    if (at + 4 > record.length) throw new Error(`log record truncated at offset ${at} (needs 4 more bytes)`);
    const n = record.readUInt32LE(at);
    if (at + 4 + n > record.length) throw new Error(`log record truncated at offset ${at + 4} (needs ${n} more bytes)`);
    const part = record.subarray(at + 4, at + 4 + n);
    if (part[0] === JOINED) throw new Error(`joined record nested at offset ${at + 4}`);
    for (const c of decodeCommands(part)) commands.push(c);
    at += 4 + n;
  }
  return commands;
}

/**
 * One log record of several encoded ones, in order, in memory from `alloc` (see encodeCommands).
 * A single record is copied as it is. Records keep their own string numbers, so a back end can log
 * a frame's record without encoding its commands again.
 */
export function joinRecords(parts: Buffer[], alloc: (bound: number) => Buffer = Buffer.allocUnsafeSlow): Buffer {
  if (parts.length === 1) {
    const out = alloc(parts[0].length);
    parts[0].copy(out, 0);
    return out.subarray(0, parts[0].length);
  }
  let bound = 1;
  for (const p of parts) bound += 4 + p.length;
  const out = alloc(bound);
  out[0] = JOINED;
  let at = 1;
  for (const p of parts) {
    at = out.writeUInt32LE(p.length, at);
    at += p.copy(out, at);
  }
  return out.subarray(0, at);
}

function writeExtension(out: Buffer, at: number, c: PublishCommand, strings: StringRefs): number {
  out[at++] = (c.key !== undefined ? X_KEY : 0) | (c.groups !== undefined ? X_GROUPS : 0) | (c.groupsOnly ? X_GROUPS_ONLY : 0) | (c.direct !== undefined ? X_DIRECT : 0) | (c.directBelow !== undefined ? X_DIRECT_BELOW : 0);
  if (c.key !== undefined) {
    const n = writeUtf8(out, at + 2, c.key);
    out[at] = n;
    out[at + 1] = n >>> 8;
    at += 2 + n;
  }
  if (c.groups !== undefined) {
    const n = c.groups.length;
    out[at] = n;
    out[at + 1] = n >>> 8;
    at += 2;
    for (let g = 0; g < n; g++) at = writeString(out, at, c.groups[g], strings);
  }
  if (c.direct !== undefined) at = out.writeUInt32LE(c.direct, at);
  if (c.directBelow !== undefined) at = out.writeDoubleLE(c.directBelow, at);
  return at;
}

function readExtension(r: Reader, cmd: PublishCommand): void {
  const x = r.u8();
  if (x & X_KEY) cmd.key = r.plainStr();
  if (x & X_GROUPS) {
    const n = r.u16();
    const groups = new Array<string>(n);
    for (let g = 0; g < n; g++) groups[g] = r.str();
    cmd.groups = groups;
  }
  if (x & X_GROUPS_ONLY) cmd.groupsOnly = true;
  if (x & X_DIRECT) cmd.direct = r.u32();
  if (x & X_DIRECT_BELOW) cmd.directBelow = r.f64();
}

/**
 * The strings a record being encoded already holds, for back-references (their index, u16). One
 * table serves every encode (they never nest): a record of a few commands, which is what most group
 * commits are, searches a short array and allocates nothing; a longer one moves to a Map.
 */
class StringRefs {
  /** The first `n` entries are this record's; the array keeps its memory from one record to the next. */
  private readonly list: string[] = [];
  private n = 0;
  private map: Map<string, number> | undefined;

  reset(): void {
    this.n = 0;
    this.map = undefined;
  }

  /** The index of `s` when the record holds it already; otherwise -1, and `s` is written now (and numbered, while there is room). */
  refOrAdd(s: string): number {
    const map = this.map;
    if (map !== undefined) {
      const ref = map.get(s);
      if (ref !== undefined) return ref;
      if (map.size <= 0xffff) map.set(s, map.size);
      return -1;
    }
    const list = this.list;
    const n = this.n;
    for (let i = 0; i < n; i++) if (list[i] === s) return i;
    if (n < SHORT_TABLE) {
      list[n] = s;
      this.n = n + 1;
      return -1;
    }
    const m = new Map<string, number>();
    for (let i = 0; i < n; i++) m.set(list[i], i);
    m.set(s, n);
    this.map = m;
    return -1;
  }
}

/** Strings searched one by one before the table becomes a Map. */
const SHORT_TABLE = 16;
const STRING_REFS = new StringRefs();

/** What an ack run and an acks entry write once for all of their acks. */
type AckHead = Pick<AckCommand, 'now' | 'connectionId' | 'kind' | 'clientId'>;

/** Acks that may travel under one head (a run here, one AcksCommand on a front end's link). */
export function sameAckHead(a: AckHead, b: AckHead): boolean {
  return a.connectionId === b.connectionId && a.clientId === b.clientId && a.kind === b.kind && a.now === b.now;
}

/** The head an ack run and an acks entry share; `n` acks (u16:packetId u8:reasonCode each) follow it. */
function writeAckHead(out: Buffer, at: number, tag: number, a: AckHead, n: number, strings: StringRefs): number {
  out[at++] = tag;
  at = out.writeDoubleLE(a.now, at);
  at = out.writeDoubleLE(a.connectionId, at);
  out[at++] = ACK_KINDS.indexOf(a.kind);
  at = writeString(out, at, a.clientId, strings);
  out[at++] = n;
  out[at++] = n >>> 8;
  return at;
}

function writeString(out: Buffer, at: number, s: string, strings: StringRefs): number {
  const ref = strings.refOrAdd(s);
  if (ref >= 0) {
    out[at] = STR_REF;
    out[at + 1] = ref;
    out[at + 2] = ref >>> 8;
    return at + 3;
  }
  out[at] = STR_NEW;
  const n = writeUtf8(out, at + 3, s);
  out[at + 1] = n;
  out[at + 2] = n >>> 8;
  return at + 3 + n;
}

function writeBytes(out: Buffer, at: number, bytes: Uint8Array): number {
  const n = bytes.length;
  out[at] = n;
  out[at + 1] = n >>> 8;
  out[at + 2] = n >>> 16;
  out[at + 3] = n >>> 24;
  out.set(bytes, at + 4);
  return at + 4 + n;
}

/** Bounds-checked reads: a truncated or damaged record is an error naming the offset, never garbage. */
class Reader {
  /** Strings of this record so far, for references (records without them: undefined). */
  private readonly strings: string[] | undefined;
  private view: DataView | undefined;

  constructor(
    private readonly buf: Buffer,
    public at: number,
    references: boolean,
  ) {
    this.strings = references ? [] : undefined;
  }

  private take(n: number): number {
    const from = this.at;
    if (from + n > this.buf.length) throw new Error(`log record truncated at offset ${from} (needs ${n} more bytes)`);
    this.at = from + n;
    return from;
  }

  u8(): number {
    return this.buf[this.take(1)];
  }
  // Plain byte and DataView reads: Buffer's readUInt16LE/readDoubleLE validate their offset again
  // (take() already did), 3-4x the cost; decoding runs for every command a back end receives and
  // every delivery a front end receives.
  u16(): number {
    const at = this.take(2);
    return this.buf[at] | (this.buf[at + 1] << 8);
  }
  u32(): number {
    const at = this.take(4);
    const b = this.buf;
    return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16)) + b[at + 3] * 0x1000000;
  }
  f64(): number {
    const at = this.take(8);
    return (this.view ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length)).getFloat64(at, true);
  }
  str(): string {
    if (this.strings === undefined) return this.utf8();
    const tag = this.u8();
    if (tag === STR_NEW) {
      const s = this.utf8();
      this.strings.push(s);
      return s;
    }
    if (tag !== STR_REF) throw new Error(`unknown string tag 0x${tag.toString(16)} at offset ${this.at - 1}`);
    const s = this.strings[this.u16()];
    if (s === undefined) throw new Error(`reference to a string not yet in the record at offset ${this.at - 2}`);
    return s;
  }
  /** A string written without a string number (u16 length, UTF-8). */
  plainStr(): string {
    return this.utf8();
  }
  private utf8(): string {
    const n = this.u16();
    const from = this.take(n);
    return this.buf.toString('utf8', from, from + n);
  }
  bytesView(): Buffer {
    const at = this.take(4);
    const b = this.buf;
    const n = (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16)) + b[at + 3] * 0x1000000;
    const from = this.take(n);
    return this.buf.subarray(from, from + n);
  }
  bytesCopy(): Buffer {
    const view = this.bytesView();
    const copy = Buffer.allocUnsafe(view.length); // Buffer.from(view) takes its generic array-like path
    copy.set(view);
    return copy;
  }
}

/**
 * MessagePack maps decode into plain objects, where a key named `__proto__` cannot be an own key
 * (msgpackr renames it). User property names are the only object keys a client chooses; a batch
 * carrying such a name keeps the v8 encoding, which preserves it exactly.
 */
function hasProtoKey(props: Message['properties']): boolean {
  return props?.userProperties !== undefined && Object.hasOwn(props.userProperties, '__proto__');
}
