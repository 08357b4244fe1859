/**
 * One replica of one partition on a back end: the state machine, its own store, and the links to
 * its neighbours in the chain the map gives it (head first). The host (the back-end node) sees only
 * `partition` and `executor`; who is head, what is committed and how a new replica catches up are
 * decided here.
 *
 * Links: the successor dials its predecessor and says HELLO with the history it holds (lineage and
 * last sequence number). The predecessor answers with the commands the successor lacks, or with
 * its whole state (snapshot) when the successor holds nothing or another history, then streams
 * every new command. A map change that gives a replica a new predecessor makes it dial again; that
 * is the whole of reconfiguration on the data path:
 *   - head lost: the map names the successor head; it already holds every command it acknowledged
 *     and more, and finishes committing them with the rest of the chain;
 *   - tail lost: its predecessor has no successor any more, so it commits on its own store;
 *   - middle lost: the successor dials the lost one's predecessor, which re-sends what the new
 *     successor lacks (it keeps every command its successor has not acknowledged);
 *   - a new replica (a restarted process) is placed at the tail and takes a state transfer.
 *
 * A replica that is still taking its state transfer never becomes a head: the map marks it joining
 * until it reports the transfer installed (`installed`, then the host's membership record), and
 * the coordinator names no joining replica head (placement.ts); `partition-<id>.joining` marks its
 * directory until the transferred snapshot is stored, and a marked replica named head anyway
 * refuses to serve (the partition stays unavailable instead of serving an incomplete state).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import type { Logger } from 'pino';
import { MemoryExecutor, type CommandExecutor } from '../core/local-core.js';
import type { Command } from '../partition/commands.js';
import type { PartitionOutput } from '../partition/output.js';
import { Partition, type PartitionLimits } from '../partition/partition.js';
import { restorePartition, snapshotPartition, type PartitionSnapshot } from '../partition/snapshot.js';
import { DEFAULT_DURABLE_OPTIONS, DurableExecutor, SEAL_BYTES, estimatedBytes, storageErrorSummary } from '../storage/durable-executor.js';
import { openPartitionStore } from '../storage/open-store.js';
import { recoverPartition } from '../storage/recover.js';
import type { ClusterMap } from '../cluster/map.js';
import { dialTransport } from '../cluster/transport/handshake.js';
import type { Link } from '../cluster/transport/link.js';
import { FrameType, packr } from '../cluster/transport/protocol.js';
import { ChainExecutor } from './chain-executor.js';
import { decodeAppend, encodeAck, encodeAppend } from './chain-protocol.js';
import { CHAIN_REDIAL_MS } from './timeouts.js';
import { oncePerTurn } from '../util/once-per-turn.js';
import { ownCopy } from '../util/own-copy.js';

export interface ReplicaOptions {
  partition: number;
  nodeId: string;
  token: string;
  dataDir: string;
  durability: 'memory' | 'os' | 'fsync';
  limits: PartitionLimits;
  log: Logger;
  /** The host's output: deliveries, PUBRELs, kicks and forwards of committed commands (head only). */
  out: PartitionOutput;
  map(): ClusterMap;
  /** The state machine was replaced by a transferred one (the host rebuilds what it derived from it). */
  replaced(partition: Partition): void;
  /** This replica became head: the host learns the live connections of its sessions (kept by the old head). */
  promoted(partition: Partition): void;
  /**
   * This replica holds the chain's state under the map of `epoch`: a transferred state is
   * installed, or (a replica the map marks joining that kept its history, e.g. a tail cut off past
   * its lease) its predecessor linked it with appends. The host reports it in its membership record
   * (`ClusterNode.installed`), and the coordinator stops marking this replica joining (it may then
   * head the chain, or be the chain's last replica holding the state).
   */
  installed?(epoch: number): void;
}

