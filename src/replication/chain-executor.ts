/**
 * A partition replica in a chain, seen by its host as a plain `CommandExecutor`. It wraps the
 * replica's own executor (durable or memory) and knows nothing of sockets: the replica around it
 * (chain-replica.ts) moves its sequence numbers between processes.
 *
 * Every command gets a chain sequence number: the head assigns it (and the host stamps `now`),
 * every other replica takes the head's. A replica applies a command at once, hands it to its own
 * store, and queues it for its successor; it acknowledges upstream only the prefix that is stored
 * here *and* acknowledged by its successor, so an acknowledgement from the head's successor means
 * "stored on every replica". Storing and forwarding overlap (a replica does not wait for its own
 * write before it forwards): the acknowledgement, not the forwarding, is what carries the promise.
 *
 * The head holds back everything a command caused until it is committed (acknowledged by the
 * whole chain): the reply to the front end (PUBACK, PUBREC, SUBACK, CONNACK, state-store answers),
 * and every effect (deliveries, PUBRELs, kicks, wills routed cluster-wide). So subscribers and
 * readers only ever see committed state, and a message a subscriber received is never lost when
 * the head dies. The alternative — deliveries driven by the tail — would need every front end to
 * follow every tail and the connection registry to live in the tail; holding the effects in the
 * head costs one round trip of latency and keeps the front-end protocol of a chain of one.
 *
 * Replicas that are not the head drop effects (nobody is connected to them) but keep the commands
 * that their successor has not acknowledged: when a middle replica dies, its predecessor re-sends
 * exactly those to the new successor.
 */
import type { CommandExecutor, DurableWaiter } from '../core/local-core.js';
import type { Command } from '../partition/commands.js';
import type { PartitionOutput } from '../partition/output.js';
import type { CommandResult } from '../partition/partition.js';
import { isVolatile } from '../storage/durable-executor.js';

/** Where the executor's sequence numbers go; implemented by the replica's links. */
export interface ChainNeighbours {
  /** Queue a command for the successor (called only while the chain has one). */
  forward(seq: number, cmd: Command): void;
  /** Everything up to `seq` is stored here and at every replica after this one. */
  ack(seq: number): void;
}

interface Entry {
  seq: number;
  cmd: Command;
  waiter: DurableWaiter | undefined;
  ctx: unknown;
  tag: number;
  result: CommandResult;
  error: Error | undefined;
  stored: boolean;
}

/** A command that the chain refused because this replica does not take commands from front ends. */
export class NotHeadError extends Error {
  readonly code = 'EDGEMQ_NOT_HEAD';
}

const EFFECT_DELIVER = 0;
const EFFECT_RELEASE = 1;
const EFFECT_KICK = 2;
const EFFECT_FORWARD = 3;

const entryWaiter: DurableWaiter = {
  durable(context, _tag, result, error) {
    const e = context as Entry & { owner: ChainExecutor };
    e.owner.stored(e, result, error);
  },
};

export class ChainExecutor implements CommandExecutor {
  /** This replica takes commands from front ends and replies to them. */
  head = false;
  /** The chain has a replica after this one (linked or not): commands are forwarded to it. */
  hasSuccessor = false;
  /**
   * Commit waits for the successor's acknowledgement. Not while the successor takes a state
   * transfer: a replica that holds no complete state can never become head (chain-replica.ts), so
   * the chain commits without it until it has caught up with everything committed.
   */
  private awaitSuccessor = false;
  /** Highest sequence number applied here. */
  seq = 0;
  /** Highest sequence number every replica from here to the tail has stored. */
  committed = 0;
  /** Highest sequence number the successor acknowledged. */
  private successorAck = 0;
  /** Highest contiguous sequence number stored by this replica's own executor. */
  private storedSeq = 0;
  private ackSent = 0;
  /**
   * Commands not yet committed, oldest first, from `entriesAt` on (committed ones before it are
   * dropped in bulk, see `compact`). Every stored command moves the commit point: removing it from
   * the front of the array one by one (splice) made a tail's big append cost O(n²), a quarter of
   * the tail's CPU under fan-in QoS 1, and the slower tail got bigger appends.
   */
  private entries: Entry[] = [];
  private entriesAt = 0;
  /** Index in `entries` of the first command not yet stored locally (stored in order up to there). */
  private storedAt = 0;
  /** Held effects, flat: seq, kind, connectionId, argument. */
  private effects: unknown[] = [];
  private effectsAt = 0;
  private applying = 0;
  private out: PartitionOutput | undefined;
  /** A local write failed: this replica stops acknowledging (it must not claim what it has not stored). */
  broken: Error | undefined;

