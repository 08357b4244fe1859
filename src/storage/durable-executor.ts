/**
 * Makes a partition durable without the partition knowing: every command is applied in memory at
 * once and appended to the store in group commits (all commands of one event-loop turn, one write).
 * The command's promise, and therefore PUBACK/PUBREC/SUBACK/CONNACK, resolves only after its batch
 * is written in the chosen mode (`os`: handed to the OS, survives a process crash; `fsync`: on the
 * platter, survives power loss). QoS 2 deliveries, PUBRELs and kicks are held until the same write
 * completes, so a QoS 2 subscriber never holds a packet id the log could forget (see `capture`).
 *
 * When a write fails (e.g. disk full), the commands of that batch are answered with an error (the
 * front end turns it into a refusal), the broker keeps running on its in-memory state, and the next
 * successful write is a full snapshot, which brings the disk back in line with memory.
 */
import v8 from 'node:v8';
import { LatencyHistogram } from '../observability/histogram.js';
import { encodeCommands, joinRecords } from './command-codec.js';
import type { Command } from '../partition/commands.js';
import type { CommandResult, Partition } from '../partition/partition.js';
import type { PartitionOutput } from '../partition/output.js';
import { snapshotPartition } from '../partition/snapshot.js';
import type { CommandExecutor, DurableWaiter } from '../core/local-core.js';
import { LogGapError, type PartitionStore } from './partition-store.js';
import { ownCopy } from '../util/own-copy.js';

type Effect = [kind: 0 | 1 | 2, connectionId: number, arg: unknown, reasonCode?: number];

interface Write {
  batches: Batch[];
  settled: boolean;
  error: Error | undefined;
  /** performance.now() when the write was handed to the store, for the write latency histogram. */
  startedAt: number;
}

interface Batch {
  /** Commands of this group commit, serialized together when the batch is sealed. */
  commands: Command[];
  /** Runs of `commands` whose encoding the caller gave (adopt), flat: from, count, record. */
  encoded: unknown[] | undefined;
  record?: Buffer;
  /** The commands' record as somebody else encoded it (`expectRecord`, `offerRecord`), for `givenCount` commands. */
  given?: Buffer;
  givenCount: number;
  /** Set when the batch closes the log up to here with a snapshot (taken at seal time, on a batch boundary). */
  snapshot?: Buffer;
  effects: Effect[];
  /** executeThen's callers, four entries each: waiter, context, tag, result. */
  waiters: unknown[];
  out: PartitionOutput | undefined;
  /** Estimated encoded size, to seal a big batch before the event-loop turn ends. */
  bytes: number;
  sealed: boolean;
  /** Made for the first caller that asks (`execute`); most batches only have executeThen's waiters. */
  done: Promise<void> | undefined;
  resolve: (() => void) | undefined;
  reject: ((err: Error) => void) | undefined;
}

export interface DurableOptions {
  /** fsync every group commit. */
  sync: boolean;
  /**
   * Write a snapshot and truncate the log after this many records, once the log since the last
   * snapshot is also at least `snapshotLogRatio` times that snapshot's size...
   */
  snapshotEveryRecords: number;
  /**
   * A snapshot costs in proportion to the state (serialized on the event loop: 110-170 ms for a
   * cluster back end's 6-9 MB under fan-in, where 100,000 records were 7 MB of log), so a big state
   * is snapshotted less often and its cost stays a fixed share of the log's. 0: records alone decide.
   */
  snapshotLogRatio?: number;
  /** ...or after this many bytes of log, whatever the snapshot's size. */
  snapshotEveryBytes: number;
  /**
   * A group commit of nothing but subscribers' PUBACKs is not written on its own: it stays open
   * and the next commands (a publish, the partition's tick every second, a flush or close) take it
   * along. Nobody waits for those writes, and a PUBACK the log never saw costs at most a duplicate
   * delivery after a crash, which QoS 1 allows. At low rates, where each message's PUBACK arrives
   * in an event-loop turn of its own, it saves a third of the log writes (README, Durability).
   */
  parkLoneAcks?: boolean;
  onError?: (err: Error) => void;
}

export const DEFAULT_DURABLE_OPTIONS: DurableOptions = {
  sync: false,
  snapshotEveryRecords: 100_000,
  snapshotLogRatio: 2,
  snapshotEveryBytes: 64 * 1024 * 1024,
};

