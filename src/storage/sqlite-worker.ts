/**
 * The SQLite side of SqliteStore, on its own thread: better-sqlite3 is synchronous, and storing a
 * snapshot of many megabytes must not stall the event loop that serves every connection. The thread
 * answers one request per message, in order: open, read (log rows of directories written before the
 * log moved to segment files), snapshot, close.
 *
 * The database holds an exclusive lock for the worker's life (a second process on the same
 * directory gets SQLITE_BUSY at once), which guards the segment files beside it too. It writes with
 * `synchronous=OFF` in `os` mode (in the OS when a transaction returns, so a process crash keeps it)
 * and `FULL` in `fsync` mode. The journal depends on the mode: a rollback journal kept in place
 * (PERSIST) in `os` mode, WAL in `fsync` mode (one fsync per commit where a rollback journal needs two).
 */
import { parentPort } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { decodeSnapshotSeq, encodeSnapshotSeq } from './partition-store.js';
import type { PortRequest, ReplyMessage, RequestMessage, StoreReply } from './sqlite-protocol.js';

/** Bigger pages: a snapshot is one value of up to tens of MiB, stored as a chain of overflow pages. */
const PAGE_SIZE = 16384;
/** WAL (fsync mode): checkpoint into the database file every 4 MiB (256 of our pages; SQLite's default of 1000 would be 16 MiB)... */
const WAL_AUTOCHECKPOINT_PAGES = 256;
/** ...and cut the WAL or the journal back to this after a checkpoint or commit, so a snapshot does not leave it big. */
const WAL_SIZE_LIMIT = 8 * 1024 * 1024;

let db: Database.Database | undefined;
let synchronous: 'OFF' | 'FULL' = 'OFF';
let statements:
  | {
      read: Database.Statement<[number, number], { seq: number; count: number; record: Buffer }>;
      putMeta: Database.Statement<[string, Uint8Array]>;
      getMeta: Database.Statement<[string], { value: Buffer }>;
    }
  | undefined;
let storeSnapshot: ((seq: number, data: Uint8Array) => void) | undefined;

function setSync(sync: boolean): void {
  const want = sync ? 'FULL' : 'OFF';
  if (want !== synchronous) {
    db!.pragma(`synchronous = ${want}`);
    synchronous = want;
  }
}

function handle(req: PortRequest): StoreReply {
  switch (req.op) {
    case 'open': {
      db = new Database(req.file, { fileMustExist: !req.create, timeout: 0 });
      if (req.create) db.pragma(`page_size = ${PAGE_SIZE}`);
      db.pragma('locking_mode = EXCLUSIVE');
      // The first read: a file that is not SQLite fails here (SQLITE_NOTADB), one another broker
      // holds with SQLITE_BUSY. A database that is not ours is left exactly as it was.
      const hasMeta = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).get() !== undefined;
      if (!hasMeta && !req.create) return { kind: 'foreign' };
      db.pragma(`journal_mode = ${req.journal === 'wal' ? 'WAL' : 'PERSIST'}`);
      db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
      db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`);
      db.pragma(`synchronous = ${synchronous}`);
      // Takes the exclusive lock now, not at the first snapshot: a second broker is refused at start-up.
      db.exec('BEGIN IMMEDIATE; COMMIT');
      db.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
               CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, count INTEGER NOT NULL, record BLOB NOT NULL);`);
      statements = {
        read: db.prepare('SELECT seq, count, record FROM log WHERE seq > ? ORDER BY seq LIMIT ?'),
        putMeta: db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)'),
        getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
      };
      const s = statements;
      const truncate = db.prepare<[number]>('DELETE FROM log WHERE seq <= ?');
      storeSnapshot = db.transaction((seq: number, data: Uint8Array) => {
        s.putMeta.run('snapshot', data);
        s.putMeta.run('snapshotSeq', encodeSnapshotSeq(seq));
        // Log rows of an older edgemq that the snapshot covers: recovery starts after snapshotSeq.
        truncate.run(seq);
      });
      const format = s.getMeta.get('format')?.value?.toString();
      if (format === undefined) {
        if (!req.create) return { kind: 'foreign' };
        s.putMeta.run('format', Buffer.from(req.format));
        return { kind: 'opened', format: req.format, snapshotSeq: 0 };
      }
      // An older format this edgemq reads is marked as ours, so that the older edgemq, which would
      // not see the segment files, refuses the directory instead of missing records.
      if (format !== req.format && req.readable.includes(format)) s.putMeta.run('format', Buffer.from(req.format));
      return {
        kind: 'opened',
        format: req.readable.includes(format) ? req.format : format,
        snapshot: s.getMeta.get('snapshot')?.value,
        snapshotSeq: decodeSnapshotSeq(s.getMeta.get('snapshotSeq')?.value),
      };
    }
    case 'read':
      return { kind: 'rows', rows: statements!.read.all(req.after, req.limit) };
    case 'snapshot':
      setSync(req.sync);
      storeSnapshot!(req.seq, req.data);
      return { kind: 'done' };
    case 'close':
      db?.close();
      db = undefined;
      return { kind: 'done' };
  }
}

function attempt(req: PortRequest): StoreReply {
  try {
    return handle(req);
  } catch (err) {
    const e = err as Error & { code?: string };
    return { kind: 'error', message: e.message, code: e.code };
  }
}

parentPort!.on('message', ({ id, req }: RequestMessage) => {
  parentPort!.postMessage({ id, reply: attempt(req) } satisfies ReplyMessage);
});
