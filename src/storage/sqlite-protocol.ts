/** Messages between SqliteStore and its worker thread; every request gets exactly one reply, in order. */
export type StoreRequest =
  | { op: 'open'; file: string; create: boolean; format: string }
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
