/**
 * Requests from SqliteStore to its worker thread, and the replies. Appends travel through the
 * shared ring (shared-ring.ts) as APPEND entries; every other request (and an append too big for
 * the ring) is posted on a MessagePort and announced by a PORT entry, so all requests reach the
 * worker in call order. Answers come back in order: appends that succeeded only as a count in
 * shared memory (ANSWERED), everything else as a message on a port of their own.
 */
import type { MessagePort } from 'node:worker_threads';

export type PortRequest =
  | { op: 'open'; file: string; create: boolean; format: string; journal: 'wal' | 'rollback' }
  | { op: 'read'; after: number; limit: number }
  | { op: 'append'; records: Array<{ seq: number; count: number; record: Uint8Array }>; sync: boolean }
  | { op: 'snapshot'; seq: number; data: Uint8Array; sync: boolean }
  | { op: 'close' };

export type StoreReply =
  | { kind: 'opened'; format: string; snapshot?: Uint8Array; snapshotSeq: number }
  /** The file is SQLite but has no edgemq tables or format marker. */
  | { kind: 'foreign' }
  | { kind: 'rows'; rows: Array<{ seq: number; count: number; record: Uint8Array }> }
  | { kind: 'done' }
  | { kind: 'error'; message: string; code?: string };

/**
 * What the worker posts back: `reply` answers `count` requests from request number `first` on
 * (numbers wrap at 2^32). Appends that succeeded are not posted, only counted in ANSWERED; a
 * message with count 0 only wakes an idle event loop.
 */
export interface ReplyMessage {
  first: number;
  count: number;
  reply: StoreReply;
}

/** Int32 slots of `WorkerData.signals`. */
export const ANSWERED = 0;
/** Set by the event loop while it looks at ANSWERED on its own; clear: post a message to wake it. */
export const POLLING = 1;
/**
 * Set by the worker while it sleeps or waits out the commit spacing: no answer comes before it
 * wakes, so the event loop does not poll for one (it is sent a message instead).
 */
export const RESTING = 2;
export const SIGNAL_SLOTS = 3;

export interface WorkerData {
  control: SharedArrayBuffer;
  data: SharedArrayBuffer;
  /** Requests other than appends, main thread to worker. */
  port: MessagePort;
  /** Replies, worker to main thread. */
  replies: MessagePort;
  /** ANSWERED, POLLING and RESTING. */
  signals: SharedArrayBuffer;
}

/**
 * Ring entry bodies. APPEND: `u8 0x01, u8 sync, u16 0, u32 records, record*`, record = `f64 seq,
 * u32 count, u32 length, bytes`. PORT: `u8 0x02`, the next message on the port.
 */
export const ENTRY_APPEND = 0x01;
export const ENTRY_PORT = 0x02;
export const APPEND_HEAD = 8;
export const RECORD_HEAD = 16;

export function appendEntryLength(records: ReadonlyArray<{ record: Uint8Array }>): number {
  let n = APPEND_HEAD;
  for (const r of records) n += RECORD_HEAD + r.record.length;
  return n;
}

export function writeAppendEntry(out: Buffer, at: number, records: ReadonlyArray<{ seq: number; count: number; record: Uint8Array }>, sync: boolean): void {
  out[at] = ENTRY_APPEND;
  out[at + 1] = sync ? 1 : 0;
  out.writeUInt16LE(0, at + 2);
  out.writeUInt32LE(records.length, at + 4);
  at += APPEND_HEAD;
  for (const r of records) {
    out.writeDoubleLE(r.seq, at);
    out.writeUInt32LE(r.count, at + 8);
    out.writeUInt32LE(r.record.length, at + 12);
    out.set(r.record, at + RECORD_HEAD);
    at += RECORD_HEAD + r.record.length;
  }
}

/** Calls `each` for every record of an APPEND entry; `record` is a view of the entry. */
export function readAppendEntry(body: Buffer, each: (seq: number, count: number, record: Buffer) => void): void {
  const n = body.readUInt32LE(4);
  let at = APPEND_HEAD;
  for (let i = 0; i < n; i++) {
    const length = body.readUInt32LE(at + 12);
    each(body.readDoubleLE(at), body.readUInt32LE(at + 8), body.subarray(at + RECORD_HEAD, at + RECORD_HEAD + length));
    at += RECORD_HEAD + length;
  }
}