export class ChainReplica {
  partition: Partition;
  readonly executor: ChainExecutor;
  /** The history this replica's state belongs to: set by a head that starts from its own store, copied by state transfer. */
  private lineage: string;
  /** Taking (or waiting for) a state transfer: holds no usable state yet. */
  private syncing: boolean;
  private chain: string[] = [];
  /** Epoch of the map that last changed this chain: older frames are refused. */
  chainEpoch = 0;
  private upstream: Link | undefined;
  private dialing = false;
  private redial: NodeJS.Timeout | undefined;
  private downstream: Link | undefined;
  private pending: Command[] = [];
  private pendingFirst = 0;
  private pendingBytes = 0;
  private ackDue = false;
  /** APPEND bodies that arrive while a transferred state is being installed. */
  private held: Buffer[] | undefined;
  /**
   * Installs run one after another (they replace the same store directory), and only the newest
   * state counts: a link that broke and came back during an install brings a second CHAIN_STATE,
   * and the first install, when it ends, steps aside. Before, both ran at once and the second
   * failed on the first's files (ENOENT on the marker), leaving the replica in transfer.
   */
  private installs: Promise<void> = Promise.resolve();
  private installGen = 0;
  private closed = false;
  /** The current link to the predecessor brought a state or appends on top of this replica's own history. */
  private linked = false;
  /**
   * Epoch of the HELLO of the current link to the predecessor: what it sends answers a chain at
   * least that new. A report names it, not the newest map: a state or appends sent on a link from
   * before the map marked this replica joining may lack what the chain committed without it.
   */
  private helloEpoch = 0;
  /** Epoch of the map under which this replica last reported that it holds the state (`installed`). */
  private reportedAt = 0;

  private constructor(
    private readonly opts: ReplicaOptions,
    partition: Partition,
    inner: CommandExecutor,
    syncing: boolean,
  ) {
    this.partition = partition;
    this.syncing = syncing;
    this.lineage = syncing ? '' : randomUUID();
    this.executor = new ChainExecutor(
      inner,
      { forward: (seq, cmd) => this.forward(seq, cmd), ack: () => this.queueAck() },
      (err) => opts.log.error({ partition: opts.partition, err: err.message }, 'replica write failed; it stops acknowledging (the chain stalls until it is replaced)'),
    );
  }

  private get dir(): string {
    return path.join(this.opts.dataDir, `partition-${this.opts.partition}`);
  }

  private get marker(): string {
    return `${this.dir}.joining`;
  }

  /**
   * The replica for the chain `map` names. The head starts from its own store (recovery, as a chain
   * of one); any other position starts empty and waits for its predecessor's state.
   */
  static async open(opts: ReplicaOptions, map: ClusterMap): Promise<ChainReplica> {
    const chain = map.partitions.find((p) => p.id === opts.partition)?.chain ?? [];
    const head = chain[0] === opts.nodeId;
    const marker = path.join(opts.dataDir, `partition-${opts.partition}.joining`);
    let r: ChainReplica;
    if (head && !existsSync(marker)) {
      if (opts.durability === 'memory') {
        const p = new Partition(opts.limits);
        r = new ChainReplica(opts, p, new MemoryExecutor(p), false);
      } else {
        const sync = opts.durability === 'fsync';
        const store = openPartitionStore(path.join(opts.dataDir, `partition-${opts.partition}`), { sync });
        const rec = await recoverPartition(store, opts.limits, { sync, onError: (err) => opts.log.error({ partition: opts.partition, err: err.message }, storageErrorSummary(err)) }, undefined, opts.out);
        for (const note of rec.repaired) opts.log.warn({ partition: opts.partition }, `storage: ${note}`);
        opts.log.info({ partition: opts.partition, replayed: rec.replayed, sessions: rec.partition.sessions.size }, 'partition recovered');
        r = new ChainReplica(opts, rec.partition, rec.executor, false);
      }
    } else {
      if (head) opts.log.error({ partition: opts.partition }, 'named head of its chain but its state transfer never completed; not serving (the partition needs a replica that holds its state)');
      const p = new Partition(opts.limits);
      r = new ChainReplica(opts, p, new MemoryExecutor(p), true);
    }
    r.onMap(map);
    return r;
  }