const SNAPSHOT_RETRY_MS = 1000;
/** Group commits a store that does not merge appends itself may be writing at once (it makes them durable in order). */
const MAX_WRITES_IN_FLIGHT = 4;
/** A batch is sealed early once its commands reach about this many bytes... */
export const SEAL_BYTES = 128 * 1024;
/** ...counting payloads plus this much for everything else of a command. */
const COMMAND_OVERHEAD = 64;
/** Records up to this size are encoded into memory reused from one group commit to the next, when the store copies them. */
const SCRATCH_MAX = 1024 * 1024;

/** A command's share of a group commit, for cutting busy turns at SEAL_BYTES. */
export function estimatedBytes(cmd: Command): number {
  return cmd.type === 'publish' ? cmd.message.payload.length + COMMAND_OVERHEAD : COMMAND_OVERHEAD;
}

export function isVolatile(cmd: Command): boolean {
  return cmd.type === 'publish' && cmd.message.qos === 0 && !cmd.message.retain;
}

/** Tells executeThen's callers of one batch how it went; one caller's exception does not stop the others. */
function notify(waiters: unknown[], error: Error | undefined): void {
  for (let i = 0; i < waiters.length; i += 4) {
    try {
      (waiters[i] as DurableWaiter).durable(waiters[i + 1], waiters[i + 2] as number, waiters[i + 3] as CommandResult, error);
    } catch {
      /* a waiter must not throw (DurableWaiter contract); the batch's other callers still hear */
    }
  }
}


export class WriteFailedError extends Error {
  readonly code = 'EDGEMQ_WRITE_FAILED';
}

/** A snapshot stored aside failed: nothing was refused or lost, the log only stays longer. */
export class SnapshotFailedError extends Error {
  readonly code = 'EDGEMQ_SNAPSHOT_FAILED';
}

/** What an operator reads for an error reported through DurableOptions.onError. */
export function storageErrorSummary(err: Error): string {
  return err instanceof SnapshotFailedError ? 'snapshot failed; the log is kept and a snapshot is taken again' : 'durable write failed; refusing until storage recovers';
}

/** Commands refused because the log has a hole that only the pending snapshot can close; carries the write error that made it. */
class WaitingForSnapshot extends Error {
  constructor(cause: Error | undefined) {
    super('waiting for a snapshot after an earlier failed write', { cause });
  }
}

export class DurableExecutor implements CommandExecutor {
  private seq: number;
  private current: Batch | undefined;
  /** Writes handed to the store and not yet answered, oldest first. */
  private inFlight: Write[] = [];
  private queued: Batch[] = [];
  private queuedBytes = 0;
  private recordsSinceSnapshot = 0;
  private bytesSinceSnapshot = 0;
  /** Size of the last snapshot written (0 before the first). */
  private lastSnapshotBytes = 0;
  private needSnapshot = false;
  private logHasGap = false;
  /** Output of the command being applied, for effects that need not wait for the write. */
  private applyingOut: PartitionOutput | undefined;
  private retrySnapshotAt = 0;
  /** Reused record memory (stores that copy records during append); grows up to SCRATCH_MAX. */
  private scratch: Buffer | undefined;
  private readonly scratchAlloc = (bound: number): Buffer => {
    if (bound > SCRATCH_MAX) return Buffer.allocUnsafeSlow(bound);
    if (this.scratch === undefined || this.scratch.length < bound) this.scratch = Buffer.allocUnsafeSlow(Math.min(SCRATCH_MAX, Math.max(bound, 2 * SEAL_BYTES)));
    return this.scratch;
  };
  private lastWriteError: Error | undefined;
  private closed = false;
  /** The batch and its length at `mark()`. */
  private marked: Batch | undefined;
  private markedAt = 0;
  private holdSeal = false;
  /** The open batch holds only PUBACKs and waits for company (parkLoneAcks): no seal is queued for it. */
  private parked = false;
  /** Group-commit latency (store call to durable), one observation per write, read by the metrics room. */
  readonly writeLatency = new LatencyHistogram();
  /** Captures effects into the batch being formed instead of sending them now. */
  private readonly capture: PartitionOutput = {
    // QoS 0/1 deliveries go out at once: if the log loses them in a crash, the publisher (never
    // acknowledged) sends again and the subscriber sees a duplicate, which at-least-once allows, and a
    // reused packet id is harmless because QoS 1 receivers keep no per-id state. QoS 2 deliveries and
    // PUBRELs wait for the write: a QoS 2 receiver remembers packet ids, and a forgotten one could
    // make it discard a later, different message as a duplicate.
    deliver: (id, d) => (d.qos === 2 ? this.batch().effects.push([0, id, d]) : this.applyingOut!.deliver(id, d)),
    release: (id, packetId, rc) => this.batch().effects.push([1, id, packetId, rc]),
    kick: (id, rc) => this.batch().effects.push([2, id, rc]),
    // A will or notification routed cluster-wide goes at once, like a QoS 0/1 delivery: its own
    // publish commands are logged where they land.
    forward: (m, group) => this.applyingOut!.forward?.(m, group),
  };

