/**
 * The connection of a front end (or of a back end routing a will) to one back-end node: dialed
 * and re-dialed with backoff, commands gathered per partition over one event-loop turn into one
 * COMMANDS frame, replies matched to their callers by request id without a promise per command.
 *
 * While the node is unreachable, commands somebody waits for are held for a bounded time and then
 * refused with a reason code; commands nobody waits for (acks, QoS 0) are dropped, since their
 * connections are closed anyway. Requests in flight when the link breaks are refused at once: the
 * caller never hears of success it does not have.
 *
 * Except keyed appends (PublishCommand.key, issue 15): the dead head may have forwarded one down
 * its chain, and a refusal would make the publisher send it again (a QoS 2 duplicate). They are
 * kept and sent again, to this node when it comes back or to the partition's new head when the map
 * names one (ClusterClient moves them), and refused only after `keyedWaitMs`. The partition
 * answers a key it already applied with the first result.
 */
import type { AckCommand, Command } from '../../partition/commands.js';
import { ACK_RUN_MAX, sameAckHead } from '../../storage/command-codec.js';
import { RC } from '../../mqtt/reason-codes.js';
import { KEYED_RETRY_DELAY_MS } from '../timeouts.js';
import { dialTransport, type Hello } from '../transport/handshake.js';
import type { Link } from '../transport/link.js';
import { FrameType, ReplyStatus, decodeReplies, encodeCommandsFrame, packr } from '../transport/protocol.js';
import { PendingTable } from './pending-table.js';

/** Told the outcome of one command; `value` is the result, or `[reasonCode, message]` when refused. */
export interface ReplyHandler {
  reply(ctx: unknown, tag: number, ok: boolean, value: unknown, feedSeq: number): void;
}

export interface Pending {
  h: ReplyHandler;
  ctx: unknown;
  tag: number;
  partition: number;
  since: number;
  /** A keyed append, kept to be sent again if its answer is lost (see the file comment). */
  cmd: Command | undefined;
  /** A keyed append is refused after this time (ms since the epoch). */
  deadline: number;
}

/** A command taken off a link to be sent to its partition's new head. */
export interface MovedCommand {
  partition: number;
  cmd: Command;
  pending: Pending | undefined;
}

export interface PartitionBatch {
  ids: number[];
  commands: Command[];
  pending: Array<Pending | undefined>;
}

export interface NodeLinkEvents {
  up(node: NodeLink): void;
  down(node: NodeLink, reason: string): void;
  frame(node: NodeLink, type: number, epoch: number, body: Buffer): void;
}

