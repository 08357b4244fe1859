/**
 * PartitionStore on SQLite (better-sqlite3), run on a worker thread (sqlite-worker.ts). Why SQLite
 * for new data directories: in `os` mode the log is written once, where LevelDB writes it to its
 * own log, again at memtable flush and again at compaction, although the records are deleted
 * minutes later. test/bench/storage.ts has the numbers.
 *
 * Layout, one file `partition.sqlite`: table `log` (seq of the first command -> command count and
 * one group commit's commands serialized together) and table `meta` (format, snapshot, snapshotSeq).
 *
 * Hand-off: appends are copied into a ring of shared memory (shared-ring.ts) and answered by a
 * count in shared memory, which the event loop reads while it is busy. Posting every group commit
 * as a message cost the main thread about 30 µs per commit, and its answer arrived an event-loop
 * iteration late, so its PUBACKs waited for the iteration after.
 */
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { LOG_GAP_CODE, LogGapError, STORE_FORMAT, StorageError, type PartitionStore, type Recovered } from './partition-store.js';
import { RingWriter, createRingMemory } from './shared-ring.js';
import { ANSWERED, ENTRY_PORT, POLLING, RESTING, SIGNAL_SLOTS, appendEntryLength, writeAppendEntry, type PortRequest, type ReplyMessage, type StoreReply, type WorkerData } from './sqlite-protocol.js';
import { ownCopy } from '../util/own-copy.js';

const SQLITE_FILE = 'partition.sqlite';
/** Log rows handed over per round trip while recovering. */
const READ_PAGE = 256;
/**
 * Shared memory between the event loop and the SQLite thread: about 20 ms of 1 KiB QoS 1 traffic at
 * full speed. Appends that find it full wait in the event loop's memory, in order.
 */
const DEFAULT_RING_BYTES = 4 * 1024 * 1024;

const DONE: StoreReply = { kind: 'done' };

type Records = Array<{ seq: number; count: number; record: Buffer }>;

/** A request that did not fit in the ring yet: an append entry's bytes, or a port request's marker. */
type Backlogged = { entry: Buffer } | { port: true };


function asBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/**
 * The worker is a sibling module: .js when built. From source (tests run the broker through tsx),
 * it is .ts, and a worker does not inherit tsx's loader: the worker registers it, then imports.
 */
function startWorkerThread(workerData: WorkerData): Worker {
  const options = { workerData, transferList: [workerData.port, workerData.replies] };
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./sqlite-worker.js', import.meta.url), options);
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./sqlite-worker.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, { ...options, eval: true });
}

export interface SqliteStoreOptions {
  /** fsync mode. */
  sync?: boolean;
  /** Default: WAL in fsync mode (one fsync per commit), a rollback journal otherwise (the log is written once). */
  journal?: 'wal' | 'rollback';
  /** Bytes of shared memory for appends on their way to the SQLite thread. */
  ringBytes?: number;
}

export class SqliteStore implements PartitionStore {
  /** Records are copied into the ring during append(); whatever arrives while the thread writes goes into its next transaction. */
  readonly mergesAppends = true;
  private worker: Worker | undefined;
  private ring: RingWriter | undefined;
  /** Requests other than appends, to the worker. */
  private port: MessagePort | undefined;
  /** Replies other than "append done", from the worker. */
  private replies: MessagePort | undefined;
  /** ANSWERED, POLLING and RESTING (sqlite-protocol.ts). */
  private signal: Int32Array | undefined;
  /** Requests not yet answered, oldest first; they are answered in this order. */
  private readonly waiting: Array<{ resolve: (r: StoreReply) => void; reject: (e: Error) => void }> = [];
  /** Requests answered so far (wraps at 2^32, as the worker's count does). */
  private resolved = 0;
  /** Replies taken off the port and not yet matched to their requests, in order. */
  private posted: ReplyMessage[] = [];
  /** Requests that found the ring full, oldest first: they go in as answers free space. */
  private backlog: Backlogged[] = [];
  private failure: Error | undefined;
  private pollArmed = false;
  private appendedSincePoll = false;
  private readonly journal: 'wal' | 'rollback';
  private readonly ringBytes: number;

