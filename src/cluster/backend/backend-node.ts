/**
 * A back-end node: hosts the partitions the map gives it, each the single node's `Partition` with
 * its own durable executor and log in `<data-dir>/partition-<id>`, and serves them to front ends
 * over the internal transport.
 *
 * The state machine is untouched by the network: commands arrive in COMMANDS frames, get their
 * `now` stamped here, and are applied in arrival order; replies go back once the command is as
 * durable as the broker promises. Which front end holds which live connection is not partition
 * state: it lives here (`connections`), so deliveries, PUBRELs and kicks go to the right front end
 * whichever front end the client used before. Messages that start inside a partition (wills,
 * state-store notifications) are routed cluster-wide through a ClusterClient, like any publish.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import { partitionStats, retainedInfo, sessionInfo, undurable, type DurableWaiter } from '../../core/local-core.js';
import { instanceOf } from '../../core/connection-ids.js';
import type { Message } from '../../core/types.js';
import { RC } from '../../mqtt/reason-codes.js';
import type { Command } from '../../partition/commands.js';
import type { HandoverState } from '../../partition/handover.js';
import type { PartitionOutput } from '../../partition/output.js';
import type { CommandResult, PartitionLimits } from '../../partition/partition.js';
import type { PartitionView } from '../../observability/partition-metrics.js';
import { NotHeadError } from '../../replication/chain-executor.js';
import { ChainReplica } from '../../replication/chain-replica.js';
import { ClusterClient } from '../client/cluster-client.js';
import type { ClusterMap, MapSource } from '../map.js';
import { listenTransport, type ListeningTransport } from '../transport/handshake.js';
import type { Link, LinkHandlers } from '../transport/link.js';
import { DeliveryBatch, FrameType, ReplyStatus, decodeCommandsBody, encodeReplies, packr } from '../transport/protocol.js';
import { FilterFeed } from './filter-feed.js';
import { Qos0ShedGuard } from '../qos0-shed-guard.js';

/** Bytes a link's peer has taken from its socket so far (progress, for the stall verdict). */
function takenBytes(link: Link): number {
  return link.socket.bytesWritten - link.socket.writableLength;
}

export interface BackendNodeOptions {
  id: string;
  host: string;
  internalPort: number;
  dataDir: string;
  token: string;
  mapSource: MapSource;
  log: Logger;
  limits: Omit<PartitionLimits, 'cluster'>;
  durability: 'memory' | 'os' | 'fsync';
  /** How long a front end's connections outlive the loss of its link before they end like lost sockets. */
  frontendGraceMs?: number;
  /**
   * How long a front end that is behind may take no bytes before it no longer holds the others back
   * (default FRONTEND_STALL_MS). Longer than stalledSubscriberSeconds: a front end stops reading
   * while a subscriber of its own is behind, until that one drains or is judged stalled.
   */
  frontendStallMs?: number;
  /** A replica here installed a state transfer under the map of `epoch` (reported in the membership record, see ClusterNode.installed). */
  installed?(partition: number, epoch: number): void;
}

interface Hosted {
  id: number;
  /** The partition's replica here (src/replication): its state machine, store and chain position. */
  replica: ChainReplica;
  feed: FilterFeed;
  ticker: NodeJS.Timeout;
  /**
   * Epoch of the map that moved the partition here while this process ran: frames of an older
   * epoch were sent by someone who still thought it lived elsewhere, and are refused. 0 for the
   * partitions this node holds at start: a restart under the same id does not move them, so
   * senders whose map is a few epochs behind (membership changed meanwhile) are still right.
   */
  placedAt: number;
  /** Reply context per link, so a reply knows its link and feed without an object per command. */
  contexts: WeakMap<Link, ReplyContext>;
}

interface ReplyContext {
  node: BackendNode;
  link: Link;
  feed: FilterFeed;
}

interface LiveConnection {
  /** The front end process holding it (its instance number). */
  instance: number;
  clientId: string;
  partition: number;
}

const TICK_MS = 1000;
/** Front-end instances whose traffic totals a partition keeps (each restart of a front end is a new one). */
const MAX_TRAFFIC_REPORTS = 4096;
const FORWARD_QUEUE_MAX = 100_000;
/**
 * Unsent bytes on a link to a front end at which this node stops reading the front ends' commands
 * until it drains: TCP backpressure carries to the front ends, whose links then hold their
 * publishers back (remote-core.ts), instead of deliveries piling up here until QoS 0 is shed.
 */
