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
}

export interface PartitionStore {
  readonly location: string;
  open(): Promise<Recovered>;
  /** Appends records in one atomic write; each holds `count` commands from `seq` on. `sync` waits for fsync. */
  append(records: Array<{ seq: number; count: number; record: Buffer }>, sync: boolean): Promise<void>;
  /** Stores a snapshot taken after `seq` and drops the log up to it. */
  writeSnapshot(seq: number, snapshot: Buffer, sync: boolean): Promise<void>;
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
