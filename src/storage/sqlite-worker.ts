/**
 * The SQLite side of SqliteStore, on its own thread: better-sqlite3 is synchronous, and a group
 * commit must never stall the event loop that serves every connection. The thread runs one loop:
 * it takes every append waiting in the shared ring, writes them in one transaction, counts them
 * answered and frees their ring space, then sleeps until the event loop publishes more. Appends
 * that arrive while a transaction is being written go into the next one together, so commits grow
 * with the load without the event loop holding anything back; transactions start at least
 * COMMIT_SPACING_MS apart, so at moderate rates appends are gathered too. Other requests (open, read,
 * snapshot, close) come by MessagePort, announced in the ring in call order.
 *
 * The database holds an exclusive lock for the worker's life (a second process on the same
 * directory gets SQLITE_BUSY at once) and writes with `synchronous=OFF` in `os` mode: a commit is
 * in the OS when it returns, so a process crash keeps it. The journal depends on the mode:
 *   - `os`: a rollback journal kept in place (PERSIST). New log rows go to pages that hold no live
 *     data (fresh or freed), which need no journaling, so the log is written once. In WAL mode it
 *     is written twice (WAL, then checkpoint) and read once more: test/bench/storage.ts measured
 *     1.4-1.8x the throughput of WAL for 128-512 KiB commits.
 *   - `fsync`: WAL with `synchronous=FULL`: one fsync per commit, where a rollback journal needs
 *     two (journal, then database), which halved small commits in the same bench.
 */
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { LOG_GAP_CODE, decodeSnapshotSeq, encodeSnapshotSeq } from './partition-store.js';
import { RingReader } from './shared-ring.js';
import { ANSWERED, ENTRY_APPEND, POLLING, RESTING, readAppendEntry, type PortRequest, type ReplyMessage, type StoreReply, type WorkerData } from './sqlite-protocol.js';

/** Bigger pages: a group commit is one row of up to a few hundred KiB, stored as a chain of overflow pages. */
const PAGE_SIZE = 16384;
/** WAL (fsync mode): checkpoint into the database file every 4 MiB (256 of our pages; SQLite's default of 1000 would be 16 MiB)... */
const WAL_AUTOCHECKPOINT_PAGES = 256;
/** ...and cut the WAL or the journal back to this after a checkpoint or commit, so a burst does not leave it big. */
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
/** Set by the close request: the loop ends after answering it. */
let closed = false;

function setSync(sync: boolean): void {
  const want = sync ? 'FULL' : 'OFF';
  if (want !== synchronous) {
    db!.pragma(`synchronous = ${want}`);
    synchronous = want;
  }
}

/**
 * One write under the PartitionStore contract (as LevelStore's `inOrder`): a failure opens a gap
 * that refuses appends until a snapshot succeeds.
 */
function write(sync: boolean, snapshot: boolean, run: () => void): StoreReply {
  if (gap && !snapshot) return { kind: 'error', message: 'an earlier write failed', code: LOG_GAP_CODE };
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
        s.putMeta.run('snapshotSeq', encodeSnapshotSeq(seq));
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
      return {
        kind: 'opened',
        format: format.toString(),
        snapshot: s.getMeta.get('snapshot')?.value,
        snapshotSeq: decodeSnapshotSeq(s.getMeta.get('snapshotSeq')?.value),
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
      closed = true;
      return { kind: 'done' };
  }
}

const { control, data, port, replies, signals } = workerData as WorkerData;
const ring = new RingReader({ control, data });
const signal = new Int32Array(signals);
const WAKE: StoreReply = { kind: 'done' };
/** Requests answered so far (wraps at 2^32, as the event loop's count does). */
let answeredTotal = 0;

function attempt(run: () => StoreReply): StoreReply {
  try {
    return run();
  } catch (err) {
    const e = err as Error & { code?: string };
    return { kind: 'error', message: e.message, code: e.code };
  }
}

/**
 * Answers the next `count` requests; the caller has released their ring space first, so that an
 * event loop that sees the answer and has appends waiting for space finds it. Appends that
 * succeeded are only counted: the event loop reads the count when it next looks (SqliteStore
 * polls while it is busy), and is sent a message only when it is not looking.
 */