const FRONTEND_BEHIND_BYTES = 1024 * 1024;
/**
 * How long a front end that is behind may take no bytes at all before it stops holding the others
 * back (as stalledSubscriberSeconds' default): one that drains, however slowly, holds them back.
 */
const FRONTEND_STALL_MS = 3000;

/**
 * A session command for a client whose slot this partition handed to another (a sender whose map is
 * behind): refused, so it cannot recreate the session here. Publishes are not: front ends hold
 * them during a handover and route them by the index after it.
 */
function handedAway(h: Hosted, commands: Command[]): boolean {
  const ledger = h.replica.partition.handover;
  if (ledger.exported.length === 0) return false;
  for (const c of commands) {
    if ((c.type === 'connect' || c.type === 'subscribe') && ledger.gone(c.clientId)) return true;
  }
  return false;
}

const replyWaiter: DurableWaiter = {
  durable(context, tag, result, error) {
    const c = context as ReplyContext;
    c.node.reply(c.link, tag, error, result, c.feed.seq);
  },
};

/** The outcome of a command the front end asked no answer for (its refusal, if any, reaches nobody either way). */
const unanswered: DurableWaiter = { durable() {} };

export class BackendNode {
  private readonly hosted = new Map<number, Hosted>();
  private transport: ListeningTransport | undefined;
  private client: ClusterClient | undefined;
  private map: ClusterMap;
  private unwatch: (() => void) | undefined;
  private readonly frontEnds = new Map<number, Set<Link>>();
  private readonly connections = new Map<number, LiveConnection>();
  private readonly orphanTimers = new Map<number, NodeJS.Timeout>();
  private readonly deliveries = new Map<Link, DeliveryBatch>();
  private readonly replies = new Map<Link, unknown[]>();
  private readonly following = new Map<Link, Set<FilterFeed>>();
  /** Partition -> front-end instance -> its reported [received, sent] totals (frontEndTraffic). */
  private readonly trafficReports = new Map<number, Map<number, [number, number]>>();
  private flushQueued = false;
  /**
   * Front-end links whose unsent deliveries are above FRONTEND_BEHIND_BYTES: input from front ends
   * is paused meanwhile. With the stall timer and the bytes the front end had taken when it was armed.
   */
  private readonly behind = new Map<Link, { timer: NodeJS.Timeout; taken: number }>();
  /** Front ends that stayed behind for FRONTEND_STALL_MS: they hold nobody back until they have drained. */
  private readonly stalledFrontEnds = new WeakSet<Link>();
  private readonly recovering = new Set<number>();
  /** The partition whose command is being applied (-1 outside one): where a forwarded share message comes from. */
  private applying = -1;
  private forwardQueue: Array<[Message, string | undefined]> | undefined = [];
  private stopped = false;
  /** QoS 0 deliveries are shed only for a stalled front end or past the link's hard limit; otherwise front ends are held back. */
  private readonly shedGuard: Qos0ShedGuard;
  /** Handovers (live re-partitioning): barriers received per move, and exports waiting for them (src/cluster/handover.ts). */
  private readonly barriers = new Map<number, Set<string>>();
  private pendingExports: Array<{ link: Link; id: number; partition: number; move: number; from: number; to: number }> = [];

  private readonly out: PartitionOutput = {
    deliver: (c, d) => {
      const l = this.linkOf(c);
      if (!l) return; // the connection is gone; the session keeps QoS 1/2 in flight for its next connection
      // A front end below its pushback mark is never shed: one test on the common path.
      if (d.qos === 0 && l.backlog > FRONTEND_BEHIND_BYTES && this.shedGuard.shed(l.peer, l.backlog, this.stalledFrontEnds.has(l))) return;
      this.batchOf(l).deliver(c, d);
    },
    release: (c, packetId, reasonCode) => {
      const l = this.linkOf(c);
      if (l) this.batchOf(l).release(c, packetId, reasonCode);
    },
    kick: (c, rc) => {
      const l = this.linkOf(c);
      this.connections.delete(c);
      if (l) this.batchOf(l).kick(c, rc);
    },
    forward: (m, group) => this.forward(m, group),
  };