  /** True when this replica serves front ends now. */
  get head(): boolean {
    return this.executor.head;
  }

  get ready(): boolean {
    return !this.syncing;
  }

  /** Where this replica stands in its chain (metrics): 0 = head, -1 before the map names it. */
  get position(): { index: number; length: number } {
    return { index: this.chain.indexOf(this.opts.nodeId), length: this.chain.length };
  }

  onMap(map: ClusterMap): void {
    if (this.closed) return;
    const chain = map.partitions.find((p) => p.id === this.opts.partition)?.chain ?? [];
    const i = chain.indexOf(this.opts.nodeId);
    if (i < 0) return;
    const before = this.chain;
    if (before.join() !== chain.join()) {
      this.chainEpoch = map.epoch;
      this.chain = [...chain];
      this.opts.log.info({ partition: this.opts.partition, chain, epoch: map.epoch }, 'chain changed');
    }
    const pred = i > 0 ? chain[i - 1] : undefined;
    const succ = chain[i + 1];
    const oldI = before.indexOf(this.opts.nodeId);
    const oldPred = oldI > 0 ? before[oldI - 1] : undefined;
    const oldSucc = oldI >= 0 ? before[oldI + 1] : undefined;
    if (i > 0 && this.executor.head) this.demote(chain[0]!);
    this.reportHolding();
    if (i === 0 && this.syncing && before.join() !== chain.join()) {
      // The coordinator never names a replica it marks joining head (placement.ts); this one is in
      // transfer without the map knowing it (a demoted head, or a map from before `joining`).
      this.opts.log.error({ partition: this.opts.partition, chain, epoch: map.epoch }, 'named head while taking a state transfer: not serving (the partition is unavailable until a replica that holds its state heads it)');
    }
    if (i === 0 && !this.syncing && !this.executor.head) {
      this.executor.head = true;
      this.opts.promoted(this.partition);
      if (oldI > 0) this.opts.log.warn({ partition: this.opts.partition, seq: this.executor.seq, committed: this.executor.committed }, 'became head of the chain');
    }
    if (succ !== oldSucc && this.downstream) {
      this.downstream.close();
      this.downstream = undefined;
    }
    this.executor.setSuccessor(succ !== undefined);
    if (pred !== oldPred || (pred !== undefined && !this.upstream && !this.dialing)) {
      this.upstream?.close();
      this.upstream = undefined;
      if (pred !== undefined) this.dial();
    }
  }

  /**
   * A head the map put back at another position: the coordinator took it for lost (cut off the
   * network past its lease; a restarted process comes back as a new replica instead) and its
   * successor heads the chain now. What it accepted meanwhile and never committed is refused
   * (ChainExecutor.demote), and its history is not the chain's any more: it may hold commands the
   * new head never received, under sequence numbers the new head gave to others. So it drops its
   * lineage and takes a state transfer, as a new replica does. Before, it kept `head` (it acked
   * nothing upstream, so a new head that waited for it never committed again) and linked with its
   * own sequence number (the new head re-sent "the rest" on top of a diverged state).
   */
  private demote(newHead: string): void {
    const pending = this.executor.seq - this.executor.committed;
    this.executor.demote(`${this.opts.nodeId} is no longer the head of partition ${this.opts.partition} (${newHead} is)`);
    this.syncing = true;
    this.lineage = '';
    this.opts.log.warn({ partition: this.opts.partition, head: newHead, seq: this.executor.seq, uncommitted: pending }, 'no longer head of the chain: uncommitted commands refused; taking a state transfer');
  }

  /**
   * The map marks this replica joining (placement.ts) but it holds the chain's state: its
   * predecessor linked it on its own history. Without the report it stayed marked (it took no
   * transfer to report), so the chain would wait for its head's return instead of failing over.
   */
  private reportHolding(): void {
    const map = this.opts.map();
    const since = map.partitions.find((p) => p.id === this.opts.partition)?.joining?.[this.opts.nodeId];
    if (since === undefined || this.syncing || this.held || !this.linked || this.helloEpoch < since || this.reportedAt >= since) return;
    this.reportedAt = this.helloEpoch;
    this.opts.installed?.(this.helloEpoch);
  }