  private readonly gate: PartitionOutput = {
    deliver: (id, d) => this.effect(EFFECT_DELIVER, id, d),
    release: (id, packetId) => this.effect(EFFECT_RELEASE, id, packetId),
    kick: (id, rc) => this.effect(EFFECT_KICK, id, rc),
    forward: (m, group) => this.effect(EFFECT_FORWARD, group, m),
  };

  constructor(
    public inner: CommandExecutor,
    private readonly neighbours: ChainNeighbours,
    private readonly onBroken: (err: Error) => void,
  ) {}

  /** Commands the successor has not acknowledged, from `after` on (for a re-sent tail or a new successor). */
  unacknowledgedAfter(after: number): Command[] | undefined {
    const first = this.entries[this.entriesAt]?.seq ?? this.seq + 1;
    if (after + 1 < first) return undefined; // already dropped: the successor needs the whole state
    const cmds: Command[] = [];
    for (let i = this.entriesAt; i < this.entries.length; i++) if (this.entries[i].seq > after) cmds.push(this.entries[i].cmd);
    return cmds;
  }

  /**
   * This replica stops being the head (the map put it elsewhere in its chain, or took the partition
   * away) with commands it accepted and never committed: every one of them is refused now, with
   * `NotHeadError` (0x88 to the front end), never forgotten. A keyed append is then sent to the new
   * head under its idempotency key, which answers it from its applied keys if the chain had it; an
   * unkeyed command is refused to its client, as when the link to a dead head breaks. Their held
   * effects are dropped: an uncommitted command's deliveries must never reach anybody.
   */
  demote(reason: string): void {
    this.head = false;
    this.refusePending(reason);
  }

  private refusePending(reason: string): void {
    const entries = this.entries;
    const from = this.entriesAt; // entries before it are committed and were answered
    this.entries = [];
    this.entriesAt = 0;
    this.storedAt = 0;
    this.effects = [];
    this.effectsAt = 0;
    for (let i = from; i < entries.length; i++) {
      const e = entries[i];
      if (!e.waiter) continue;
      try {
        e.waiter.durable(e.ctx, e.tag, undefined, new NotHeadError(reason));
      } catch {
        /* DurableWaiter contract: must not throw; the other callers still hear */
      }
    }
  }

  /** Start over from a transferred state: nothing pending, the next command is `seq + 1`. */
  reset(inner: CommandExecutor, seq: number): void {
    this.refusePending('the replica took a state transfer');
    this.inner = inner;
    this.cutWhereForwarded();
    this.seq = seq;
    this.committed = seq;
    this.storedSeq = seq;
    this.successorAck = seq;
    this.ackSent = 0;
    this.broken = undefined;
  }

  /** A successor joined (or the chain lost its successor): commits wait for (or stop waiting for) it. */
  setSuccessor(present: boolean): void {
    if (present && !this.hasSuccessor) {
      this.successorAck = this.committed;
      this.awaitSuccessor = true;
    }
    this.hasSuccessor = present;
    if (!present) this.awaitSuccessor = false;
    this.cutWhereForwarded();
    this.advance();
  }

  /** A head with a successor cuts its busy turns where it forwards them, and its log takes the same records. */
  private cutWhereForwarded(): void {
    if (this.inner.sealsEarly !== undefined) this.inner.sealsEarly = !(this.head && this.hasSuccessor);
  }

  /** The successor was sent a state transfer: commit goes on without it until it catches up. */
  successorSyncing(): void {
    this.awaitSuccessor = false;
    this.advance();
  }

  /** What this replica last acknowledged upstream (sent again after its link to the predecessor is re-made). */
  get acknowledged(): number {
    return this.ackSent;
  }