  constructor(private readonly opts: BackendNodeOptions) {
    this.map = opts.mapSource.current();
    this.shedGuard = new Qos0ShedGuard(opts.log, 'QoS 0 deliveries to a front end');
  }

  /** QoS 0 deliveries shed for stalled front ends or past a link's hard limit (qos0-shed-guard.ts). */
  get droppedQos0(): number {
    return this.shedGuard.dropped;
  }

  get port(): number {
    return this.transport?.port ?? 0;
  }

  partitions(): number[] {
    return [...this.hosted.keys()].sort((a, b) => a - b);
  }

  ready(): boolean {
    return this.unready() === true;
  }

  /** True when every partition the map gives this node is recovered and served; else what is missing (readiness). */
  unready(): true | string {
    if (this.stopped) return 'stopping';
    const missing = this.mine(this.map).filter((p) => !this.hosted.has(p) || !this.hosted.get(p)!.replica.ready);
    if (missing.length > 0) return `partition ${missing.join(', ')} not recovered yet`;
    if (!this.transport) return 'internal port not open yet';
    return true;
  }

  /** The partitions held here, as the metrics read them at a scrape (observability/partition-metrics.ts). */
  views(): PartitionView[] {
    return [...this.hosted.values()].map(({ id, replica }) => {
      const { index, length } = replica.position;
      const e = replica.executor;
      return {
        id,
        stats: () => partitionStats(replica.partition),
        position: index,
        chainLength: length,
        chainEpoch: replica.chainEpoch,
        applied: e.seq,
        committed: e.committed,
        ready: replica.ready,
        ...(e.inner.writeLatency ? { writeLatency: e.inner.writeLatency } : {}),
      };
    });
  }

  /**
   * Partitions whose chain names this node. A chain of more than one waits until the map knows this
   * process (its pid): a map written before a restart still places the previous process, whose
   * position (head, say) this one must not take with whatever its store holds.
   */
  private mine(map: ClusterMap): number[] {
    const me = map.nodes[this.opts.id];
    const stale = me?.pid !== undefined && me.pid !== process.pid;
    return map.partitions.filter((p) => p.chain.includes(this.opts.id) && !(stale && p.chain.length > 1)).map((p) => p.id);
  }

  async start(): Promise<void> {
    // Partitions first: their recovery (and the wills of connections that died with the process)
    // must be complete before any front end can send a command.
    for (const p of this.mine(this.map)) await this.host(p, 0);
    this.transport = await listenTransport({
      host: this.opts.host,
      port: this.opts.internalPort,
      token: this.opts.token,
      nodeId: this.opts.id,
      accepted: (link) => this.accepted(link),
      refused: (remote, reason) => this.opts.log.warn({ remote, reason }, 'internal connection refused'),
    });
    this.unwatch = this.opts.mapSource.onChange((m) => void this.onMap(m));
    // A map written while the partitions recovered and the transport opened (a front end joining)
    // came before the listener: without it this node's chain frames keep the older epoch, and a
    // successor that saw the newer map refuses them for good.
    const latest = this.opts.mapSource.current();
    if (latest.epoch !== this.map.epoch) void this.onMap(latest);
    this.client = new ClusterClient({
      nodeId: this.opts.id,
      role: 'backend',
      token: this.opts.token,
      instance: 0,
      mapSource: this.opts.mapSource,
      log: this.opts.log.child({ component: 'router' }),
    });
    this.client.start();
    void this.client.whenReady().then(() => {
      const queued = this.forwardQueue ?? [];
      this.forwardQueue = undefined;
      for (const [m, group] of queued) this.forward(m, group);
    });
    this.opts.log.info({ node: this.opts.id, port: this.port, partitions: this.partitions() }, 'back end serving');
  }

