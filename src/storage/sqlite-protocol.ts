/**
 * Requests from SqliteStore to its SQLite thread, and the replies, one message each way: the thread
 * holds the database (lock, format marker, snapshot, and the log rows of directories written before
 * the log moved to segment files, segment-log.ts). Appends never come here.
 */
export type PortRequest =
  | { op: 'open'; file: string; create: boolean; format: string; readable: readonly string[]; journal: 'wal' | 'rollback' }
  | { op: 'read'; after: number; limit: number }
  | { op: 'snapshot'; seq: number; data: Uint8Array; sync: boolean }
  | { op: 'close' };

export type StoreReply =
  | { kind: 'opened'; format: string; snapshot?: Uint8Array; snapshotSeq: number }
  /** The file is SQLite but has no edgemq tables or format marker. */
  | { kind: 'foreign' }
  | { kind: 'rows'; rows: Array<{ seq: number; count: number; record: Uint8Array }> }
  | { kind: 'done' }
  | { kind: 'error'; message: string; code?: string };

export interface RequestMessage {
  id: number;
  req: PortRequest;
}

export interface ReplyMessage {
  id: number;
  reply: StoreReply;
}
