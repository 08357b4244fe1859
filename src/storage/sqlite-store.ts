/**
 * PartitionStore on SQLite (better-sqlite3), run on a worker thread (sqlite-worker.ts). Why SQLite
 * for new data directories: the log is written once to the WAL and once more at checkpoint, where
 * LevelDB writes it to its own log, again at memtable flush and again at compaction, although the
 * records are deleted minutes later. test/bench/storage.ts has the numbers.
 *
 * Layout, one file `partition.sqlite`: table `log` (seq of the first command -> command count and
 * one group commit's commands serialized together) and table `meta` (format, snapshot, snapshotSeq).
 */
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { LogGapError, STORE_FORMAT, StorageError, type PartitionStore, type Recovered } from './partition-store.js';
import type { StoreReply, StoreRequest } from './sqlite-protocol.js';

const SQLITE_FILE = 'partition.sqlite';
/** Log rows handed over per round trip while recovering. */
const READ_PAGE = 256;

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

export class SqliteStore implements PartitionStore {
  private worker: Worker | undefined;
  /** Replies come back in request order. */
  private readonly waiting: Array<{ resolve: (r: StoreReply) => void; reject: (e: Error) => void }> = [];
  private failure: Error | undefined;

  constructor(readonly location: string) {}

  private request(req: StoreRequest, transfer?: ArrayBuffer[]): Promise<StoreReply> {
    if (this.failure) return Promise.reject(this.failure);
    if (!this.worker) return Promise.reject(new StorageError(`${this.location} is closed`, this.location));
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.worker!.postMessage(req, transfer);
    });
  }

  /**
   * The records' memory moves to the worker instead of being copied (the PartitionStore contract
   * gives it to the store): in test/bench/storage.ts the main thread's share of the time went from
   * 22 % to 1.2 % for 512 KiB commits four in flight, and from 8.6 % to 6.0 % for 128 KiB one at a time.
   */
  private async call(req: StoreRequest, transfer?: ArrayBuffer[]): Promise<StoreReply> {
    const reply = await this.request(req, transfer);
    if (reply.kind === 'error') {
      if (reply.code === 'EDGEMQ_LOG_GAP') throw new LogGapError();
      const err = new Error(`${this.location}: ${reply.message}`) as Error & { code?: string };
      err.code = reply.code;
      throw err;
    }
    return reply;
  }

  private startWorker(): Worker {
    const worker = startWorkerThread();
    worker.on('message', (reply: StoreReply) => this.waiting.shift()?.resolve(reply));
    const fail = (err: Error) => {
      this.failure ??= new StorageError(`storage thread for ${this.location} stopped: ${err.message}`, this.location, { cause: err });
      for (const w of this.waiting.splice(0)) w.reject(this.failure);
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
      reply = await this.call({ op: 'open', file, create, format: STORE_FORMAT });
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
    const records = async function* (this: SqliteStore) {
      let after = snapshotSeq;
      for (;;) {
        const page = await this.call({ op: 'read', after, limit: READ_PAGE });
        if (page.kind !== 'rows' || page.rows.length === 0) return;
        for (const r of page.rows) yield { seq: r.seq, count: r.count, record: asBuffer(r.record) };
        after = page.rows[page.rows.length - 1].seq;
      }
    }.call(this);
    return { snapshot: reply.snapshot ? asBuffer(reply.snapshot) : undefined, snapshotSeq, records };
  }

  async append(records: Array<{ seq: number; count: number; record: Buffer }>, sync: boolean): Promise<void> {
    await this.call({ op: 'append', records, sync }, records.map((r) => r.record.buffer as ArrayBuffer));
  }

  async writeSnapshot(seq: number, snapshot: Buffer, sync: boolean): Promise<void> {
    await this.call({ op: 'snapshot', seq, data: snapshot, sync }, [snapshot.buffer as ArrayBuffer]);
  }

  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    if (!this.failure) await this.request({ op: 'close' }).catch(() => {});
    this.worker = undefined;
    worker.removeAllListeners('exit');
    await worker.terminate();
  }
}