  /** Re-evaluate the commit point (after a reset or a role change). */
  poke(): void {
    this.advance();
  }

  successorAcked(seq: number): void {
    if (seq <= this.successorAck) return;
    this.successorAck = Math.min(seq, this.seq);
    if (!this.awaitSuccessor && this.hasSuccessor && this.successorAck >= this.committed) this.awaitSuccessor = true; // caught up
    this.advance();
  }

  /**
   * A head without a successor and with nothing pending is a chain of one: committed means stored
   * here, which is what its own executor already answers, so commands go straight to it (no entry,
   * no held effects: R = 1 costs what part 1 cost). A successor that later links with a sequence
   * number inside this stretch gets a state transfer (`unacknowledgedAfter` has no entries for it).
   */
  private get alone(): boolean {
    return !this.hasSuccessor && this.entriesAt === this.entries.length && this.effectsAt === this.effects.length;
  }

  /**
   * A QoS 0 publish that is not retained changes no state worth keeping (storage/durable-executor):
   * the head routes it to whoever is online now, at once, and the chain never sees it. Holding it
   * for a commit would cost a chain round trip for a message that is never stored anyway. It may
   * overtake a QoS 1/2 message whose commit is pending; MQTT orders messages per QoS only.
   */
  private volatile(cmd: Command): boolean {
    return !this.alone && isVolatile(cmd);
  }

  /** Front ends' commands and the head's own (ticks, ended connections). */
  execute(cmd: Command, out: PartitionOutput): { result: CommandResult; ready?: Promise<void> } {
    if (!this.head) return { result: undefined }; // ticks and ended connections are the head's to order
    if (this.volatile(cmd)) return this.inner.execute(cmd, out);
    if (this.alone) {
      this.committed = this.storedSeq = ++this.seq;
      return this.inner.execute(cmd, out);
    }
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const ready = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    ready.catch(() => {});
    this.append(++this.seq, cmd, out, promiseWaiter, { resolve, reject }, 0);
    return { result: undefined, ready };
  }

  executeThen(cmd: Command, out: PartitionOutput, waiter: DurableWaiter, context: unknown, tag: number): void {
    if (!this.head) return waiter.durable(context, tag, undefined, new NotHeadError('not the head of the chain'));
    if (this.volatile(cmd)) return this.inner.executeThen(cmd, out, waiter, context, tag);
    if (this.alone) {
      this.committed = this.storedSeq = ++this.seq;
      return this.inner.executeThen(cmd, out, waiter, context, tag);
    }
    this.append(++this.seq, cmd, out, waiter, context, tag);
  }

  /** The local log may take a front end's encoding of the commands as it is (durable-executor.ts). */
  mark(): void {
    this.inner.mark?.();
  }

  adopt(record: Buffer, count: number): void {
    this.inner.adopt?.(record, count);
  }

  /**
   * Commands from the predecessor, numbered from `firstSeq`, with the record they came in: when
   * none is a duplicate, the local log stores the record as it is instead of encoding them again.
   */
  replicateRecord(firstSeq: number, commands: readonly Command[], record: Buffer, out: PartitionOutput): void {
    if (firstSeq === this.seq + 1 && commands.length > 0) this.inner.expectRecord?.(record, commands.length);
    for (let k = 0; k < commands.length; k++) this.replicate(firstSeq + k, commands[k], out);
  }

  /** The head encoded commands it forwards (the latest it executed) as `record`: its log may store the same bytes. */
  forwarded(commands: readonly Command[], record: Buffer): void {
    if (this.head) this.inner.offerRecord?.(commands, record);
  }

  /** A command from the predecessor; duplicates of a re-send are skipped, a gap is the caller's error. */
  replicate(seq: number, cmd: Command, out: PartitionOutput): void {
    if (seq <= this.seq) return;
    if (seq !== this.seq + 1) throw new Error(`chain gap: command ${seq} follows ${this.seq}`);
    this.seq = seq;
    this.append(seq, cmd, out, undefined, undefined, 0);
  }