export interface NodeLinkOptions {
  token: string;
  hello: Hello;
  /** Read the link into the shared buffer (util/shared-reads.ts): a front end keeps no frame's bytes. */
  sharedReads?: boolean;
  epoch(): number;
  /** Where the node listens now (from the map); undefined while the map does not name it. */
  address(): { host: string; port: number } | undefined;
  /** How long a command waits for an unreachable node before it is refused. */
  waitMs: number;
  /** A keyed append refused before it was applied (not the head, stale epoch): send it to the partition's head of now. */
  retry?(partition: number, cmd: Command, pending: Pending): void;
  /**
   * How long a keyed append may be sent again (default waitMs). Longer where the partition has a
   * successor that may have applied it and takes over as head (KEYED_RETRY_WAIT_MS).
   */
  keyedWaitMs?(partition: number): number;
  events: NodeLinkEvents;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

/** Estimated encoded bytes of a queued command beyond its payload and topic (for `backlog`). */
const COMMAND_OVERHEAD = 32;
/** What an ack joined to the one before it adds to the frame (packet id and reason code, no request id). */
const JOINED_ACK_BYTES = 3;
const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 1000;
const SWEEP_MS = 100;
/**
 * A subscriber's acknowledgement queued with nothing else waits this long for other commands to
 * ride with it. At a moderate rate every message is alone in its event-loop turn, and sending each
 * acknowledgement at once woke the back end (and wrote its log) a second time per message; the next
 * publish, a few hundred microseconds later, carries it instead. Nothing waits on an
 * acknowledgement but the subscriber's inflight window, and anything queued after it flushes it
 * along, in order.
 */
const ACK_LINGER_MS = 2;

export class NodeLink {
  private link: Link | undefined;
  private dialing = false;
  private stopped = false;
  private backoff = BACKOFF_MIN_MS;
  private retry: NodeJS.Timeout | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private nextId = 1;
  private readonly inFlight = new PendingTable<Pending>();
  private batches = new Map<number, PartitionBatch>();
  /**
   * Estimated bytes of the commands queued for the next flush: part of `backlog`, so a publisher is
   * held back within the turn its messages fill the link, not one turn later (a turn may read
   * megabytes from many publishers' sockets).
   */
  private queuedBytes = 0;
  private flushQueued = false;
  /** Armed by an acknowledgement queued alone: it waits ACK_LINGER_MS for other commands to ride with. */
  private ackTimer: NodeJS.Timeout | undefined;
  private lastError = '';
  /** Called once when the socket's backlog is written out or the link is lost (`whenDrained`). */
  private drainWaiters: Array<() => void> = [];
  /** `whenDrained` callers that asked while commands waited for the flush: judged once they are written. */
  private flushWaiters: Array<() => void> = [];
  /** The node's frames are not read (pushback: a subscriber they feed is behind); kept across a re-dial. */
  private inputHeld = false;

  constructor(
    readonly nodeId: string,
    private readonly opts: NodeLinkOptions,
  ) {}

  get up(): boolean {
    return this.link !== undefined && !this.link.closed;
  }

  /** Bytes waiting for the node: queued for this turn's flush (estimated) plus the socket's. */
  get backlog(): number {
    const l = this.link;
    return l === undefined ? 0 : l.backlog + this.queuedBytes;
  }

  /**
   * `fn` runs once the bytes waiting now are written out, or the link is gone: the front end holds
   * a publisher back meanwhile, as it does for a subscriber's socket (frontend/pushback.ts).
   */
  whenDrained(fn: () => void): void {
    if (!this.up) return fn();
    // Commands still to be flushed: whether a 'drain' will follow is known once they are written.
    if (this.queuedBytes > 0) {
      this.flushWaiters.push(fn);
      return;
    }
    // Only a refused write is followed by a 'drain': below the high-water mark none comes, so the waiter runs now.
    if (this.link!.backlog === 0 || !this.link!.needsDrain) return fn();
    this.drainWaiters.push(fn);
  }

  /** After a flush: the waiters that asked before it wait for the socket's 'drain' if one will come. */
  private flushed(): void {
    if (this.flushWaiters.length === 0) return;
    const list = this.flushWaiters;
    this.flushWaiters = [];
    if (this.up && this.link!.needsDrain && this.link!.backlog > 0) {
      for (const fn of list) this.drainWaiters.push(fn);
    } else {
      for (const fn of list) fn();
    }
  }

  /** Stop reading the node's frames (deliveries, replies) until `resumeInput`: TCP carries it to the node. */
  pauseInput(): void {
    this.inputHeld = true;
    this.link?.pauseInput();
  }

  resumeInput(): void {
    this.inputHeld = false;
    this.link?.resumeInput();
  }

  private drained(): void {
    if (this.flushWaiters.length > 0 && !this.up) {
      const list = this.flushWaiters;
      this.flushWaiters = [];
      for (const fn of list) fn();
    }
    if (this.drainWaiters.length === 0) return;
    const list = this.drainWaiters;
    this.drainWaiters = [];
    for (const fn of list) fn();
  }

  get reason(): string {
    return this.lastError;
  }

  start(): void {
    this.stopped = false;
    this.dial();
  }