  private async onMap(map: ClusterMap): Promise<void> {
    this.map = map;
    for (const h of this.hosted.values()) h.replica.onMap(map);
    this.tryExports();
    for (const p of this.mine(map)) {
      if (this.hosted.has(p) || this.recovering.has(p)) continue; // a later map while an earlier one's recovery runs
      this.recovering.add(p);
      try {
        await this.host(p, map.epoch);
      } catch (err) {
        this.opts.log.error({ partition: p, err: (err as Error).message }, 'cannot host partition');
      } finally {
        this.recovering.delete(p);
      }
    }
    for (const [p, h] of this.hosted) {
      // The newest map decides: one that came while this one's awaits ran may give the partition back.
      if (this.mine(this.map).includes(p)) continue;
      this.hosted.delete(p);
      clearInterval(h.ticker);
      await h.replica.close();
      this.opts.log.info({ partition: p }, 'partition moved away');
    }
  }

  private async host(id: number, placedAt: number): Promise<void> {
    const limits: PartitionLimits = { ...this.opts.limits, cluster: true };
    const replica = await ChainReplica.open(
      {
        partition: id,
        nodeId: this.opts.id,
        token: this.opts.token,
        dataDir: this.opts.dataDir,
        durability: this.opts.durability,
        limits,
        log: this.opts.log,
        // The chain releases effects at commit, after the command's turn: a forwarded share message
        // must still say which partition it comes from.
        out: {
          deliver: this.out.deliver,
          release: this.out.release,
          kick: this.out.kick,
          forward: (m, group) => {
            const before = this.applying;
            this.applying = id;
            this.forward(m, group);
            this.applying = before;
          },
        },
        map: () => this.map,
        promoted: (partition) => {
          // The old head knew which front end holds each session's connection; the id says it too
          // (the front end's instance in the high bits), so the new head can end them if that front end dies.
          for (const s of partition.sessions.values()) {
            if (s.online) this.connections.set(s.connectionId, { instance: instanceOf(s.connectionId), clientId: s.clientId, partition: id });
          }
        },
        installed: (epoch) => this.opts.installed?.(id, epoch),
        replaced: (partition) => {
          const h = this.hosted.get(id);
          if (h) h.feed = new FilterFeed(id, partition.routes, () => this.map.epoch);
        },
      },
      this.map,
    );
    const feed = new FilterFeed(id, replica.partition.routes, () => this.map.epoch);
    // Only the head orders ticks (the executor ignores them elsewhere): replicas take the head's.
    const ticker = setInterval(() => replica.executor.execute({ type: 'tick', now: Date.now() }, this.out), TICK_MS);
    ticker.unref();
    this.hosted.set(id, { id, replica, feed, ticker, placedAt, contexts: new WeakMap() });
  }

  // ---- links ----------------------------------------------------------------------------------------

  private accepted(link: Link): LinkHandlers {
    const instance = link.peerInstance;
    if (instance !== 0) {
      let set = this.frontEnds.get(instance);
      if (!set) this.frontEnds.set(instance, (set = new Set()));
      set.add(link);
      if (this.behind.size > 0) link.pauseInput();
      const t = this.orphanTimers.get(instance);
      if (t) {
        clearTimeout(t); // the front end came back within the grace period: its connections stay
        this.orphanTimers.delete(instance);
      }
    }
    return {
      frame: (l, type, epoch, body) => this.frame(l, type, epoch, body),
      drained: (l) => this.caughtUp(l),
      closed: (l, reason) => this.linkClosed(l, reason),
    };
  }

  private linkClosed(link: Link, reason: string | undefined): void {
    this.caughtUp(link);
    if (link.peerInstance === 0) for (const h of this.hosted.values()) h.replica.downstreamClosed(link);
    for (const f of this.following.get(link) ?? []) f.unfollow(link);
    this.following.delete(link);
    this.deliveries.delete(link);
    this.replies.delete(link);
    const instance = link.peerInstance;
    const set = this.frontEnds.get(instance);
    if (!set) return;
    set.delete(link);
    if (set.size > 0 || this.stopped) return;
    this.frontEnds.delete(instance);
    this.opts.log.warn({ peer: link.peer, reason }, 'front end link lost; its connections end after the grace period unless it returns');
    const t = setTimeout(() => {
      this.orphanTimers.delete(instance);
      this.endConnectionsOf(instance);
    }, this.opts.frontendGraceMs ?? 2000);
    t.unref();
    this.orphanTimers.set(instance, t);
  }