function answer(count: number, reply: StoreReply, countOnly: boolean): void {
  // Posted before ANSWERED covers it: whoever sees the count finds the message already on the port.
  if (!countOnly || reply.kind !== 'done') replies.postMessage({ first: answeredTotal, count, reply } satisfies ReplyMessage);
  answeredTotal = (answeredTotal + count) | 0;
  Atomics.store(signal, ANSWERED, answeredTotal);
  // After the store: an event loop that stops polling clears POLLING, then reads ANSWERED again, so
  // one of the two sees the other. Also after a posted reply, which the loop may have taken off the
  // port before ANSWERED covered it.
  if (Atomics.load(signal, POLLING) === 0) replies.postMessage({ first: answeredTotal, count: 0, reply: WAKE } satisfies ReplyMessage);
}

/** Wakes up this often even without work (nothing depends on it; a lost wake-up costs at most this). */
const IDLE_WAIT_MS = 1000;
/**
 * Transactions start at least this far apart; appends that arrive in between wait and go into the
 * next one together. At a moderate rate (5,000 QoS 1 messages a second, each publish its own
 * event-loop iteration and so its own group commit) one transaction per message cost this thread
 * about half the CPU of the broker's event loop and 1.5 wake-ups per message (README,
 * Performance). The wait delays acknowledgements by at most this, never deliveries (QoS 0/1
 * deliveries go out before the write); under load a transaction takes about this long or
 * COMMIT_NOW_BYTES gather sooner. `EDGEMQ_COMMIT_SPACING_MS` overrides it, for measurements
 * (0: one transaction per wake-up, as before).
 */
const COMMIT_SPACING_MS = envNumber('EDGEMQ_COMMIT_SPACING_MS', 1);
/** ...unless this much is already waiting: a big transaction goes at once. */
const COMMIT_NOW_BYTES = 256 * 1024;

function envNumber(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return process.env[name] !== undefined && Number.isFinite(v) && v >= 0 ? v : fallback;
}

/** Appends read from the ring and not yet written: views of the ring, valid until release(). */
let gathered: Array<{ seq: number; count: number; record: Uint8Array }> = [];
let gatheredEntries = 0;
let gatheredBytes = 0;
let gatheredSync = false;
/** performance.now() when the last transaction of appends started. */
let lastCommitAt = -Infinity;
/** Slept on (with a timeout) while appends wait for the spacing: never notified, so the event loop is not asked to wake this thread. */
const pause = new Int32Array(new SharedArrayBuffer(4));

function writeGathered(): void {
  if (gatheredEntries === 0) return;
  lastCommitAt = performance.now();
  const records = gathered;
  const reply = attempt(() => write(gatheredSync, false, () => appendAll!(records)));
  ring.release(); // the transaction is over: SQLite has what it needed from the ring
  answer(gatheredEntries, reply, true);
  gathered = [];
  gatheredEntries = 0;
  gatheredBytes = 0;
  gatheredSync = false;
}

/**
 * How long to wait before the next transaction may start (ms; 0 or less: now). Appends that are
 * gathered already wait for the spacing unless they are big; with none gathered, the thread waits
 * it out too, since nothing could be written before it ends anyway.
 */
function spacingLeft(): number {
  if (gatheredBytes >= COMMIT_NOW_BYTES) return 0;
  return lastCommitAt + COMMIT_SPACING_MS - performance.now();
}

for (;;) {
  const entry = ring.next();
  if (entry === undefined) {
    const left = spacingLeft();
    if (left > 0) {
      // The ring's SLEEPING flag stays clear: appends published meanwhile cost the event loop no
      // wake-up call (a futex wake of a sleeping thread, ~25 µs of its time on this VM). At a
      // steady rate the thread then wakes once per spacing, by its own timeout, and never by a call.
      Atomics.store(signal, RESTING, 1);
      Atomics.wait(pause, 0, 0, left);
      Atomics.store(signal, RESTING, 0);
      continue;
    }
    if (gatheredEntries > 0) {
      writeGathered();
      continue;
    }
    Atomics.store(signal, RESTING, 1);
    ring.wait(IDLE_WAIT_MS);
    Atomics.store(signal, RESTING, 0);
    continue;
  }
  if (entry[0] === ENTRY_APPEND) {
    gatheredEntries++;
    gatheredBytes += entry.length;
    if (entry[1] === 1) gatheredSync = true;
    readAppendEntry(entry, (seq, count, record) => gathered.push({ seq, count, record }));
    continue;
  }
  // A port request: the appends before it are written first, in order.
  writeGathered();
  const req = receiveMessageOnPort(port)?.message as PortRequest | undefined;
  ring.release();
  answer(1, attempt(() => (req ? handle(req) : { kind: 'error', message: 'request announced in the ring but not on the port' })), false);
  if (closed) break;
}
