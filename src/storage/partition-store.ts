/**
 * The durable store of one partition replica: an ordered command log plus the latest snapshot.
 * The state machine never sees it; `DurableExecutor` writes what the partition applied.
 */
export interface Recovered {
  /** Serialized snapshot, if one was written. */
  snapshot?: Buffer;
  snapshotSeq: number;
  /** Log records after the snapshot, in order; a record holds `count` commands starting at `seq`. */
  records: AsyncIterable<{ seq: number; count: number; record: Buffer }>;
  /** What opening repaired, for the log: e.g. a torn last frame of the log cut off. */
  repaired?: string[];
}

/**
 * The format marker a store writes and the ones it reads. /5: a SQLite directory keeps its log in
 * segment files (segment-log.ts); /4: records may refer back to a string (command-codec.ts); /3
 * records (plain frames) and /2 (v8-serialized) are still read. An opened directory is re-marked /5
 * so that an older edgemq refuses it instead of missing or misreading records.
 */
export const STORE_FORMAT = 'edgemq.partition-store/5';
export const READABLE_STORE_FORMATS: readonly string[] = [STORE_FORMAT, 'edgemq.partition-store/4', 'edgemq.partition-store/3', 'edgemq.partition-store/2'];

/**
 * Several writes may be outstanding: the store makes them durable in call order, so the log on disk
 * is always a prefix of what was handed to it. Once a write fails, every later append fails with
 * LogGapError until a writeSnapshot succeeds (the snapshot covers the hole).
 */
export interface PartitionStore {
  readonly location: string;
  /**
   * Set by a store that copies the records during append() (the caller may reuse their memory as
   * soon as it returns) and takes every append as it comes, with no limit on appends in flight
   * (SqliteStore writes each at once). The executor then hands over every group commit as soon as
   * it is sealed, instead of holding small ones back to make bigger writes itself.
   */
  readonly mergesAppends?: boolean;
  open(): Promise<Recovered>;
  /**
   * Appends records in one atomic write; each holds `count` commands from `seq` on. `sync` waits for
   * fsync. Unless the store `mergesAppends`, it takes the records' memory (it may move it to another
   * thread): the caller must not read them afterwards, nor pass a Buffer that shares its memory
   * with anything else.
   */
  append(records: Array<{ seq: number; count: number; record: Buffer }>, sync: boolean): Promise<void>;
  /** Stores a snapshot taken after `seq` and drops the log up to it; takes the snapshot's memory like append. */
  writeSnapshot(seq: number, snapshot: Buffer, sync: boolean): Promise<void>;
  /**
   * Stores a snapshot taken after `seq` beside the log (`os` durability): the log must already hold
   * every record through `seq`, later appends are not held back while it is stored, and the log it
   * covers is dropped only once it is. A failure loses nothing: the log stays whole, only longer.
   * Optional: a store without it gets writeSnapshot.
   */
  snapshotAside?(seq: number, snapshot: Buffer): Promise<void>;
  close(): Promise<void>;
}

/** The data directory cannot be used: corrupt, foreign, or locked by another process. */
export class StorageError extends Error {
  readonly code = 'EDGEMQ_STORAGE';
  constructor(
    message: string,
    readonly location: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StorageError';
  }
}

/**
 * The sequence number a snapshot was taken after, as both stores keep it on disk: 8 bytes, big-endian.
 * (A missing value reads as 0: no snapshot yet.)
 */
export function encodeSnapshotSeq(seq: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt(seq));
  return b;
}

export function decodeSnapshotSeq(raw: Buffer | undefined): number {
  return raw ? Number(raw.readBigUInt64BE()) : 0;
}

export const LOG_GAP_CODE = 'EDGEMQ_LOG_GAP';

/** An append refused because an earlier write failed and no snapshot has closed the hole yet. */
export class LogGapError extends Error {
  readonly code = LOG_GAP_CODE;
  constructor() {
    super('an earlier write failed; appends wait for the next snapshot');
  }
}