  /** A front end is gone for good: its connections end as if their sockets broke (wills, expiry). */
  private endConnectionsOf(instance: number): void {
    const now = Date.now();
    // First the state-store registrations made through it for sessions of other partitions (these
    // cannot see those connections end), so they are gone before any will of this front end goes out.
    for (const h of this.hosted.values()) h.replica.executor.execute({ type: 'unwatch', now, frontEnd: instance }, this.out);
    let n = 0;
    for (const [connectionId, c] of this.connections) {
      if (c.instance !== instance) continue;
      this.connections.delete(connectionId);
      const h = this.hosted.get(c.partition);
      if (!h) continue;
      this.applying = h.id;
      h.replica.executor.execute({ type: 'disconnect', now, clientId: c.clientId, connectionId, normal: false }, this.out);
      this.applying = -1;
      n++;
    }
    if (n > 0) this.opts.log.info({ connections: n }, 'ended the connections of a lost front end');
  }

  private linkOf(connectionId: number): Link | undefined {
    const c = this.connections.get(connectionId);
    const set = this.frontEnds.get(c ? c.instance : instanceOf(connectionId));
    if (!set) return undefined;
    for (const l of set) return l;
    return undefined;
  }

  private frame(link: Link, type: number, epoch: number, body: Buffer): void {
    if (type === FrameType.Commands) return this.commands(link, epoch, body);
    if (type === FrameType.Request) return this.request(link, body);
    if (type === FrameType.ChainHello || type === FrameType.ChainAck) {
      // Both bodies start with the partition (msgpack array): a successor's link, served by the replica.
      const partition = (packr.unpack(body) as [number])[0];
      const h = this.hosted.get(partition);
      if (!h) {
        if (type === FrameType.ChainHello) link.send(FrameType.ChainRefused, this.map.epoch, packr.pack([partition, `partition ${partition} is not hosted by ${this.opts.id}`]));
        return;
      }
      try {
        return h.replica.fromSuccessor(link, type, epoch, body);
      } catch (err) {
        // Logged: the link fails and the successor dials again every 100 ms, so a fault that repeats would otherwise stall the chain unseen.
        this.opts.log.error({ partition, successor: link.peer, err: (err as Error).stack ?? String(err) }, 'serving a successor failed');
        return link.fail(`serving the successor failed: ${(err as Error).message}`);
      }
    }
    throw new Error(`unexpected frame type ${type} from ${link.peer}`);
  }

  private commands(link: Link, epoch: number, body: Buffer): void {
    const { partition, requestIds, commands, record, nowAt } = decodeCommandsBody(body);
    const h = this.hosted.get(partition);
    const refusal = !h
      ? `partition ${partition} is not served by ${this.opts.id}`
      : !h.replica.head
        ? `partition ${partition}: ${this.opts.id} is not the head of its chain`
        : epoch < h.placedAt
          ? `command of map epoch ${epoch} for partition ${partition}, placed here in epoch ${h.placedAt}`
          : handedAway(h, commands)
            ? `partition ${partition} handed the client's slot to another partition`
            : undefined;
    if (refusal !== undefined || !h) {
      for (const id of requestIds) if (id !== 0) this.reply(link, id, undefined, [RC.ServerUnavailable, refusal], 0, true);
      return;
    }
    let ctx = h.contexts.get(link);
    if (!ctx) h.contexts.set(link, (ctx = { node: this, link, feed: h.feed }));
    const now = Date.now();
    // The log takes the frame's record as it came, `now` stamped into it too, instead of encoding
    // the commands again (the back end's largest encoding cost); not with an entry it cannot stamp.
    const adoptable = nowAt.length === commands.length && !nowAt.includes(-1);
    if (adoptable) {
      for (let i = 0; i < nowAt.length; i++) record.writeDoubleLE(now, nowAt[i]);
      h.replica.executor.mark();
    }
    this.applying = partition;
    for (let i = 0; i < commands.length; i++) {
      const cmd = commands[i] as Command & { now: number };
      cmd.now = now;
      if (cmd.type === 'connect') this.connections.set(cmd.connectionId, { instance: link.peerInstance, clientId: cmd.clientId, partition });
      const id = requestIds[i];
      // Nobody waits for an unanswered command (acks of deliveries: 20 per fan-out message): no promise each.
      if (id === 0) h.replica.executor.executeThen(cmd, this.out, unanswered, undefined, 0);
      else h.replica.executor.executeThen(cmd, this.out, replyWaiter, ctx, id);
      if (cmd.type === 'disconnect') {
        const c = this.connections.get(cmd.connectionId);
        if (c && c.clientId === cmd.clientId) this.connections.delete(cmd.connectionId);
      }
    }
    if (adoptable) h.replica.executor.adopt(record, commands.length);
    this.applying = -1;
  }