  constructor(
    private readonly partition: Partition,
    private readonly store: PartitionStore,
    lastSeq: number,
    private readonly opts: DurableOptions = DEFAULT_DURABLE_OPTIONS,
  ) {
    this.seq = lastSeq;
  }

  execute(cmd: Command, out: PartitionOutput): { result: CommandResult; ready?: Promise<void> } {
    // A QoS 0 message that is not retained changes no state worth keeping: it goes to whoever is
    // online now or nowhere (never queued offline), so it is neither logged nor held back.
    if (isVolatile(cmd)) return { result: this.partition.apply(cmd, out) };
    if (this.closed) {
      const refused = Promise.reject(new WriteFailedError('storage is closed'));
      refused.catch(() => {}); // like a batch's promise: observed by whoever waits, never unhandled
      return { result: undefined, ready: refused };
    }
    const b = this.batch();
    const result = this.applyTo(b, cmd, out);
    this.sealIfFull(b);
    return { result, ready: this.doneOf(b) };
  }

  executeThen(cmd: Command, out: PartitionOutput, waiter: DurableWaiter, context: unknown, tag: number): void {
    if (isVolatile(cmd)) return waiter.durable(context, tag, this.partition.apply(cmd, out), undefined);
    if (this.closed) return waiter.durable(context, tag, undefined, new WriteFailedError('storage is closed'));
    const b = this.batch();
    const result = this.applyTo(b, cmd, out);
    b.waiters.push(waiter, context, tag, result);
    this.sealIfFull(b);
  }

  /**
   * Before executing commands whose log encoding the caller has: see `adopt`. Until then the
   * batch is not sealed for its size (it would split the run, which is then encoded again).
   */
  mark(): void {
    this.marked = this.current;
    this.markedAt = this.current?.commands.length ?? 0;
    this.holdSeal = true;
  }

  /**
   * The `count` commands executed since `mark()` are `record` (command-codec encoding, `now` as
   * executed): the log takes those bytes instead of encoding the commands again (a cluster back end
   * logs a front end's COMMANDS frame as it came). Ignored unless exactly those commands went into
   * the batch being formed, in one piece: a batch sealed in between, or a command that is not
   * logged (volatile), makes the batch encode them itself as usual.
   */
  adopt(record: Buffer, count: number): void {
    const b = this.current;
    const from = b === undefined ? -1 : this.marked === undefined ? 0 : b === this.marked ? this.markedAt : -1;
    this.marked = undefined;
    this.holdSeal = false;
    if (b === undefined) return;
    if (from >= 0 && b.commands.length - from === count && count > 0) (b.encoded ??= []).push(from, count, record);
    this.sealIfFull(b);
  }

  private applyTo(b: Batch, cmd: Command, out: PartitionOutput): CommandResult {
    b.out = out;
    this.applyingOut = out;
    const result = this.partition.apply(cmd, this.capture);
    b.commands.push(cmd); // commands are immutable once submitted: serialized at seal time, in one pass
    b.bytes += estimatedBytes(cmd);
    return result;
  }

