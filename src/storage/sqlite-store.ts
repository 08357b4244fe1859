/**
 * PartitionStore of new data directories: the command log in append-only segment files written by
 * the event loop (segment-log.ts), everything else in one SQLite file `partition.sqlite` on a worker
 * thread (sqlite-worker.ts): the exclusive lock on the directory, the format marker, the snapshot,
 * and the log rows of directories written by an edgemq from before the segment files.
 *
 * Order on disk is order of calls: appends called while a snapshot is being stored wait in memory
 * and go into the segment that starts after it. The log on disk is therefore always a snapshot plus
 * a gap-free run of records after it, whatever moment a crash picks. A snapshot stored aside
 * (`snapshotAside`, os durability) holds no append back: the log already has everything it covers,
 * and keeps it until the snapshot is stored.
 */
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { LogGapError, READABLE_STORE_FORMATS, STORE_FORMAT, StorageError, type PartitionStore, type Recovered } from './partition-store.js';
import { SegmentLog, type LogRecord } from './segment-log.js';
import type { PortRequest, ReplyMessage, StoreReply } from './sqlite-protocol.js';
import { movable, ownCopy } from '../util/own-copy.js';

const SQLITE_FILE = 'partition.sqlite';
/** Log rows of an older directory handed over per round trip while recovering. */
const READ_PAGE = 256;
const WRITTEN = Promise.resolve();

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/**
 * The worker is a sibling module: .js when built. From source (tests run the broker through tsx),
 * it is .ts, and a worker does not inherit tsx's loader: the worker registers it, then imports.
 */
function startWorkerThread(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./sqlite-worker.js', import.meta.url));
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./sqlite-worker.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, { eval: true });
}

export interface SqliteStoreOptions {
  /** fsync mode. */
  sync?: boolean;
  /** SQLite's journal. Default: WAL in fsync mode (one fsync per commit), a rollback journal otherwise. */
  journal?: 'wal' | 'rollback';
}

/** What arrived while a snapshot was being stored, in call order. */
type Queued =
  | { kind: 'append'; records: LogRecord[]; sync: boolean; resolve: () => void; reject: (err: Error) => void }
  | { kind: 'snapshot'; seq: number; data: Buffer; sync: boolean; resolve: () => void; reject: (err: Error) => void };