  /**
   * QoS 0 traffic no partition saw (front ends write it to their own subscribers: direct-qos0.ts).
   * Every front end reports its running totals to the first partition of the map with its stats
   * request ([partition, instance, received, sent]); that partition's answer carries the sums over
   * every front end that ever reported, so the cluster-wide $SYS counts include them exactly once.
   */
  private frontEndTraffic(partition: number, arg: unknown): { frontEndReceived: number; frontEndSent: number } | undefined {
    let reports = this.trafficReports.get(partition);
    if (Array.isArray(arg) && arg.length === 4) {
      if (!reports) this.trafficReports.set(partition, (reports = new Map()));
      if (reports.size < MAX_TRAFFIC_REPORTS || reports.has(Number(arg[1]))) reports.set(Number(arg[1]), [Number(arg[2]) || 0, Number(arg[3]) || 0]);
    }
    if (!reports) return undefined;
    let frontEndReceived = 0;
    let frontEndSent = 0;
    for (const [r, s] of reports.values()) {
      frontEndReceived += r;
      frontEndSent += s;
    }
    return { frontEndReceived, frontEndSent };
  }

  private request(link: Link, body: Buffer): void {
    const [id, op, arg] = packr.unpack(body) as [number, string, unknown];
    if (op === 'barrier' || op === 'export' || op === 'import') return this.handoverRequest(link, id, op, arg as unknown[]);
    // The argument is the partition, or [partition, ...more] for a request that needs more;
    // `follow` may say where the follower left off: [partition, feed id, sequence] (see FilterFeed).
    const resume = op === 'follow' && Array.isArray(arg) ? { feed: Number(arg[1]), seq: Number(arg[2]) } : undefined;
    const partition = Array.isArray(arg) ? (arg[0] as unknown) : arg;
    const h = typeof partition === 'number' ? this.hosted.get(partition) : undefined;
    if (!h || !h.replica.head) return this.reply(link, id, undefined, [RC.ServerUnavailable, `partition ${String(partition)} is not served by ${this.opts.id}`], 0, true);
    if (op === 'follow') {
      const resumed = h.feed.follow(link, resume);
      let set = this.following.get(link);
      if (!set) this.following.set(link, (set = new Set()));
      set.add(h.feed);
      return this.reply(link, id, undefined, { feed: h.feed.id, resumed }, h.feed.seq);
    }
    if (op === 'stats') {
      // The node's QoS 0 shedding is reported once, with its first partition, so sums stay right.
      const droppedQos0 = h.id === this.partitions()[0] ? this.droppedQos0 : 0;
      const traffic = this.frontEndTraffic(h.id, arg);
      return this.reply(link, id, undefined, { ...partitionStats(h.replica.partition), droppedQos0, ...traffic }, h.feed.seq);
    }
    // Inspection for the admin API (not a message path: each walks the partition's state).
    const p = h.replica.partition;
    if (op === 'sessions') return this.reply(link, id, undefined, [...p.sessions.values()].map(sessionInfo), h.feed.seq);
    if (op === 'session') {
      const s = p.sessions.get(String((arg as [number, string])[1]));
      return this.reply(link, id, undefined, s ? sessionInfo(s) : null, h.feed.seq);
    }
    if (op === 'retained') return this.reply(link, id, undefined, retainedInfo(p), h.feed.seq);
    this.reply(link, id, undefined, [RC.ProtocolError, `unknown request "${op}"`], 0, true);
  }

  // ---- handover (live re-partitioning, src/cluster/handover.ts) ----------------------------------------

