/**
 * The SQLite side of SqliteStore, on its own thread: better-sqlite3 is synchronous, and a group
 * commit must never stall the event loop that serves every connection. Requests arrive in order
 * on the worker's port and are answered in the same order, so appends stay ordered without locks.
 *
 * The database is opened in WAL mode with an exclusive lock held for the worker's life (a second
 * process on the same directory gets SQLITE_BUSY at once, no shared-memory index). `os` mode is
 * `synchronous=OFF`: a commit is written to the WAL file (the OS has it, a process crash keeps it);
 * `fsync` mode is `synchronous=FULL`: the WAL is fsynced on every commit.
 */
import { parentPort } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { StoreReply, StoreRequest } from './sqlite-protocol.js';

/** Bigger pages: a group commit is one row of up to a few hundred KiB, stored as a chain of overflow pages. */
const PAGE_SIZE = 16384;
/** Checkpoint the WAL into the database file every 4 MiB (256 of our pages; SQLite's default of 1000 would be 16 MiB)... */
const WAL_AUTOCHECKPOINT_PAGES = 256;
/** ...and cut the WAL file back to this after a checkpoint, so a burst does not leave it big. */
const WAL_SIZE_LIMIT = 8 * 1024 * 1024;

let db: Database.Database | undefined;
/** Set by a failed write, cleared by a snapshot: appends after a hole would make the log unreadable. */
let gap = false;
let synchronous: 'OFF' | 'FULL' = 'OFF';
let statements:
  | {
      insert: Database.Statement<[number, number, Uint8Array]>;
      read: Database.Statement<[number, number], { seq: number; count: number; record: Buffer }>;
      putMeta: Database.Statement<[string, Uint8Array]>;
      getMeta: Database.Statement<[string], { value: Buffer }>;
      truncate: Database.Statement<[number]>;
    }
  | undefined;
let appendAll: ((records: Array<{ seq: number; count: number; record: Uint8Array }>) => void) | undefined;
let storeSnapshot: ((seq: number, data: Uint8Array) => void) | undefined;

function setSync(sync: boolean): void {
  const want = sync ? 'FULL' : 'OFF';
  if (want !== synchronous) {
    db!.pragma(`synchronous = ${want}`);
    synchronous = want;
  }
}

function seqBytes(seq: number): Uint8Array {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt(seq));
  return b;
}

/**
 * One write under the PartitionStore contract (as LevelStore's `inOrder`): a failure opens a gap
 * that refuses appends until a snapshot succeeds.
 */
function write(sync: boolean, snapshot: boolean, run: () => void): StoreReply {
  if (gap && !snapshot) return { kind: 'error', message: 'an earlier write failed', code: 'EDGEMQ_LOG_GAP' };
  try {
    setSync(sync);
    run();
  } catch (err) {
    gap = true;
    throw err;
  }
  if (snapshot) gap = false;
  return { kind: 'done' };
}

function handle(req: StoreRequest): StoreReply {
  switch (req.op) {
    case 'open': {
      db = new Database(req.file, { fileMustExist: !req.create, timeout: 0 });
      if (req.create) db.pragma(`page_size = ${PAGE_SIZE}`);
      db.pragma('locking_mode = EXCLUSIVE');
      // The first read: a file that is not SQLite fails here (SQLITE_NOTADB), one another broker
      // holds with SQLITE_BUSY. A database that is not ours is left exactly as it was.
      const hasMeta = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).get() !== undefined;
      if (!hasMeta && !req.create) return { kind: 'foreign' };
      db.pragma('journal_mode = WAL');
      db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
      db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`);
      db.pragma(`synchronous = ${synchronous}`);
      // Takes the exclusive lock now, not at the first append: a second broker is refused at start-up.
      db.exec('BEGIN IMMEDIATE; COMMIT');
      db.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
               CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, count INTEGER NOT NULL, record BLOB NOT NULL);`);
      statements = {
        insert: db.prepare('INSERT INTO log (seq, count, record) VALUES (?, ?, ?)'),
        read: db.prepare('SELECT seq, count, record FROM log WHERE seq > ? ORDER BY seq LIMIT ?'),
        putMeta: db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)'),
        getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
        truncate: db.prepare('DELETE FROM log WHERE seq <= ?'),
      };
      const s = statements;
      appendAll = db.transaction((records) => {
        for (const r of records) s.insert.run(r.seq, r.count, r.record);
      });
      storeSnapshot = db.transaction((seq: number, data: Uint8Array) => {
        s.putMeta.run('snapshot', data);
        s.putMeta.run('snapshotSeq', seqBytes(seq));
        // Recovery starts after snapshotSeq, so these records are dead; their pages go to the free
        // list and are reused by the next appends, which keeps the file at the size of one log.
        s.truncate.run(seq);
      });
      const format = s.getMeta.get('format')?.value;
      if (format === undefined) {
        if (!req.create) return { kind: 'foreign' };
        s.putMeta.run('format', Buffer.from(req.format));
        return { kind: 'opened', format: req.format, snapshotSeq: 0 };
      }
      const seqRaw = s.getMeta.get('snapshotSeq')?.value;
      return {
        kind: 'opened',
        format: format.toString(),
        snapshot: s.getMeta.get('snapshot')?.value,
        snapshotSeq: seqRaw ? Number(seqRaw.readBigUInt64BE()) : 0,
      };
    }
    case 'read':
      return { kind: 'rows', rows: statements!.read.all(req.after, req.limit) };
    case 'append':
      return write(req.sync, false, () => appendAll!(req.records));
    case 'snapshot':
      return write(req.sync, true, () => storeSnapshot!(req.seq, req.data));
    case 'close':
      db?.close();
      db = undefined;
      return { kind: 'done' };
  }
}

parentPort!.on('message', (req: StoreRequest) => {
  let reply: StoreReply;
  try {
    reply = handle(req);
  } catch (err) {
    const e = err as Error & { code?: string };
    reply = { kind: 'error', message: e.message, code: e.code };
  }
  parentPort!.postMessage(reply);
});