  // ---- successor side: dial the predecessor ---------------------------------------------------------

  private predecessor(): { id: string; host: string; port: number } | undefined {
    const i = this.chain.indexOf(this.opts.nodeId);
    const id = i > 0 ? this.chain[i - 1] : undefined;
    const n = id === undefined ? undefined : this.opts.map().nodes[id];
    return n && id ? { id, host: n.host, port: n.internalPort } : undefined;
  }

  private dial(): void {
    clearTimeout(this.redial);
    if (this.closed || this.dialing) return;
    const pred = this.predecessor();
    if (!pred) {
      this.scheduleDial();
      return;
    }
    this.dialing = true;
    dialTransport(
      { host: pred.host, port: pred.port, token: this.opts.token, hello: { node: this.opts.nodeId, role: 'backend', instance: 0 } },
      {
        frame: (l, type, epoch, body) => this.fromPredecessor(l, type, epoch, body),
        closed: (l, reason) => {
          if (this.upstream !== l) return;
          this.upstream = undefined;
          if (reason) this.opts.log.info({ partition: this.opts.partition, predecessor: pred.id, reason }, 'link to predecessor lost; dialing again');
          this.scheduleDial();
        },
      },
    ).then(
      (link) => {
        this.dialing = false;
        if (this.closed || this.predecessor()?.id !== pred.id) return link.close();
        this.upstream = link;
        this.linked = false;
        this.helloEpoch = this.opts.map().epoch;
        const lastSeq = this.syncing ? -1 : this.executor.seq;
        link.send(FrameType.ChainHello, this.helloEpoch, packr.pack([this.opts.partition, this.lineage, lastSeq]));
        // Acknowledgements sent while the link was down are repeated: the predecessor may wait for them.
        if (!this.syncing && this.executor.acknowledged > 0) link.send(FrameType.ChainAck, this.opts.map().epoch, packr.pack([this.opts.partition, this.executor.acknowledged]));
      },
      () => {
        this.dialing = false;
        this.scheduleDial();
      },
    );
  }

  private scheduleDial(): void {
    if (this.closed) return;
    clearTimeout(this.redial);
    this.redial = setTimeout(() => this.dial(), CHAIN_REDIAL_MS);
    this.redial.unref();
  }

  private fromPredecessor(link: Link, type: number, epoch: number, body: Buffer): void {
    if (link !== this.upstream) return;
    if (epoch < this.chainEpoch) return link.fail(`chain frame of epoch ${epoch}, chain changed in epoch ${this.chainEpoch}`);
    if (type === FrameType.ChainAppend) {
      if (this.held) {
        this.held.push(Buffer.from(body));
        return;
      }
      if (this.syncing) return; // a state is on its way or must be asked for; appends before it are useless
      this.applyAppend(body);
      if (!this.linked) {
        this.linked = true;
        this.reportHolding();
      }
      return;
    }
    if (type === FrameType.ChainState) {
      const [, lineage, seq, body0] = packr.unpack(body) as [number, string, number, Buffer];
      // A view into the frame's memory (a pooled buffer when small): the install is asynchronous and
      // the state restored from it keeps views into it (message payloads), so it gets memory of its own.
      const snapshot = ownCopy(body0);
      this.held = [];
      const gen = ++this.installGen;
      const sentFor = this.helloEpoch;
      this.installs = this.installs.then(() =>
        gen !== this.installGen
          ? undefined
          : this.install(lineage, seq, snapshot, gen, sentFor).catch((err: Error) => {
              if (gen !== this.installGen) return;
              this.opts.log.error({ partition: this.opts.partition, err: err.message }, 'state transfer failed; asking again');
              this.held = undefined;
              this.syncing = true;
              link.fail('state transfer failed');
            }),
      );
      return;
    }
    if (type === FrameType.ChainRefused) {
      const [, reason] = packr.unpack(body) as [number, string];
      this.opts.log.debug({ partition: this.opts.partition, reason }, 'predecessor refused the chain link; retrying');
      link.close();
      return;
    }
    link.fail(`unexpected frame type ${type} from the predecessor`);
  }