  /**
   * `barrier [partition, move, node]`: `node` sends nothing more for the moving range's partition
   * until the move is over, and everything it sent before is ahead of this on the link (applied).
   * `export [partition, move, from, to]`: once every front end and back end of the map has sent its
   * barrier, the range leaves the partition through its chain; the reply is the state.
   * `import [partition, move, state]`: the state joins the partition through its chain; the reply
   * carries the partition's feed position, so senders can wait until their index has the imported
   * subscriptions.
   */
  private handoverRequest(link: Link, id: number, op: string, arg: unknown[]): void {
    const partition = arg[0] as number;
    const h = this.hosted.get(partition);
    if (!h || !h.replica.head) return this.reply(link, id, undefined, [RC.ServerUnavailable, `partition ${partition} is not served by ${this.opts.id}`], 0, true);
    if (op === 'barrier') {
      const [, move, node] = arg as [number, number, string];
      let set = this.barriers.get(move);
      if (!set) this.barriers.set(move, (set = new Set()));
      set.add(node);
      this.reply(link, id, undefined, null, h.feed.seq);
      return this.tryExports();
    }
    if (op === 'export') {
      const [, move, from, to] = arg as [number, number, number, number];
      const e = { link, id, partition, move, from, to };
      this.pendingExports.push(e);
      // A handover that does not end: say whose barrier is missing.
      setTimeout(() => {
        if (!this.pendingExports.includes(e)) return;
        const got = this.barriers.get(move);
        const missing = Object.values(this.map.nodes).filter((n) => (n.role === 'frontend' || n.role === 'backend') && !got?.has(n.id)).map((n) => n.id);
        this.opts.log.warn({ partition, move, missing }, 'export still waits for the barriers of these senders');
      }, 5000).unref();
      return this.tryExports();
    }
    const [, move, state] = arg as [number, number, HandoverState];
    this.runThen(link, id, h, { type: 'import', now: Date.now(), move, state });
  }

  /** Exports whose barriers are all in (or that were exported already) go through the chain. */
  private tryExports(): void {
    if (this.pendingExports.length === 0) return;
    const waiting: typeof this.pendingExports = [];
    for (const e of this.pendingExports) {
      const h = this.hosted.get(e.partition);
      if (e.link.closed) continue;
      if (!h || !h.replica.head) {
        this.reply(e.link, e.id, undefined, [RC.ServerUnavailable, `partition ${e.partition} is not served by ${this.opts.id}`], 0, true);
        continue;
      }
      const done = h.replica.partition.handover.exports.has(e.move);
      const senders = Object.values(this.map.nodes).filter((n) => n.role === 'frontend' || n.role === 'backend');
      const got = this.barriers.get(e.move);
      if (!done && !senders.every((n) => got?.has(n.id))) {
        waiting.push(e);
        continue;
      }
      this.runThen(e.link, e.id, h, { type: 'export', now: Date.now(), move: e.move, from: e.from, to: e.to });
    }
    this.pendingExports = waiting;
    for (const move of this.barriers.keys()) if (move < (this.map.moving?.id ?? this.map.epoch) && !waiting.some((e) => e.move === move)) this.barriers.delete(move);
  }

  private runThen(link: Link, id: number, h: Hosted, cmd: Command): void {
    let ctx = h.contexts.get(link);
    if (!ctx) h.contexts.set(link, (ctx = { node: this, link, feed: h.feed }));
    this.applying = h.id;
    h.replica.executor.executeThen(cmd, this.out, replyWaiter, ctx, id);
    this.applying = -1;
  }

  /** Queues a reply for the link's next REPLIES frame. */
  reply(link: Link, id: number, error: Error | undefined, value: unknown, seq: number, refused = false): void {
    if (link.closed) return;
    let list = this.replies.get(link);
    if (!list) this.replies.set(link, (list = []));
    if (error instanceof NotHeadError) {
      // Accepted as head, refused uncommitted when it stopped being the head: the sender may retry on the new one.
      list.push(id, ReplyStatus.Refused, [RC.ServerUnavailable, error.message], seq);
    } else if (error) {
      const e = undurable(error);
      list.push(id, ReplyStatus.Refused, [e.reasonCode, e.message], seq);
    } else {
      list.push(id, refused ? ReplyStatus.Refused : ReplyStatus.Ok, value === undefined ? null : (value as CommandResult), seq);
    }
    this.flushSoon();
  }