  /**
   * A busy turn (hundreds of 1 KiB publishes) goes out in slices: a store writing on a thread of
   * its own (LevelDB) writes the first while the rest are still being applied, and no write is
   * bigger than a slice.
   */
  private sealIfFull(b: Batch): void {
    if (b.given !== undefined) {
      // The expected commands are all here: written now, without waiting for the check phase.
      if (b.commands.length >= b.givenCount) this.seal(b);
    } else if (this.sealsEarly && b.bytes >= SEAL_BYTES && !this.holdSeal) this.seal(b);
  }

  /** Cut busy turns at SEAL_BYTES here; a chain head turns it off and cuts them where it forwards (`offerRecord`). */
  sealsEarly = true;

  /**
   * A chain replica's predecessor sent these commands as one record: they become one group commit,
   * logged as the predecessor's bytes (decoding and encoding again cost ~4 % of a tail's CPU), and
   * sealed as soon as the last of them is applied. Whatever else joins the batch, it is encoded.
   */
  expectRecord(record: Buffer, count: number): void {
    if (this.closed || count <= 0) return;
    if (this.current !== undefined && this.current.commands.length > 0) this.seal(this.current);
    const b = this.batch();
    b.given = record;
    b.givenCount = count;
  }

  /** A chain head's record of the commands it forwards: when they are exactly the group commit being formed, it is logged as these bytes, now. */
  offerRecord(commands: readonly Command[], record: Buffer): void {
    const b = this.current;
    const n = commands.length;
    if (b === undefined || b.given !== undefined || n === 0 || b.commands.length !== n) return;
    if (b.commands[0] !== commands[0] || b.commands[n - 1] !== commands[n - 1]) return;
    b.given = record;
    b.givenCount = n;
    this.seal(b); // the successor has these commands now; the log need not wait for the check phase
  }

  private batch(): Batch {
    let b = this.current;
    if (b !== undefined && !this.parked) return b;
    if (b === undefined) {
      b = {
        commands: [],
        encoded: undefined,
        givenCount: 0,
        effects: [],
        waiters: [],
        out: undefined,
        bytes: 0,
        sealed: false,
        done: undefined,
        resolve: undefined,
        reject: undefined,
      };
      this.current = b;
    }
    this.parked = false;
    // A new batch, or a parked one (parkLoneAcks) that a command joins, is sealed in the check
    // phase, after the event-loop iteration's I/O; queued once the current task is done so that the
    // front end's flush of this iteration's writes (also a setImmediate, queued by the first write)
    // runs first: deliveries go out before the log write is prepared and posted. process.nextTick
    // with arguments, not queueMicrotask and closures: queueMicrotask makes an AsyncResource and a
    // bound function on every call, and this runs for every group commit.
    process.nextTick(DurableExecutor.sealAfterIo, this, b);
    return b;
  }

  private doneOf(b: Batch): Promise<void> {
    if (b.done === undefined) {
      b.done = new Promise<void>((resolve, reject) => {
        b.resolve = resolve;
        b.reject = reject;
      });
      b.done.catch(() => {}); // callers observe the failure through their own promise chains
    }
    return b.done;
  }

  private static sealAfterIo(executor: DurableExecutor, b: Batch): void {
    setImmediate(DurableExecutor.sealNow, executor, b);
  }

  private static sealNow(executor: DurableExecutor, b: Batch): void {
    if (executor.opts.parkLoneAcks === true && b === executor.current && executor.onlyPubacks(b)) executor.parked = true;
    else executor.seal(b);
  }

  /** A batch that parkLoneAcks may leave open: subscribers' PUBACKs and nothing waiting on their write. */
  private onlyPubacks(b: Batch): boolean {
    if (b.sealed || b.effects.length > 0 || b.done !== undefined || b.given !== undefined || b.encoded !== undefined || this.needSnapshot) return false;
    for (let i = 0; i < b.commands.length; i++) {
      const c = b.commands[i];
      if ((c.type !== 'ack' && c.type !== 'acks') || c.kind !== 'puback') return false;
    }
    return true;
  }