  private applyAppend(body: Buffer): void {
    const { firstSeq, commands, record } = decodeAppend(body);
    this.executor.replicateRecord(firstSeq, commands, record, this.opts.out);
  }

  /** Replace the state machine with the predecessor's, stored as durably as the broker promises before it is acknowledged. */
  private async install(lineage: string, seq: number, snapshot: Buffer, gen: number, sentFor: number): Promise<void> {
    const started = Date.now();
    const old = this.executor.inner;
    this.syncing = true;
    writeFileSync(this.marker, `${lineage}\n`);
    await old.close().catch(() => {});
    const snap = v8.deserialize(snapshot) as PartitionSnapshot;
    const partition = restorePartition(snap, this.opts.limits);
    let inner: CommandExecutor;
    if (this.opts.durability === 'memory') inner = new MemoryExecutor(partition);
    else {
      const sync = this.opts.durability === 'fsync';
      rmSync(this.dir, { recursive: true, force: true });
      const store = openPartitionStore(this.dir, { sync });
      const r = await store.open();
      for await (const _ of r.records) break; // a fresh directory: nothing to read
      // The store takes the memory it is given (moved to its writer thread: detached here), and the
      // restored partition's payloads are views into `snapshot`: the store gets a copy. Before, the
      // payloads of every transferred state read as empty afterwards, and the next snapshot of this
      // replica threw (a detached ArrayBuffer), so no successor could take a state transfer from it.
      await store.writeSnapshot(0, ownCopy(snapshot), sync);
      inner = new DurableExecutor(partition, store, 0, { ...DEFAULT_DURABLE_OPTIONS, sync });
    }
    // A newer state arrived meanwhile: it is installed next, over this one.
    if (this.closed || gen !== this.installGen) return void (await inner.close());
    rmSync(this.marker, { force: true });
    this.partition = partition;
    this.lineage = lineage;
    this.executor.reset(inner, seq);
    this.syncing = false;
    this.opts.replaced(partition);
    this.opts.log.info({ partition: this.opts.partition, seq, bytes: snapshot.length, ms: Date.now() - started }, 'state transfer installed');
    if (this.upstream && this.helloEpoch === sentFor) this.linked = true;
    this.reportedAt = Math.max(this.reportedAt, sentFor);
    this.opts.installed?.(sentFor);
    const held = this.held ?? [];
    this.held = undefined;
    try {
      for (const b of held) this.applyAppend(b);
    } catch (err) {
      this.upstream?.fail((err as Error).message);
    }
    this.executor.poke();
    if (this.chain[0] === this.opts.nodeId) this.onMap(this.opts.map());
  }

  /**
   * The acknowledgement leaves as soon as the storage answers of this moment are taken in (a
   * microtask), not at the next check phase: answers are mostly found by the store's poll, which
   * runs in the check phase itself, where a setImmediate waited a whole event-loop iteration more
   * (one of each commit's hops). Cumulative, so one per storage answer at most.
   */
  private queueAck(): void {
    if (this.ackDue) return;
    this.ackDue = true;
    queueMicrotask(this.sendAck);
  }

  private readonly sendAck = (): void => {
    if (!this.ackDue) return;
    this.ackDue = false;
    const up = this.upstream;
    // A replica waiting for its state transfer vouches for nothing: a demoted head's stored prefix is not the chain's.
    if (up && !up.closed && !this.syncing) {
      up.sendFramed(FrameType.ChainAck, this.opts.map().epoch, encodeAck(this.opts.partition, this.executor.acknowledged));
      up.flush();
    }
  };

  // ---- predecessor side: serve the successor -------------------------------------------------------