export class SqliteStore implements PartitionStore {
  /** Records are written (copied into the OS) during append(), or copied while they wait behind a snapshot. */
  readonly mergesAppends = true;
  private worker: Worker | undefined;
  private log: SegmentLog | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (r: StoreReply) => void; reject: (e: Error) => void }>();
  private failure: Error | undefined;
  /** A write failed: appends are refused until a snapshot covers the hole. */
  private gap = false;
  private snapshotting = false;
  /** Settles when the snapshot in progress has been stored (or failed) and the queue behind it drained. */
  private snapshotDone: Promise<void> = Promise.resolve();
  private queue: Queued[] = [];
  /** Snapshots stored aside, not yet answered by the thread. */
  private readonly asides = new Set<Promise<void>>();
  private readonly journal: 'wal' | 'rollback';

  constructor(
    readonly location: string,
    options: SqliteStoreOptions = {},
  ) {
    this.journal = options.journal ?? (options.sync ? 'wal' : 'rollback');
  }

  /** Why no request can be made now (the thread stopped, or the store is closed), if so. */
  private refusal(): Error | undefined {
    return this.failure ?? (this.worker ? undefined : new StorageError(`${this.location} is closed`, this.location));
  }

  private async call(req: PortRequest, transfer?: ArrayBuffer[]): Promise<StoreReply> {
    const refused = this.refusal();
    if (refused) throw refused;
    const id = this.nextId++;
    const answer = new Promise<StoreReply>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    this.worker!.postMessage({ id, req }, transfer);
    const reply = await answer;
    if (reply.kind === 'error') {
      const err = new Error(`${this.location}: ${reply.message}`) as Error & { code?: string };
      err.code = reply.code;
      throw err;
    }
    return reply;
  }

  private startWorker(): Worker {
    const worker = startWorkerThread();
    worker.on('message', ({ id, reply }: ReplyMessage) => {
      const w = this.waiting.get(id);
      this.waiting.delete(id);
      w?.resolve(reply);
    });
    const fail = (err: Error) => {
      this.failure ??= new StorageError(`storage thread for ${this.location} stopped: ${err.message}`, this.location, { cause: err });
      for (const w of this.waiting.values()) w.reject(this.failure);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    return worker;
  }

  async open(): Promise<Recovered> {
    if (existsSync(this.location) && !statSync(this.location).isDirectory()) {
      throw new StorageError(`${this.location} is not a directory; move it away or pick another --data-dir`, this.location);
    }
    const file = path.join(this.location, SQLITE_FILE);
    const entries = existsSync(this.location) ? readdirSync(this.location) : [];
    const create = entries.length === 0;
    if (!create && !entries.includes(SQLITE_FILE)) {
      throw new StorageError(`${this.location} is not an edgemq data directory (no ${SQLITE_FILE}); move it away or pick another --data-dir`, this.location);
    }
    if (create) mkdirSync(this.location, { recursive: true });
    this.worker = this.startWorker();
    let reply: StoreReply;
    try {
      reply = await this.call({ op: 'open', file, create, format: STORE_FORMAT, readable: READABLE_STORE_FORMATS, journal: this.journal });
    } catch (err) {
      await this.close();
      const e = err as Error & { code?: string };
      if (e.code === 'SQLITE_BUSY') {
        throw new StorageError(`${this.location} is in use by another edgemq process (database is locked)`, this.location, { cause: err });
      }
      if (e.code === 'SQLITE_NOTADB' || e.code === 'SQLITE_CORRUPT') {
        throw new StorageError(`${file} is not a readable SQLite database (${e.message.replace(`${this.location}: `, '')})`, this.location, { cause: err });
      }
      throw new StorageError(`cannot open data directory ${this.location}: ${e.message}`, this.location, { cause: err });
    }
    if (reply.kind === 'foreign') {
      await this.close();
      throw new StorageError(`${file} is a SQLite database that edgemq did not write (no format marker)`, this.location);
    }
    if (reply.kind !== 'opened') throw new Error(`unexpected reply ${reply.kind}`);
    if (reply.format !== STORE_FORMAT) {
      await this.close();
      throw new StorageError(`${this.location} has format "${reply.format}", expected "${STORE_FORMAT}"`, this.location);
    }
    const snapshotSeq = reply.snapshotSeq;
    let records: LogRecord[];
    const repaired: string[] = [];
    try {
      records = await this.readLog(snapshotSeq, repaired);
    } catch (err) {
      await this.close();
      throw new StorageError(`cannot read the command log in ${this.location}: ${(err as Error).message}`, this.location, { cause: err });
    }
    return {
      snapshot: reply.snapshot ? asBuffer(reply.snapshot) : undefined,
      snapshotSeq,
      records: (async function* () {
        yield* records;
      })(),
      repaired,
    };
  }

  /**
   * The records after the snapshot: log rows an older edgemq wrote into the database, then the
   * segment files. Records the snapshot covers are skipped (a crash can leave the segments before
   * it undeleted); recovery checks that what remains has no gap.
   */
  private async readLog(snapshotSeq: number, repaired: string[]): Promise<LogRecord[]> {
    const out: LogRecord[] = [];
    for (let after = snapshotSeq; ; ) {
      const page = await this.call({ op: 'read', after, limit: READ_PAGE });
      if (page.kind !== 'rows' || page.rows.length === 0) break;
      for (const r of page.rows) out.push({ seq: r.seq, count: r.count, record: asBuffer(r.record) });
      after = page.rows[page.rows.length - 1].seq;
    }
    const last = out[out.length - 1];
    this.log = new SegmentLog(this.location);
    for (const r of this.log.open(last ? last.seq + last.count : snapshotSeq + 1, repaired)) if (r.seq > snapshotSeq) out.push(r);
    return out;
  }

  /**
   * Written before this returns (in the OS: `os` mode's promise), so the caller may reuse the
   * records' memory at once; `sync` resolves after the fdatasync that follows.
   */
  append(records: LogRecord[], sync: boolean): Promise<void> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    if (this.snapshotting) {
      const copies = records.map((r) => ({ seq: r.seq, count: r.count, record: ownCopy(r.record) }));
      return new Promise((resolve, reject) => this.queue.push({ kind: 'append', records: copies, sync, resolve, reject }));
    }
    return this.write(records, sync);
  }

  private write(records: LogRecord[], sync: boolean): Promise<void> {
    if (this.gap) return Promise.reject(new LogGapError());
    const log = this.log!;
    try {
      log.write(records);
    } catch (err) {
      this.gap = true;
      const e = err as Error & { code?: string };
      return Promise.reject(Object.assign(new Error(`${this.location}: ${e.message}`), { code: e.code }));
    }
    // After an fsync append still waiting, a later one is answered after it too: in call order.
    return sync || log.syncBusy() ? log.synced() : WRITTEN;
  }

  /**
   * Moves the snapshot's memory to the thread (the caller must not read it afterwards). A buffer
   * that shares its memory (a slice of a frame, Node's pool) is copied first: moving it would
   * empty every other view of that memory.
   */
  writeSnapshot(seq: number, snapshot: Buffer, sync: boolean): Promise<void> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    const own = movable(snapshot);
    return new Promise((resolve, reject) => {
      const op: Queued = { kind: 'snapshot', seq, data: own, sync, resolve, reject };
      if (this.snapshotting) this.queue.push(op);
      else this.startSnapshot(op);
    });
  }

  /**
   * Appends go on at once, into a new segment from `seq + 1`: the records the snapshot covers are
   * in the older segments, which stay until the thread has stored it. Storing 2-6 MB took 8-60 ms
   * under fan-in QoS 1 (every half second there), and held back every PUBACK of the partition that
   * long when appends waited for it. Behind a snapshot that holds appends back, or with a hole in
   * the log, or an fdatasync running (it must cover the segment its appends went to), this one
   * takes writeSnapshot's way.
   */
  snapshotAside(seq: number, snapshot: Buffer): Promise<void> {
    const log = this.log;
    if (this.snapshotting || this.gap || log === undefined || log.syncBusy()) return this.writeSnapshot(seq, snapshot, false);
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    const own = movable(snapshot);
    try {
      log.startSegment(seq + 1);
    } catch (err) {
      // No segment is open now: appends fail until a snapshot covers them, as after a failed write.
      this.gap = true;
      return Promise.reject(err);
    }
    const stored = this.call({ op: 'snapshot', seq, data: own, sync: false }, [own.buffer as ArrayBuffer]).then(() => dropCovered(log, seq));
    this.asides.add(stored);
    const forget = () => void this.asides.delete(stored);
    stored.then(forget, forget);
    return stored;
  }

  private startSnapshot(op: Extract<Queued, { kind: 'snapshot' }>): void {
    this.snapshotting = true;
    this.snapshotDone = this.storeSnapshot(op)
      .then(op.resolve, op.reject)
      .finally(() => {
        this.snapshotting = false;
        this.drainQueue();
      });
  }

  /** The snapshot into the database; then later records start a new segment and the older ones go. */
  private async storeSnapshot(op: Extract<Queued, { kind: 'snapshot' }>): Promise<void> {
    const log = this.log!;
    try {
      await this.call({ op: 'snapshot', seq: op.seq, data: op.data, sync: op.sync }, [op.data.buffer as ArrayBuffer]);
      // Appends written before the snapshot and still waiting for their fdatasync get it first.
      while (log.syncBusy()) await log.synced();
      log.startSegment(op.seq + 1);
      if (op.sync) await log.syncDirectory();
    } catch (err) {
      // The log does not reach op.seq: what follows the snapshot waits for the next one.
      this.gap = true;
      throw err;
    }
    this.gap = false;
    dropCovered(log, op.seq); // every segment before the one just started
  }

  private drainQueue(): void {
    while (!this.snapshotting && this.queue.length > 0) {
      const op = this.queue.shift()!;
      if (op.kind === 'snapshot') this.startSnapshot(op);
      else this.write(op.records, op.sync).then(op.resolve, op.reject);
    }
  }

  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    // A queued snapshot may start when this one ends: wait for each in turn.
    while (this.snapshotting) await this.snapshotDone;
    await Promise.allSettled([...this.asides]);
    const log = this.log;
    while (log?.syncBusy()) await log.synced().catch(() => {});
    log?.close();
    if (!this.failure) await this.call({ op: 'close' }).catch(() => {});
    this.worker = undefined;
    worker.removeAllListeners('exit');
    await worker.terminate();
  }
}

/** Deletes the segments a stored snapshot through `seq` covers; one that cannot go is left for the next snapshot (recovery skips what a snapshot covers). */
function dropCovered(log: SegmentLog, seq: number): void {
  try {
    log.dropThrough(seq);
  } catch {
    /* left for the next snapshot */
  }
}