  constructor(
    readonly location: string,
    options: SqliteStoreOptions = {},
  ) {
    this.journal = options.journal ?? (options.sync ? 'wal' : 'rollback');
    this.ringBytes = options.ringBytes ?? DEFAULT_RING_BYTES;
  }

  /** Why no request can be made now (the thread stopped, or the store is closed), if so. */
  private refusal(): Error | undefined {
    return this.failure ?? (this.worker ? undefined : new StorageError(`${this.location} is closed`, this.location));
  }

  /** The answer to the request about to be placed (requests are answered in the order they are placed). */
  private nextAnswer(): Promise<StoreReply> {
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  /** A request other than an append: the message goes on the port, its place in the order into the ring. */
  private request(req: PortRequest, transfer?: ArrayBuffer[]): Promise<StoreReply> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    const reply = this.nextAnswer();
    this.port!.postMessage(req, transfer);
    this.put({ port: true });
    return reply;
  }

  private put(item: Backlogged): void {
    if (this.backlog.length > 0 || !this.place(item)) this.backlog.push(item);
    else this.ring!.publish();
  }

  /** Writes one request into the ring; false when it has no room yet. */
  private place(item: Backlogged): boolean {
    const ring = this.ring!;
    if ('port' in item) {
      const at = ring.reserve(1);
      if (at < 0) return false;
      ring.buf[at] = ENTRY_PORT;
      return true;
    }
    const at = ring.reserve(item.entry.length);
    if (at < 0) return false;
    item.entry.copy(ring.buf, at);
    return true;
  }

  private drainBacklog(): void {
    let placed = 0;
    while (placed < this.backlog.length && this.place(this.backlog[placed])) placed++;
    if (placed === 0) return;
    this.backlog = this.backlog.slice(placed);
    this.ring!.publish();
  }

  private async call(req: Promise<StoreReply>): Promise<StoreReply> {
    const reply = await req;
    if (reply.kind === 'error') {
      if (reply.code === LOG_GAP_CODE) throw new LogGapError();
      const err = new Error(`${this.location}: ${reply.message}`) as Error & { code?: string };
      err.code = reply.code;
      throw err;
    }
    return reply;
  }

  /**
   * Answers every request the worker has answered: those with a posted reply get it, the others
   * (appends that succeeded) DONE. The waiters' promises resolve now; their callbacks run after the
   * current one, as ever.
   */
  private takeReplies(): void {
    for (let m = receiveMessageOnPort(this.replies!); m !== undefined; m = receiveMessageOnPort(this.replies!)) this.posted.push(m.message as ReplyMessage);
    const answered = Atomics.load(this.signal!, ANSWERED);
    const before = this.resolved;
    while (((answered - this.resolved) | 0) > 0) {
      const head = this.posted[0];
      if (head !== undefined && (head.count === 0 || ((head.first - this.resolved) | 0) < 0)) {
        this.posted.shift(); // a wake-up (a reply behind the count cannot happen: posted before counted)
      } else if (head !== undefined && head.first === this.resolved) {
        this.posted.shift();
        this.resolveNext(head.count, head.reply);
      } else {
        // Successful appends up to the next posted reply, or to the count: answered together.
        const upTo = head !== undefined && ((head.first - answered) | 0) < 0 ? head.first : answered;
        this.resolveNext((upTo - this.resolved) | 0, DONE);
      }
    }
    while (this.posted.length > 0 && this.posted[0].count === 0) this.posted.shift();
    if (before !== this.resolved && this.backlog.length > 0) this.drainBacklog();
  }

  private resolveNext(count: number, reply: StoreReply): void {
    for (const w of this.waiting.splice(0, count)) w.resolve(reply);
    this.resolved = (this.resolved + count) | 0;
  }

  /**
   * Looks for answers first thing in the check phase. Under load one event-loop iteration takes
   * about a millisecond; an answer's message event would come in the next one, after this
   * iteration's writes were flushed, and its PUBACKs would wait a whole iteration more. Queued in
   * the previous check phase, this runs before the front end's flush of this iteration (queued by
   * its first write), so the PUBACKs go out with it. It re-arms only while appends keep coming and
   * the thread is at work: an idle loop, or one whose thread waits out the commit spacing (a
   * moderate rate), is woken by a message instead (POLLING cleared). Polling then would cost an
   * event-loop iteration or two per message for an answer up to a millisecond away.
   */
  private readonly poll = (): void => {
    this.pollArmed = false;
    this.takeReplies();
    if (this.waiting.length > 0 && this.appendedSincePoll && !this.threadResting()) {
      this.armPoll();
    } else {
      Atomics.store(this.signal!, POLLING, 0);
      this.takeReplies(); // what was answered before the worker could see POLLING cleared
    }
    this.appendedSincePoll = false;
  };