  private seal(b: Batch): void {
    if (b.sealed) return;
    b.sealed = true;
    if (this.current === b) {
      this.current = undefined;
      this.parked = false;
    }
    if (b.commands.length > 0) {
      const merges = this.store.mergesAppends === true;
      const alloc = merges ? this.scratchAlloc : undefined;
      b.record =
        b.given !== undefined && b.givenCount === b.commands.length
          ? merges
            ? b.given // copied by the store during append, before anybody else sees the batch
            : ownCopy(b.given) // the store takes the memory; the given bytes belong to a frame
          : b.encoded === undefined
            ? encodeCommands(b.commands, alloc)
            : this.joinEncoded(b, alloc);
      b.given = undefined;
      b.encoded = undefined;
      this.bytesSinceSnapshot += b.record.length;
      this.recordsSinceSnapshot += b.commands.length;
    }
    const retryDue = this.needSnapshot && Date.now() >= this.retrySnapshotAt;
    if (retryDue || (!this.needSnapshot && this.snapshotDue())) {
      // Now, and only now, memory holds exactly the commands sealed so far: the snapshot covers them all.
      b.snapshot = v8.serialize(snapshotPartition(this.partition));
      this.lastSnapshotBytes = b.snapshot.length;
      this.needSnapshot = false;
      this.recordsSinceSnapshot = 0;
      this.bytesSinceSnapshot = 0;
    }
    this.queued.push(b);
    this.queuedBytes += b.bytes;
    this.dispatch();
  }

  private snapshotDue(): boolean {
    if (this.bytesSinceSnapshot >= this.opts.snapshotEveryBytes) return true;
    return this.recordsSinceSnapshot >= this.opts.snapshotEveryRecords && this.bytesSinceSnapshot >= (this.opts.snapshotLogRatio ?? 0) * this.lastSnapshotBytes;
  }

  /** The batch's record from the runs the caller encoded and the commands in between, in order. */
  private joinEncoded(b: Batch, alloc: ((bound: number) => Buffer) | undefined): Buffer {
    const runs = b.encoded!;
    const parts: Buffer[] = [];
    let at = 0;
    for (let i = 0; i < runs.length; i += 3) {
      const from = runs[i] as number;
      if (from > at) parts.push(encodeCommands(b.commands.slice(at, from)));
      parts.push(runs[i + 2] as Buffer);
      at = from + (runs[i + 1] as number);
    }
    if (at < b.commands.length) parts.push(encodeCommands(b.commands.slice(at)));
    return joinRecords(parts, alloc);
  }

  /**
   * Starts writes while fewer than MAX_WRITES_IN_FLIGHT are out; everything sealed while they were
   * all busy goes out together. A store that merges appends itself gets every batch at once (this
   * is also what lets a sealed record live in reused memory: it is copied before the next seal).
   * Sequence numbers are assigned here, in seal order, and the store makes appends durable in call
   * order, so a later write never lands without an earlier one.
   */
  private dispatch(): void {
    const merges = this.store.mergesAppends === true;
    while (this.queued.length > 0 && (merges || this.inFlight.length < MAX_WRITES_IN_FLIGHT)) {
      // Small batches wait behind the write in progress and go out together (fewer, larger
      // commits); a full one does not wait, so the store writes while the event loop goes on.
      if (!merges && this.inFlight.length > 0 && this.queuedBytes < SEAL_BYTES) return;
      const batches = this.queued;
      this.queued = [];
      this.queuedBytes = 0;
      const w: Write = { batches, settled: false, error: undefined, startedAt: performance.now() };
      this.inFlight.push(w);
      this.write(w).then(
        () => this.settled(w, undefined),
        (err: Error) => this.settled(w, err),
      );
    }
  }

