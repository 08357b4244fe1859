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
 *   DELIVERIES deliveries, PUBRELs and kicks for one front end (layout in deliveries.ts)
 *              every message once per frame however many of its deliveries the frame holds
 *   REQUEST    msgpack [requestId, op, arg]                              follow / stats / route
 *              follow: arg = partition, or [partition, feedId, seq] to resume (filter-feed.ts);
 *              its reply value = {feed, resumed}
 *   FEED       msgpack [partition, seq, reset, added, removed]          back end -> followers
 *   CHAIN_*    replication between the replicas of a partition (src/replication/chain-protocol.ts)
 *
 * Frames of one turn leave together (link.ts); every frame carries the sender's map epoch.
 */
import { Packr } from 'msgpackr';
import { decodeCommands, encodeCommands } from '../../storage/command-codec.js';
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
}

export function encodeFeed(c: FeedChange): Buffer {
  return packr.pack([c.partition, c.seq, c.reset, c.added, c.removed]);
}

export function decodeFeed(body: Buffer): FeedChange {
  const [partition, seq, reset, added, removed] = packr.unpack(body) as [number, number, boolean, string[], string[]];
  return { partition, seq, reset, added, removed };
}
