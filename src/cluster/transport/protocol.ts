/**
 * Frame types and body layouts of the internal protocol (version 1, see frame.ts).
 *
 *   HELLO/WELCOME/REFUSED  msgpack objects (handshake.ts)
 *   COMMANDS   u32:partition u32:n n*u32:requestId  record       front end -> back end
 *              record = partition commands in the command log's own encoding (storage/command-codec),
 *              so a publish costs on the wire what it costs in the log: no generic object walk.
 *              requestId 0 = nobody waits for the outcome (acks, QoS 0).
 *   REPLIES    msgpack [requestId, status, value, feedSeq]*              back end -> front end
 *              status 0 = the command's result, 1 = refused: value = [reasonCode, message]
 *   DELIVERIES msgpack [messages, deliveries, releases, kicks]           back end -> front end
 *              every message once per frame however many of its deliveries the frame holds
 *   REQUEST    msgpack [requestId, op, arg]                              follow / stats / route
 *   FEED       msgpack [partition, seq, reset, added, removed]          back end -> followers
 *   CHAIN_*    replication between the replicas of a partition (src/replication/chain-protocol.ts)
 *
 * Frames of one turn leave together (link.ts); every frame carries the sender's map epoch.
 */
import { Packr } from 'msgpackr';
import { decodeCommands, encodeCommands } from '../../storage/command-codec.js';
import type { Command } from '../../partition/commands.js';
import type { Delivery, Message, QoS } from '../../core/types.js';
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
  const record = encodeCommands(commands);
  const head = HEADER_BYTES + 8 + 4 * requestIds.length;
  const frame = Buffer.allocUnsafe(head + record.length);
  frame.writeUInt32BE(partition, HEADER_BYTES);
  frame.writeUInt32BE(requestIds.length, HEADER_BYTES + 4);
  for (let i = 0; i < requestIds.length; i++) frame.writeUInt32BE(requestIds[i] >>> 0, HEADER_BYTES + 8 + 4 * i);
  record.copy(frame, head);
  return frame;
}

export interface CommandsBody {
  partition: number;
  requestIds: number[];
  commands: Command[];
}

export function decodeCommandsBody(body: Buffer): CommandsBody {
  if (body.length < 8) throw new Error('COMMANDS frame too short');
  const partition = body.readUInt32BE(0);
  const n = body.readUInt32BE(4);
  if (body.length < 8 + 4 * n) throw new Error('COMMANDS frame shorter than its request ids');
  const requestIds = new Array<number>(n);
  for (let i = 0; i < n; i++) requestIds[i] = body.readUInt32BE(8 + 4 * i);
  // The record's buffers are copied out (command-codec), so a queued message does not pin the frame.
  const commands = decodeCommands(body.subarray(8 + 4 * n));
  if (commands.length !== n) throw new Error(`COMMANDS frame holds ${commands.length} commands for ${n} request ids`);
  return { partition, requestIds, commands };
}

// ---- DELIVERIES ----------------------------------------------------------------------------------

const F_DUP = 1;
const F_RETAIN = 2;

/**
 * Deliveries, PUBRELs and kicks for one front end, gathered over one event-loop turn. Messages are
 * kept by identity: the fan-out of one publish to many sessions puts its message in the frame once.
 */
export class DeliveryBatch {
  private messages: Message[] = [];
  private readonly index = new Map<Message, number>();
  private deliveries: unknown[] = [];
  private releases: number[] = [];
  private kicks: number[] = [];

  get empty(): boolean {
    return this.deliveries.length === 0 && this.releases.length === 0 && this.kicks.length === 0;
  }

  deliver(connectionId: number, d: Delivery): void {
    let mi = this.index.get(d.message);
    if (mi === undefined) {
      mi = this.messages.length;
      this.messages.push(d.message);
      this.index.set(d.message, mi);
    }
    this.deliveries.push(connectionId, mi, d.qos, d.packetId, (d.dup ? F_DUP : 0) | (d.retain ? F_RETAIN : 0), d.subscriptionIds ?? null);
  }

  release(connectionId: number, packetId: number): void {
    this.releases.push(connectionId, packetId);
  }

  kick(connectionId: number, reasonCode: number): void {
    this.kicks.push(connectionId, reasonCode);
  }

  /** The frame body; the batch is empty again afterwards. */
  take(): Buffer {
    const body = packr.pack([this.messages, this.deliveries, this.releases, this.kicks]);
    this.messages = [];
    this.index.clear();
    this.deliveries = [];
    this.releases = [];
    this.kicks = [];
    return body;
  }
}

export interface DeliveryTarget {
  deliver(connectionId: number, d: Delivery): void;
  release(connectionId: number, packetId: number): void;
  kick(connectionId: number, reasonCode: number): void;
}

export function decodeDeliveries(body: Buffer, to: DeliveryTarget): void {
  const [messages, deliveries, releases, kicks] = packr.unpack(body) as [Message[], unknown[], number[], number[]];
  for (const m of messages) if (!Buffer.isBuffer(m.payload)) m.payload = Buffer.from(m.payload as Uint8Array);
  for (let i = 0; i + 5 < deliveries.length; i += 6) {
    const flags = deliveries[i + 4] as number;
    const d: Delivery = {
      message: messages[deliveries[i + 1] as number],
      qos: deliveries[i + 2] as QoS,
      packetId: deliveries[i + 3] as number,
      dup: (flags & F_DUP) !== 0,
      retain: (flags & F_RETAIN) !== 0,
    };
    const ids = deliveries[i + 5] as number[] | null;
    if (ids) d.subscriptionIds = ids;
    to.deliver(deliveries[i] as number, d);
  }
  for (let i = 0; i + 1 < releases.length; i += 2) to.release(releases[i], releases[i + 1]);
  for (let i = 0; i + 1 < kicks.length; i += 2) to.kick(kicks[i], kicks[i + 1]);
}

// ---- FEED ------------------------------------------------------------------------------------------

/** A change of one partition's filter set: `reset` replaces everything the follower had for it. */
export interface FeedChange {
  partition: number;
  seq: number;
  reset: boolean;
  added: string[];
  removed: string[];
}

export function encodeFeed(c: FeedChange): Buffer {
  return packr.pack([c.partition, c.seq, c.reset, c.added, c.removed]);
}

export function decodeFeed(body: Buffer): FeedChange {
  const [partition, seq, reset, added, removed] = packr.unpack(body) as [number, number, boolean, string[], string[]];
  return { partition, seq, reset, added, removed };
}