  private write(w: Write): Promise<void> {
    const { batches } = w;
    let k = -1;
    for (let i = 0; i < batches.length; i++) if (batches[i].snapshot) k = i;
    let seq = this.seq;
    for (const b of batches) this.seq += b.commands.length;
    // After a failed write the log has a hole: nothing may be appended until a snapshot covers it.
    if (this.logHasGap && k < 0) return Promise.reject(new WaitingForSnapshot(this.lastWriteError));
    let snapshotSeq = seq;
    for (let i = 0; i <= k; i++) snapshotSeq += batches[i].commands.length;
    // Aside (os mode, a store that can, no hole to cover): the snapshot goes beside the log rather
    // than in place of the records it covers. Every record is appended, the snapshot's own batches
    // too, and the write waits for them alone, not for the snapshot to be stored; one that fails
    // costs a longer log and is taken again after a pause.
    const aside = k >= 0 && !this.logHasGap && !this.opts.sync && this.store.snapshotAside !== undefined;
    let snapshotWrite: Promise<void> | undefined;
    if (k >= 0 && !aside) {
      snapshotWrite = this.store.writeSnapshot(snapshotSeq, batches[k].snapshot!, this.opts.sync);
      this.logHasGap = false;
    }
    const records: Array<{ seq: number; count: number; record: Buffer }> = [];
    const from = aside ? 0 : k + 1;
    if (!aside) seq = snapshotSeq;
    for (let i = from; i < batches.length; i++) {
      const b = batches[i];
      if (b.record) records.push({ seq: seq + 1, count: b.commands.length, record: b.record });
      seq += b.commands.length;
    }
    // The store has the records now (moved or copied): the batches only wait for the answer.
    for (const b of batches) b.record = undefined;
    const append = records.length > 0 ? this.store.append(records, this.opts.sync) : undefined;
    if (aside) {
      // After the append: the store starts the segment after the snapshot once the records it covers are written.
      this.store.snapshotAside!(snapshotSeq, batches[k].snapshot!).catch((err: Error) => this.snapshotFailed(err));
      batches[k].snapshot = undefined;
    }
    if (snapshotWrite && append) return Promise.all([snapshotWrite, append]).then(() => {});
    return snapshotWrite ?? append ?? Promise.resolve();
  }

  private snapshotFailed(err: Error): void {
    if (this.closed) return;
    this.needSnapshot = true;
    this.retrySnapshotAt = Date.now() + SNAPSHOT_RETRY_MS;
    this.opts.onError?.(new SnapshotFailedError(`snapshot failed (the log is kept whole, and grows until one is stored): ${err.message}`, { cause: err }));
  }

  /** Answers writes in the order they were started, whatever order their promises settle in. */
  private settled(w: Write, err: Error | undefined): void {
    w.settled = true;
    w.error = err;
    if (err === undefined) this.writeLatency.observe((performance.now() - w.startedAt) / 1000);
    while (this.inFlight.length > 0 && this.inFlight[0].settled) {
      const head = this.inFlight.shift()!;
      if (head.error === undefined) {
        for (const b of head.batches) {
          this.release(b);
          b.resolve?.();
          notify(b.waiters, undefined);
        }
      } else {
        this.failed(head);
      }
    }
    this.dispatch();
  }

  private failed(w: Write): void {
    const err = w.error!;
    this.logHasGap = true;
    this.needSnapshot = true;
    // The store refuses every append after a failed one until a snapshot: same cause as that one.
    const waiting = err instanceof WaitingForSnapshot || err instanceof LogGapError;
    const cause = err instanceof WaitingForSnapshot ? err.cause : err instanceof LogGapError ? this.lastWriteError : err;
    if (!waiting) {
      // A real write failure: retry with a snapshot after a pause (a full disk does not heal in
      // microseconds). Refusals while waiting must not push that retry further out.
      this.lastWriteError = err;
      this.retrySnapshotAt = Date.now() + SNAPSHOT_RETRY_MS;
      setTimeout(() => this.batch(), SNAPSHOT_RETRY_MS).unref();
    }
    const e = new WriteFailedError(`durable write failed: ${(cause as Error | undefined)?.message ?? 'unknown'}`, { cause });
    if (!waiting) this.opts.onError?.(e);
    for (const b of w.batches) {
      this.release(b); // the in-memory state moved on: keep live connections consistent with it
      b.reject?.(e);
      notify(b.waiters, e);
    }
  }

  private release(b: Batch): void {
    const out = b.out;
    if (!out) return;
    for (const [kind, id, arg, rc] of b.effects) {
      if (kind === 0) out.deliver(id, arg as never);
      else if (kind === 1) out.release(id, arg as number, rc);
      else out.kick(id, arg as number);
    }
  }

  /** Resolves once everything executed so far is durable. */
  async flush(): Promise<void> {
    if (this.current && this.parked) this.seal(this.current);
    if (this.current) await this.doneOf(this.current).catch(() => {});
    while (this.inFlight.length > 0 || this.queued.length > 0) await new Promise((r) => setImmediate(r));
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    await this.store.close();
  }
}