  private threadResting(): boolean {
    return Atomics.load(this.signal!, RESTING) !== 0;
  }

  private armPoll(): void {
    if (this.pollArmed) return;
    this.pollArmed = true;
    Atomics.store(this.signal!, POLLING, 1);
    setImmediate(this.poll);
  }

  private startWorker(): Worker {
    const memory = createRingMemory(this.ringBytes);
    const requests = new MessageChannel();
    const replies = new MessageChannel();
    this.ring = new RingWriter(memory);
    this.port = requests.port1;
    this.replies = replies.port1;
    const signals = new SharedArrayBuffer(4 * SIGNAL_SLOTS);
    this.signal = new Int32Array(signals);
    const worker = startWorkerThread({ ...memory, port: requests.port2, replies: replies.port2, signals });
    this.replies.on('message', (m: ReplyMessage) => {
      this.posted.push(m);
      this.takeReplies();
    });
    const fail = (err: Error) => {
      this.failure ??= new StorageError(`storage thread for ${this.location} stopped: ${err.message}`, this.location, { cause: err });
      for (const w of this.waiting.splice(0)) w.reject(this.failure);
      this.backlog = [];
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
      reply = await this.call(this.request({ op: 'open', file, create, format: STORE_FORMAT, journal: this.journal }));
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
        const page = await this.call(this.request({ op: 'read', after, limit: READ_PAGE }));
        if (page.kind !== 'rows' || page.rows.length === 0) return;
        for (const r of page.rows) yield { seq: r.seq, count: r.count, record: asBuffer(r.record) };
        after = page.rows[page.rows.length - 1].seq;
      }
    }.call(this);
    return { snapshot: reply.snapshot ? asBuffer(reply.snapshot) : undefined, snapshotSeq, records };
  }

  /**
   * Copies the records into the ring: the caller may reuse their memory once this returns. An
   * append too big for the ring goes by port (copied into memory of its own, moved to the thread).
   */
  async append(records: Records, sync: boolean): Promise<void> {
    const refused = this.refusal();
    if (refused) throw refused;
    this.appendedSincePoll = true;
    if (!this.threadResting()) this.armPoll();
    this.takeReplies(); // answers that came in since the last look: PUBACKs of this iteration
    const ring = this.ring!;
    const length = appendEntryLength(records);
    if (length > ring.maxBody) {
      const copies = records.map((r) => ({ seq: r.seq, count: r.count, record: ownCopy(r.record) }));
      await this.call(this.request({ op: 'append', records: copies, sync }, copies.map((r) => r.record.buffer as ArrayBuffer)));
      return;
    }
    const reply = this.nextAnswer();
    const at = this.backlog.length === 0 ? ring.reserve(length) : -1;
    if (at >= 0) {
      writeAppendEntry(ring.buf, at, records, sync);
      ring.publish();
    } else {
      const entry = Buffer.allocUnsafe(length);
      writeAppendEntry(entry, 0, records, sync);
      this.backlog.push({ entry });
    }
    await this.call(reply);
  }

  /**
   * Moves the snapshot's memory to the thread (the caller must not read it afterwards). A buffer
   * that shares its memory (a slice of a frame, Node's pool) is copied first: moving it would
   * empty every other view of that memory.
   */
  async writeSnapshot(seq: number, snapshot: Buffer, sync: boolean): Promise<void> {
    const own = snapshot.byteOffset === 0 && snapshot.byteLength === snapshot.buffer.byteLength ? snapshot : ownCopy(snapshot);
    await this.call(this.request({ op: 'snapshot', seq, data: own, sync }, [own.buffer as ArrayBuffer]));
  }

  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    if (!this.failure) await this.request({ op: 'close' }).catch(() => {});
    this.worker = undefined;
    worker.removeAllListeners('exit');
    await worker.terminate();
    this.port?.close();
    this.replies?.close();
  }
}