  private dial(): void {
    if (this.stopped || this.dialing || this.up) return;
    const addr = this.opts.address();
    if (!addr) return this.again('not in the cluster map');
    this.dialing = true;
    dialTransport(
      { host: addr.host, port: addr.port, token: this.opts.token, hello: this.opts.hello, sharedReads: this.opts.sharedReads },
      {
        frame: (_l, type, epoch, body) => this.frame(type, epoch, body),
        drained: () => this.drained(),
        closed: (l, reason) => this.lost(l, reason ?? 'closed'),
      },
    ).then(
      (link) => {
        this.dialing = false;
        if (this.stopped) return link.close();
        if (link.closed) return this.again('closed right after the handshake');
        this.link = link;
        if (this.inputHeld) link.pauseInput();
        this.backoff = BACKOFF_MIN_MS;
        this.lastError = '';
        this.opts.log?.info({ node: this.nodeId, at: `${addr.host}:${addr.port}` }, 'connected to back end');
        this.opts.events.up(this);
        this.flush();
      },
      (err: Error) => {
        this.dialing = false;
        this.again(err.message);
      },
    );
  }

  private again(reason: string): void {
    if (this.stopped) return;
    this.lastError = reason;
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.dial(), this.backoff);
    this.retry.unref();
    this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
    this.sweepSoon();
  }

  private lost(l: Link, reason: string): void {
    if (this.link !== l) return;
    this.link = undefined;
    this.drained(); // nothing waits for a socket that is gone
    this.opts.log?.warn({ node: this.nodeId, reason }, 'lost the connection to a back end');
    const failed = this.inFlight.entries().map(([, p]) => p);
    this.inFlight.clear();
    for (const p of failed) {
      if (p.cmd && this.keyedAlive(p)) this.enqueue(p.partition, p.cmd, p);
      else this.refuse(p, RC.UnspecifiedError, `partition ${p.partition} (node ${this.nodeId}) went away before answering: ${reason}`);
    }
    this.opts.events.down(this, reason);
    this.again(reason);
  }

  private refuse(p: Pending, rc: number, message: string): void {
    try {
      p.h.reply(p.ctx, p.tag, false, [rc, message], 0);
    } catch {
      /* a handler must not throw; the others still hear */
    }
  }

  /** Queue a command for `partition`; with a handler, its outcome is reported once. */
  command(partition: number, cmd: Command, h?: ReplyHandler, ctx?: unknown, tag = 0): void {
    if (!h && !this.up) return; // nobody waits and the node is gone: its connections are closed anyway
    if (!h) return this.enqueue(partition, cmd, undefined);
    const keyed = cmd.type === 'publish' && cmd.key !== undefined;
    const since = Date.now();
    const deadline = keyed ? since + (this.opts.keyedWaitMs?.(partition) ?? this.opts.waitMs) : 0;
    this.enqueue(partition, cmd, { h, ctx, tag, partition, since, cmd: keyed ? cmd : undefined, deadline });
  }

  /** Queue a command that waited elsewhere already (`pending.since` is kept: the wait limit counts from the first sending). */
  enqueue(partition: number, cmd: Command, pending: Pending | undefined): void {
    let b = this.batches.get(partition);
    if (!b) this.batches.set(partition, (b = { ids: [], commands: [], pending: [] }));
    const joined = pending === undefined && cmd.type === 'ack' && joinAck(b, cmd);
    if (!joined) {
      const id = pending ? this.allocId() : 0;
      if (pending) pending.partition = partition;
      b.ids.push(id);
      b.commands.push(cmd);
      b.pending.push(pending);
    }
    if (!this.up) return this.sweepSoon();
    this.queuedBytes += joined ? JOINED_ACK_BYTES : cmd.type === 'publish' ? cmd.message.payload.length + cmd.message.topic.length + COMMAND_OVERHEAD : COMMAND_OVERHEAD;
    if (this.flushQueued) return;
    if (!pending && cmd.type === 'ack') {
      this.ackTimer ??= setTimeout(this.flushNow, ACK_LINGER_MS).unref();
      return;
    }
    this.flushQueued = true;
    setImmediate(this.flushNow);
  }

