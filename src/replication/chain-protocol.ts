/**
 * Frames between the replicas of one partition's chain (types in cluster/transport/protocol.ts).
 * The successor dials its predecessor, so a replica only ever listens (the back end's internal
 * port) and a chain re-forms by the downstream side calling up after every map change.
 *
 *   CHAIN_HELLO    msgpack [partition, lineage, lastSeq]        successor -> predecessor
 *                  lastSeq -1: "I hold nothing, send state"; lineage: the history my state belongs to
 *   CHAIN_APPEND   u32:partition f64:firstSeq record            predecessor -> successor
 *                  record = the commands, `now` stamped by the head, in the command log's encoding
 *   CHAIN_ACK      msgpack [partition, seq]                     successor -> predecessor (encodeAck)
 *   CHAIN_STATE    msgpack [partition, lineage, seq, snapshot]  predecessor -> successor
 *   CHAIN_REFUSED  msgpack [partition, reason]                  predecessor -> successor
 *
 * Every frame carries the sender's map epoch in its header; a replica refuses frames of an epoch
 * older than the map that last changed its chain.
 */
import { decodeCommands, encodeCommands } from '../storage/command-codec.js';
import type { Command } from '../partition/commands.js';
import { HEADER_BYTES } from '../cluster/transport/frame.js';

/** The frame, and the record inside it (a view of the frame's memory: the log may store the same bytes). */
export function encodeAppend(partition: number, firstSeq: number, commands: Command[]): { frame: Buffer; record: Buffer } {
  let frame: Buffer | undefined;
  // Encoded straight into the frame: no copy of the record.
  const record = encodeCommands(commands, (bound) => (frame = Buffer.allocUnsafe(HEADER_BYTES + 12 + bound)).subarray(HEADER_BYTES + 12));
  if (frame === undefined) {
    // The rare record that is not framed (v8-serialized) comes back in memory of its own.
    frame = Buffer.allocUnsafe(HEADER_BYTES + 12 + record.length);
    record.copy(frame, HEADER_BYTES + 12);
  }
  frame.writeUInt32BE(partition, HEADER_BYTES);
  frame.writeDoubleBE(firstSeq, HEADER_BYTES + 4);
  return { frame: frame.subarray(0, HEADER_BYTES + 12 + record.length), record };
}

/**
 * CHAIN_ACK as one frame buffer, its body the MessagePack array [partition, seq] written by hand
 * (uint32, float64): a tail sends one per storage answer, and msgpackr's generic pack was ~2 % of
 * its CPU at 5,000 commands/s. Any MessagePack reader reads it as before.
 */
export function encodeAck(partition: number, seq: number): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_BYTES + 15);
  frame[HEADER_BYTES] = 0x92;
  frame[HEADER_BYTES + 1] = 0xce;
  frame.writeUInt32BE(partition, HEADER_BYTES + 2);
  frame[HEADER_BYTES + 6] = 0xcb;
  frame.writeDoubleBE(seq, HEADER_BYTES + 7);
  return frame;
}

export function appendPartition(body: Buffer): number {
  if (body.length < 12) throw new Error('CHAIN_APPEND frame too short');
  return body.readUInt32BE(0);
}

export function decodeAppend(body: Buffer): { partition: number; firstSeq: number; commands: Command[]; record: Buffer } {
  if (body.length < 12) throw new Error('CHAIN_APPEND frame too short');
  const record = body.subarray(12);
  return { partition: body.readUInt32BE(0), firstSeq: body.readDoubleBE(4), commands: decodeCommands(record), record };
}