  private batchOf(link: Link): DeliveryBatch {
    let b = this.deliveries.get(link);
    if (!b) this.deliveries.set(link, (b = new DeliveryBatch()));
    this.flushSoon();
    return b;
  }

  /**
   * Queued from a microtask, so behind the group commit of the commands being applied (the durable
   * executor seals from a setImmediate queued the same way when their batch opened): in `os` mode
   * the log write is done when the seal returns, and the replies it makes leave with the deliveries,
   * in one write, instead of one event-loop iteration later (after that iteration's reads).
   */
  private flushSoon(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(this.flushNext);
  }

  private readonly flushNext = (): void => {
    setImmediate(this.flush);
  };

  /** Deliveries before replies: a resumed session's messages reach the front end before its CONNACK may go. */
  private readonly flush = (): void => {
    this.flushQueued = false;
    const epoch = this.map.epoch;
    for (const [link, b] of this.deliveries) {
      if (b.empty || link.closed) continue;
      link.send(FrameType.Deliveries, epoch, b.take());
      if (link.backlog > FRONTEND_BEHIND_BYTES) this.fallBehind(link);
    }
    for (const [link, list] of this.replies) {
      if (list.length > 0 && !link.closed) link.send(FrameType.Replies, epoch, encodeReplies(list));
    }
    // In the check phase: the links' own uncork would wait for the next iteration's I/O.
    for (const link of this.deliveries.keys()) link.flush();
    for (const link of this.replies.keys()) link.flush();
    this.replies.clear();
  };

  /** A front end is not taking its deliveries fast enough: no front end's commands are read until it has. */
  private fallBehind(link: Link): void {
    if (this.behind.has(link) || this.stalledFrontEnds.has(link)) return;
    this.behind.set(link, { timer: this.stallTimer(link), taken: takenBytes(link) });
    if (this.behind.size > 1) return;
    for (const set of this.frontEnds.values()) for (const l of set) l.pauseInput();
  }

  private stallTimer(link: Link): NodeJS.Timeout {
    const t = setTimeout(() => this.giveUpOn(link), this.opts.frontendStallMs ?? FRONTEND_STALL_MS);
    t.unref();
    return t;
  }

  /**
   * A front end that took no bytes for `frontendStallMs` (hung, or not reading) must not hold every
   * other front end back: as for a stalled subscriber, it stops counting until it has drained, and
   * its QoS 0 deliveries are shed meanwhile. One that took bytes is still draining: it goes on
   * holding the others back, as a slow but draining subscriber holds its publishers on one node.
   */
  private giveUpOn(link: Link): void {
    const b = this.behind.get(link);
    if (b === undefined) return;
    const taken = takenBytes(link);
    if (taken !== b.taken && !link.closed) {
      b.taken = taken;
      b.timer = this.stallTimer(link);
      return;
    }
    this.stalledFrontEnds.add(link);
    this.opts.log.warn({ peer: link.peer, backlogBytes: link.backlog }, 'front end has not caught up with its deliveries: it no longer holds back the other front ends');
    this.release(link);
  }

  /** Drained or gone. */
  private caughtUp(link: Link): void {
    this.stalledFrontEnds.delete(link);
    this.shedGuard.end(link.peer);
    this.release(link);
  }

  private release(link: Link): void {
    const b = this.behind.get(link);
    if (b === undefined) return;
    clearTimeout(b.timer);
    this.behind.delete(link);
    if (this.behind.size > 0) return;
    for (const set of this.frontEnds.values()) for (const l of set) l.resumeInput();
  }

  private forward(m: Message, group: string | undefined): void {
    if (this.forwardQueue) {
      if (this.forwardQueue.length < FORWARD_QUEUE_MAX) this.forwardQueue.push([m, group]);
      else this.opts.log.warn({ topic: m.topic }, 'will or notification dropped: the cluster router is not ready');
      return;
    }
    if (group === undefined) this.client?.publish('', m, undefined);
    else this.client?.publishToGroup(m, group, this.applying);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unwatch?.();
    this.client?.stop();
    for (const t of this.orphanTimers.values()) clearTimeout(t);
    await this.transport?.close();
    for (const h of this.hosted.values()) {
      clearInterval(h.ticker);
      await h.replica.close();
    }
    this.hosted.clear();
  }
}