  /** A control request (follow, stats): refused at once while the node is unreachable. */
  request(partition: number, op: string, arg: unknown, h: ReplyHandler, ctx?: unknown, tag = 0): void {
    const pending: Pending = { h, ctx, tag, partition, since: Date.now(), cmd: undefined, deadline: 0 };
    if (!this.up) return this.refuse(pending, RC.ServerUnavailable, `node ${this.nodeId} is unreachable: ${this.lastError || 'connecting'}`);
    const id = this.allocId();
    this.inFlight.set(id, pending);
    // Commands queued before the request leave before it (a handover's barrier relies on this).
    this.flush();
    this.link!.send(FrameType.Request, this.opts.epoch(), packr.pack([id, op, arg]));
  }

  private allocId(): number {
    const id = this.nextId;
    this.nextId = id >= 0xffffffff ? 1 : id + 1;
    return id;
  }

  private readonly flushNow = (): void => {
    this.flushQueued = false;
    this.flush();
    // This runs in the check phase (or from the ack timer): the link's own uncork would come only
    // in the next event-loop iteration, after that iteration's I/O (all of a full read's work).
    this.link?.flush();
  };

  private flush(): void {
    // Whatever armed it, the timer is spent: a link that is down flushes on reconnecting instead.
    if (this.ackTimer !== undefined) {
      clearTimeout(this.ackTimer);
      this.ackTimer = undefined;
    }
    const link = this.link;
    if (!link || link.closed) return;
    this.queuedBytes = 0;
    if (this.batches.size === 0) return this.flushed();
    const batches = this.batches;
    this.batches = new Map();
    const epoch = this.opts.epoch();
    for (const [partition, b] of batches) {
      for (let i = 0; i < b.ids.length; i++) if (b.pending[i]) this.inFlight.set(b.ids[i], b.pending[i]!);
      let frame: Buffer;
      try {
        frame = encodeCommandsFrame(partition, b.ids, b.commands);
      } catch (err) {
        for (let i = 0; i < b.ids.length; i++) {
          if (!b.pending[i]) continue;
          this.inFlight.take(b.ids[i]);
          this.refuse(b.pending[i]!, RC.ImplementationSpecificError, `command could not be encoded: ${(err as Error).message}`);
        }
        continue;
      }
      link.sendFramed(FrameType.Commands, epoch, frame);
    }
    this.flushed();
  }

  /** Refuses commands that waited too long for an unreachable node. */
  private sweepSoon(): void {
    if (this.sweeper || this.stopped) return;
    this.sweeper = setTimeout(() => {
      this.sweeper = undefined;
      if (this.up) return;
      const limit = Date.now() - this.opts.waitMs;
      let left = 0;
      for (const [partition, b] of this.batches) {
        const keep: PartitionBatch = { ids: [], commands: [], pending: [] };
        for (let i = 0; i < b.ids.length; i++) {
          const p = b.pending[i];
          if (!p) continue;
          if (p.cmd ? !this.keyedAlive(p) : p.since <= limit) {
            this.refuse(p, RC.ServerUnavailable, `partition ${partition} is unavailable (node ${this.nodeId}: ${this.lastError || 'connecting'})`);
            continue;
          }
          keep.ids.push(b.ids[i]);
          keep.commands.push(b.commands[i]);
          keep.pending.push(p);
        }
        if (keep.ids.length > 0) this.batches.set(partition, keep);
        else this.batches.delete(partition);
        left += keep.ids.length;
      }
      if (left > 0) this.sweepSoon();
    }, SWEEP_MS);
    this.sweeper.unref();
  }