  private append(seq: number, cmd: Command, out: PartitionOutput, waiter: DurableWaiter | undefined, ctx: unknown, tag: number): void {
    this.out = out;
    const e = { seq, cmd, waiter, ctx, tag, result: undefined, error: undefined, stored: false, owner: this } as Entry & { owner: ChainExecutor };
    this.entries.push(e);
    this.applying = seq;
    try {
      this.inner.executeThen(cmd, this.gate, entryWaiter, e, 0);
    } finally {
      this.applying = 0;
    }
    if (this.hasSuccessor) this.neighbours.forward(seq, cmd);
  }

  /** The local executor's answer, in command order (volatile commands may answer before older ones are written). */
  stored(e: Entry, result: CommandResult, error: Error | undefined): void {
    e.stored = true;
    e.result = result;
    e.error = error;
    if (error && !this.head && !this.broken) {
      this.broken = error;
      this.onBroken(error);
    }
    while (this.storedAt < this.entries.length && this.entries[this.storedAt].stored) {
      this.storedSeq = this.entries[this.storedAt].seq;
      this.storedAt++;
    }
    this.advance();
  }

  private advance(): void {
    if (this.broken) return;
    const limit = this.awaitSuccessor ? Math.min(this.storedSeq, this.successorAck) : this.storedSeq;
    if (!this.head && limit > this.ackSent) {
      this.ackSent = limit;
      this.neighbours.ack(limit);
    }
    if (limit <= this.committed) return;
    this.committed = limit;
    // Effects before replies: a resumed session's messages reach the front end before its CONNACK.
    this.releaseEffects();
    const head = this.head;
    // Fields re-read every step: a waiter may (in principle) execute and commit more.
    while (this.entriesAt < this.entries.length && this.entries[this.entriesAt].seq <= limit) {
      const e = this.entries[this.entriesAt++];
      if (head && e.waiter) {
        try {
          e.waiter.durable(e.ctx, e.tag, e.result, e.error);
        } catch {
          /* DurableWaiter contract: must not throw; the other callers still hear */
        }
      }
    }
    this.compact();
  }

  /** Drops committed entries: all at once when none is left, else once they are most of the array. */
  private compact(): void {
    const n = this.entriesAt;
    if (n === 0) return;
    if (n === this.entries.length) {
      this.entries = [];
    } else if (n >= 1024 && 2 * n >= this.entries.length) {
      this.entries = this.entries.slice(n);
    } else return;
    this.entriesAt = 0;
    this.storedAt -= n;
  }

  /** `connectionId` holds the share group for a forward. */
  private effect(kind: number, connectionId: number | string | undefined, arg: unknown): void {
    // Effects of the command being applied carry its number; late ones (QoS 2 deliveries the local
    // executor held for its write) carry the newest number, which only delays them.
    const seq = this.applying || this.seq;
    this.effects.push(seq, kind, connectionId, arg);
    if (seq <= this.committed) this.releaseEffects();
  }

  private releaseEffects(): void {
    const fx = this.effects;
    let i = this.effectsAt;
    const out = this.head ? this.out : undefined;
    while (i < fx.length && (fx[i] as number) <= this.committed) {
      if (out) {
        const kind = fx[i + 1] as number;
        const id = fx[i + 2] as number;
        const arg = fx[i + 3];
        if (kind === EFFECT_DELIVER) out.deliver(id, arg as never);
        else if (kind === EFFECT_RELEASE) out.release(id, arg as number);
        else if (kind === EFFECT_KICK) out.kick(id, arg as number);
        else out.forward?.(arg as never, fx[i + 2] as string | undefined);
      }
      i += 4;
    }
    if (i >= fx.length) {
      this.effects = [];
      this.effectsAt = 0;
    } else if (i > 4096 && 2 * i >= fx.length) {
      // Not whenever the released part passes 4096: a tail releasing one command at a time
      // copied the whole rest of a big append's effects at every step.
      this.effects = fx.slice(i);
      this.effectsAt = 0;
    } else this.effectsAt = i;
  }

  async close(): Promise<void> {
    await this.inner.close();
  }
}

const promiseWaiter: DurableWaiter = {
  durable(context, _tag, _result, error) {
    const c = context as { resolve(): void; reject(e: Error): void };
    if (error) c.reject(error);
    else c.resolve();
  },
};