  /** HELLO or ACK from a successor's link (accepted by the host). */
  fromSuccessor(link: Link, type: number, epoch: number, body: Buffer): void {
    if (type === FrameType.ChainAck) {
      if (link !== this.downstream) return;
      const [, seq] = packr.unpack(body) as [number, number];
      this.executor.successorAcked(seq);
      return;
    }
    if (type !== FrameType.ChainHello) return link.fail(`unexpected frame type ${type} from a successor`);
    const [, lineage, lastSeq] = packr.unpack(body) as [number, string, number];
    const i = this.chain.indexOf(this.opts.nodeId);
    const refuse = (reason: string) => link.send(FrameType.ChainRefused, this.opts.map().epoch, packr.pack([this.opts.partition, reason]));
    if (i < 0 || this.chain[i + 1] !== link.peer) return refuse(`${link.peer} is not the successor of ${this.opts.nodeId} in epoch ${this.chainEpoch}`);
    if (epoch < this.chainEpoch) return refuse(`hello of epoch ${epoch}, chain changed in epoch ${this.chainEpoch}`);
    if (this.syncing || this.held) return refuse(`${this.opts.nodeId} is itself taking a state transfer`);
    if (this.downstream && this.downstream !== link) this.downstream.close();
    this.downstream = link;
    const missing = lastSeq >= 0 && lineage === this.lineage && lastSeq <= this.executor.seq ? this.executor.unacknowledgedAfter(lastSeq) : undefined;
    const epochNow = this.opts.map().epoch;
    if (missing) {
      if (missing.length > 0) link.sendFramed(FrameType.ChainAppend, epochNow, encodeAppend(this.opts.partition, lastSeq + 1, missing).frame);
      this.opts.log.info({ partition: this.opts.partition, successor: link.peer, from: lastSeq + 1, resent: missing.length }, 'successor linked');
    } else {
      const snapshot = v8.serialize(snapshotPartition(this.partition));
      this.executor.successorSyncing();
      link.send(FrameType.ChainState, epochNow, packr.pack([this.opts.partition, this.lineage, this.executor.seq, snapshot]));
      this.opts.log.info({ partition: this.opts.partition, successor: link.peer, seq: this.executor.seq, bytes: snapshot.length }, 'state transfer sent');
    }
    // What was queued for the old link went nowhere; the re-send above covers it up to now.
    this.pending = [];
    this.pendingBytes = 0;
  }

  downstreamClosed(link: Link): void {
    if (this.downstream === link) this.downstream = undefined;
  }

  private forward(seq: number, cmd: Command): void {
    if (!this.downstream) return; // kept by the executor until acknowledged; re-sent when the successor says HELLO
    if (this.pending.length === 0) this.pendingFirst = seq;
    this.pending.push(cmd);
    this.pendingBytes += estimatedBytes(cmd);
    // A busy turn goes out in slices: the successor applies the first while this one is still
    // applying the rest (before, a turn of thousands of commands reached it in one piece at the end).
    if (this.pendingBytes >= SEAL_BYTES) this.flush();
    else this.flushSoon();
  }

  private readonly flushSoon = oncePerTurn(() => this.flush());

  private flush(): void {
    const epoch = this.opts.map().epoch;
    // This runs in the check phase (or mid-turn, for a full slice): the link is flushed here, not at
    // an uncork that would wait for the next event-loop iteration (and its I/O) — one hop of every
    // commit's round trip.
    if (this.pending.length > 0) {
      const down = this.downstream;
      if (down && !down.closed) {
        const { frame, record } = encodeAppend(this.opts.partition, this.pendingFirst, this.pending);
        down.sendFramed(FrameType.ChainAppend, epoch, frame);
        down.flush();
        this.executor.forwarded(this.pending, record); // the head's log stores the same bytes
      }
      this.pending = [];
      this.pendingBytes = 0;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    // Commands accepted and not committed are refused, not forgotten (the partition left this node).
    this.executor.demote(`partition ${this.opts.partition} is no longer served by ${this.opts.nodeId}`);
    clearTimeout(this.redial);
    this.upstream?.close();
    this.downstream?.close();
    await this.executor.close();
  }
}