  private frame(type: number, epoch: number, body: Buffer): void {
    if (type === FrameType.Replies) {
      const flat = decodeReplies(body);
      for (let i = 0; i + 3 < flat.length; i += 4) {
        const id = flat[i] as number;
        const p = this.inFlight.take(id);
        if (!p) continue;
        if (p.cmd && flat[i + 1] !== ReplyStatus.Ok && this.retriable(p, flat[i + 2])) {
          // Refused, maybe before it was applied (this node is no longer the head, or the map moved
          // on): once the map has caught up, the partition's head of then gets it.
          const { partition, cmd } = p;
          setTimeout(() => (this.opts.retry ? this.opts.retry(partition, cmd!, p) : this.enqueue(partition, cmd!, p)), KEYED_RETRY_DELAY_MS).unref();
          continue;
        }
        try {
          p.h.reply(p.ctx, p.tag, flat[i + 1] === ReplyStatus.Ok, flat[i + 2], flat[i + 3] as number);
        } catch {
          /* a handler must not throw */
        }
      }
      return;
    }
    this.opts.events.frame(this, type, epoch, body);
  }

  private keyedAlive(p: Pending): boolean {
    return Date.now() < p.deadline;
  }

  /**
   * 0x88: refused before it was applied (not the head, stale epoch). 0x80: the replica's executor
   * failed it (e.g. demoted while it waited for the chain); it may live on down the chain. A second
   * sending of a keyed append is safe either way; a final answer (quota) comes as a result, not here.
   */
  private retriable(p: Pending, value: unknown): boolean {
    return !this.stopped && Array.isArray(value) && (value[0] === RC.ServerUnavailable || value[0] === RC.UnspecifiedError) && this.keyedAlive(p);
  }

  /**
   * Takes the commands of the partitions `moved` says this node no longer heads: every queued one
   * (never sent, so never applied) and the keyed ones in flight (their answer may never come; a
   * second sending is answered from the key). The rest in flight stay: the node answers or the
   * link's loss refuses them.
   */
  take(moved: (partition: number) => boolean): MovedCommand[] {
    const out: MovedCommand[] = [];
    for (const [id, p] of this.inFlight.entries()) {
      if (!p.cmd || !moved(p.partition)) continue;
      this.inFlight.take(id);
      out.push({ partition: p.partition, cmd: p.cmd, pending: p });
    }
    for (const [partition, b] of this.batches) {
      if (!moved(partition)) continue;
      this.batches.delete(partition);
      for (let i = 0; i < b.ids.length; i++) out.push({ partition, cmd: b.commands[i], pending: b.pending[i] });
    }
    return out;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    clearTimeout(this.sweeper);
    clearTimeout(this.ackTimer);
    this.sweeper = undefined;
    const l = this.link;
    this.link = undefined;
    for (const [, p] of this.inFlight.entries()) this.refuse(p, RC.ServerShuttingDown, 'shutting down');
    this.inFlight.clear();
    for (const b of this.batches.values()) for (const p of b.pending) if (p) this.refuse(p, RC.ServerShuttingDown, 'shutting down');
    this.batches.clear();
    l?.close();
    this.drained();
  }
}

/**
 * An acknowledgement nobody waits for joins the one queued right before it for the same connection
 * and kind, into one AcksCommand: a subscriber's PUBACKs read from one socket chunk (20 per message
 * of a fan-out) are then one command for the back end to decode, dispatch and log, not one each.
 */
export function joinAck(b: PartitionBatch, a: AckCommand): boolean {
  const n = b.commands.length;
  if (n === 0 || b.pending[n - 1] !== undefined) return false;
  const last = b.commands[n - 1];
  if ((last.type !== 'ack' && last.type !== 'acks') || !sameAckHead(last, a)) return false;
  if (last.type === 'ack') {
    b.commands[n - 1] = { type: 'acks', now: a.now, clientId: a.clientId, connectionId: a.connectionId, kind: a.kind, packetIds: [last.packetId, a.packetId], reasonCodes: [last.reasonCode, a.reasonCode] };
    return true;
  }
  if (last.packetIds.length >= ACK_RUN_MAX) return false;
  last.packetIds.push(a.packetId);
  last.reasonCodes.push(a.reasonCode);
  return true;
}
