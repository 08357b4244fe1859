/**
 * A process's view of the cluster's back ends: one NodeLink per back-end node of the map, the
 * subscription index fed by every partition's filter feed, and the publish fan-out. Front ends use
 * it through RemoteBrokerCore; back ends use it to route the messages that start inside their
 * partitions (wills, state-store notifications) to the whole cluster.
 *
 * Publish fan-out: the index names the partitions whose sessions subscribe to the topic; each
 * share group gets exactly one partition among those holding members (round-robin), named in that
 * partition's command, so a group is served once cluster-wide. A retained publish goes to every
 * partition (each keeps the retained copy and serves retained-on-subscribe with the single node's
 * code). An inbound QoS 2 publish goes first to the publisher's own partition, which keeps the
 * packet id and says whether it is a resend. A first sending is routed onward under its key; a
 * resend is routed onward again under the key of the first sending (the id's hold), so partitions
 * that have it drop it and those that missed it (the first front end died) get it once.
 */
import type { Logger } from 'pino';
import type { Message, PublishResult } from '../../core/types.js';
import type { Command, PublishCommand } from '../../partition/commands.js';
import { RC } from '../../mqtt/reason-codes.js';
import { partitionOfSlot, slotOf, type ClusterMap, type MapSource } from '../map.js';
import { KEYED_RETRY_WAIT_MS } from '../timeouts.js';
import { ClusterIndex, type IndexEntry } from './cluster-index.js';
import { HandoverHold } from './handover-hold.js';
import { Qos0ShedGuard } from '../qos0-shed-guard.js';
import { partitionKeyOf } from '../../statestore/protocol.js';
import { NodeLink, type MovedCommand, type Pending, type ReplyHandler } from './node-link.js';
import { PartitionSet } from './partition-set.js';
import { FrameType, decodeDeliveries, decodeFeed, type DeliveryTarget } from '../transport/protocol.js';

export interface ClusterClientOptions {
  nodeId: string;
  role: 'frontend' | 'backend';
  token: string;
  /** Random per process start; front ends put it in the high bits of their connection ids. */
  instance: number;
  mapSource: MapSource;
  log: Logger;
  /** How long a command waits for an unreachable partition before it is refused (default 3 s). */
  waitMs?: number;
  /** Front ends: where deliveries, PUBRELs and kicks for live connections go. */
  deliveries?: DeliveryTarget;
  /** A partition became unreachable (its node's link broke). */
  partitionDown?(partition: number, reason: string): void;
}

/** Sums the outcomes of one publish sent to several partitions; reports once, to the caller's handler. */
class Fanout {
  remaining = 0;
  matched = 0;
  reasonCode: number | undefined;
  refused: [number, string] | undefined;
  constructor(
    readonly h: ReplyHandler,
    readonly ctx: unknown,
    readonly tag: number,
  ) {}
}

const fanoutHandler: ReplyHandler = {
  reply(ctx, _tag, ok, value) {
    const f = ctx as Fanout;
    if (!ok) f.refused ??= value as [number, string];
    else {
      const r = value as PublishResult;
      f.matched += r.matched;
      if (r.reasonCode !== undefined) f.reasonCode ??= r.reasonCode;
    }
    if (--f.remaining > 0) return;
    if (f.refused) f.h.reply(f.ctx, f.tag, false, f.refused, 0);
    else f.h.reply(f.ctx, f.tag, true, f.reasonCode !== undefined ? { matched: f.matched, reasonCode: f.reasonCode } : { matched: f.matched }, 0);
  },
};

/** The rest of a QoS 2 publish, sent once the publisher's partition said it is not a resend. */
interface Qos2Rest {
  client: ClusterClient;
  targets: Array<[number, PublishCommand]>;
  h: ReplyHandler | undefined;
  ctx: unknown;
  tag: number;
  /** The publisher's partition and live connection, to make it forget the packet id if the rest is refused. */
  own: number;
  clientId: string;
  packetId: number;
  connectionId: number | undefined;
}

const qos2FirstHandler: ReplyHandler = {
  reply(ctx, _tag, ok, value) {
    const r = ctx as Qos2Rest;
    const first = value as PublishResult;
    if (!ok || r.targets.length === 0) return r.h?.reply(r.ctx, r.tag, ok, value, 0);
    if (first.duplicate) {
      // A resend of a held id: routed before, but the front end that did it may have died before
      // the other partitions got it. Send it to them again under the key of that first sending;
      // those that applied it answer the remembered result and route nothing.
      if (first.hold === undefined) return r.h?.reply(r.ctx, r.tag, ok, value, 0);
      for (const [, cmd] of r.targets) cmd.key = first.hold;
    }
    const f = new Fanout(qos2RestHandler, r, 0);
    f.remaining = r.targets.length + 1;
    fanoutHandler.reply(f, 0, true, value, 0);
    for (const [p, cmd] of r.targets) r.client.command(p, cmd, fanoutHandler, f);
  },
};

/**
 * The outcome of a QoS 2 publish across partitions. When another partition refused, the publisher's
 * partition releases the packet id again: the publisher hears of the failure (PUBREC 0x80, or the
 * connection closed on 3.1.1) and may send the id again, which must then be routed, not taken for
 * a resend of a message that was delivered.
 */
const qos2RestHandler: ReplyHandler = {
  reply(ctx, _tag, ok, value) {
    const r = ctx as Qos2Rest;
    if (!ok && r.connectionId !== undefined) {
      r.client.command(r.own, { type: 'release', now: 0, clientId: r.clientId, connectionId: r.connectionId, packetId: r.packetId }, noop);
    }
    r.h?.reply(r.ctx, r.tag, ok, value, 0);
  },
};

const noop: ReplyHandler = { reply() {} };

/** A publish somebody waits for, counted until answered (a handover's barrier waits for none to be left: handover-hold.ts). */
class Tracked {
  constructor(
    readonly hold: HandoverHold,
    readonly h: ReplyHandler,
    readonly ctx: unknown,
    readonly tag: number,
  ) {}
}

const trackedHandler: ReplyHandler = {
  reply(ctx, _tag, ok, value, feedSeq) {
    const t = ctx as Tracked;
    t.hold.publishAnswered();
    t.h.reply(t.ctx, t.tag, ok, value, feedSeq);
  },
};
/** Keys whose slot is remembered (partitionOf); the cache starts over when full. */
const SLOT_CACHE_MAX = 16_384;

export class ClusterClient {
  readonly index = new ClusterIndex();
  /** QoS 0 publishes are shed only past a link's hard limit: the publishers are held back long before (remote-core.ts). */
  private readonly shedGuard: Qos0ShedGuard;
  /** Follows of a partition's feed answered with the changes since the last one applied, or with a snapshot. */
  feedResumes = 0;
  feedSnapshots = 0;
  /** Partition -> id of the feed its index entries came from (a resume is only valid against the same feed). */
  private readonly feeds = new Map<number, number>();
  /** Idempotency keys of this process's appends: node, random instance, then a sequence number (PublishCommand.key). */
  private readonly keyPrefix: string;
  private keySeq = 0;
  private readonly nodes = new Map<string, NodeLink>();
  private map: ClusterMap;
  private unwatch: (() => void) | undefined;
  private readonly followed = new Set<number>();
  /** Follow requests waiting for an answer, by partition, and nodes with a follow retry scheduled. */
  private readonly asking = new Map<number, NodeLink>();
  private readonly followRetries = new Set<NodeLink>();
  private readonly groupScratch = new Map<number, string[]>();
  private readonly directScratch = new PartitionSet();
  private readonly slots = new Map<string, number>();
  private readonly readyWaiters: Array<() => void> = [];
  /** The link whose DELIVERIES frame is being handed out (undefined outside one): pushback's publisher when the message's own is elsewhere. */
  deliveringFrom: NodeLink | undefined;
  /** Live re-partitioning: what this process holds while a slot range moves (handover-hold.ts). */
  readonly hold = new HandoverHold({
    sendBarrier: (move, done) =>
      this.request(move.source, 'barrier', [move.source, move.id, this.opts.nodeId], {
        reply: (_c, _t, ok) => done(ok),
      }),
    feedReached: (partition, seq) => this.index.reached(partition, seq),
    late: (move, inflight) => this.opts.log.warn({ move: move.id, source: move.source, inflight }, 'handover barrier still waits for publishes in flight'),
  });
  /**
   * Set by a front end that writes QoS 0 to its own subscribers itself (direct-qos0.ts): how many
   * of a partition's subscriptions to a filter it counts as its own live ones.
   */
  localSubscribers: { countOf(filter: string, partition: number): number } | undefined;
  /** During one publish's match: its QoS 0 message was written to this front end's subscribers already. */
  private covering = false;
  private covered = false;
  /**
   * QoS 0 messages that reached no partition because this front end's own subscribers were all
   * there was: counted here, since no partition saw them ($SYS, RemoteBrokerCore.poll).
   */
  localOnly = 0;
  private readonly collect = (e: IndexEntry): void => {
    if (e.shareKey === undefined) {
      if (this.covering && this.coveredHere(e)) {
        this.covered = true;
        return;
      }
      for (let i = 0; i < e.partitions.length; i++) this.directScratch.add(e.partitions[i]);
      return;
    }
    const p = e.partitions[e.cursor++ % e.partitions.length];
    const list = this.groupScratch.get(p);
    if (list) {
      if (!list.includes(e.shareKey)) list.push(e.shareKey);
    } else this.groupScratch.set(p, [e.shareKey]);
  };

  /** Every session of every partition subscribed to this filter is a live one of this front end, which wrote the message to them. */
  private coveredHere(e: IndexEntry): boolean {
    const local = this.localSubscribers!;
    for (let i = 0; i < e.partitions.length; i++) if (local.countOf(e.key, e.partitions[i]) !== e.counts[i]) return false;
    return true;
  }

  constructor(private readonly opts: ClusterClientOptions) {
    this.map = opts.mapSource.current();
    this.keyPrefix = `${opts.nodeId}/${opts.instance}/`;
    this.shedGuard = new Qos0ShedGuard(opts.log, 'QoS 0 publishes to a back end');
  }

  /** QoS 0 publishes dropped because a back end's link was past its hard limit. */
  get droppedQos0(): number {
    return this.shedGuard.dropped;
  }

  get currentMap(): ClusterMap {
    return this.map;
  }

  start(): void {
    this.unwatch = this.opts.mapSource.onChange((m) => this.onMap(m));
    this.onMap(this.map);
  }

  private onMap(map: ClusterMap): void {
    const before = new Map(this.map.partitions.map((p) => [p.id, p.chain[0]]));
    this.map = map;
    this.heads = undefined;
    // Partitions removed by scaling down leave the index (they hold no session any more).
    for (const p of this.index.partitions()) if (!map.partitions.some((x) => x.id === p)) this.index.forget(p);
    // A partition whose head moved to another node while our link to the old one stayed up (the
    // old head was cut off the network, not killed) is handled as if that link broke: what we sent
    // it unanswered may be lost (acks, releases), so its sessions' connections are closed and the
    // clients resume their sessions (resending their flows) on the new head; and its filter feed
    // is followed again from the new head.
    for (const p of map.partitions) {
      const old = before.get(p.id);
      if (old === undefined || old === p.chain[0]) continue;
      const wasFollowed = this.followed.delete(p.id);
      if (wasFollowed) this.opts.partitionDown?.(p.id, `head moved from ${old} to ${p.chain[0] ?? 'nobody'}`);
    }
    const wanted = new Set(map.partitions.map((p) => p.chain[0]).filter((n): n is string => n !== undefined));
    // Commands waiting for a node that no longer heads their partition go to the new head (keyed
    // appends in flight too: see node-link.ts), before a link that is not wanted any more is stopped.
    const heads = new Map(map.partitions.map((p) => [p.id, p.chain[0]]));
    const moved: MovedCommand[] = [];
    for (const [id, n] of this.nodes) for (const m of n.take((p) => heads.get(p) !== id)) moved.push(m);
    for (const [id, n] of this.nodes) {
      if (!wanted.has(id)) {
        n.stop();
        this.nodes.delete(id);
        this.heads = undefined;
      }
    }
    for (const id of wanted) {
      if (this.nodes.has(id)) {
        this.followAll(this.nodes.get(id)!); // a partition may have moved to a node already connected
        continue;
      }
      const link = new NodeLink(id, {
        token: this.opts.token,
        hello: { node: this.opts.nodeId, role: this.opts.role, instance: this.opts.instance },
        // A front end encodes whatever it reads into client packets within the turn; a back end keeps payloads.
        sharedReads: this.opts.role === 'frontend',
        epoch: () => this.map.epoch,
        address: () => {
          const n = this.map.nodes[id];
          return n ? { host: n.host, port: n.internalPort } : undefined;
        },
        waitMs: this.opts.waitMs ?? 3000,
        retry: (partition, cmd, pending) => this.resend(partition, cmd, pending),
        // With a successor in the chain the append may live on there: wait for the map to name it head.
        keyedWaitMs: (partition) => {
          const wait = this.opts.waitMs ?? 3000;
          return (this.map.partitions.find((x) => x.id === partition)?.chain.length ?? 1) > 1 ? Math.max(wait, KEYED_RETRY_WAIT_MS) : wait;
        },
        log: this.opts.log,
        events: {
          up: (l) => this.followAll(l),
          down: (l, reason) => {
            for (const p of this.partitionsOf(l.nodeId)) {
              this.followed.delete(p);
              this.opts.partitionDown?.(p, reason);
            }
          },
          frame: (l, type, _epoch, body) => this.frame(l, type, body),
        },
      });
      this.nodes.set(id, link);
      this.heads = undefined;
      link.start();
    }
    for (const m of moved) this.resend(m.partition, m.cmd, m.pending);
    this.hold.onMap(map);
  }

  /** A command taken from one node's link, to the partition's head of now (its wait limit keeps counting). */
  private resend(partition: number, cmd: Command, pending: Pending | undefined): void {
    const n = this.nodeOf(partition);
    if (n) return n.enqueue(partition, cmd, pending);
    pending?.h.reply(pending.ctx, pending.tag, false, [RC.ServerUnavailable, `partition ${partition} is not in the cluster map`], 0);
  }

  private partitionsOf(nodeId: string): number[] {
    return this.map.partitions.filter((p) => p.chain[0] === nodeId).map((p) => p.id);
  }

  /**
   * Subscribe to the filter feed of every partition the node holds: a snapshot, then changes. A
   * feed followed before (the link broke) is resumed after the last change applied when the node
   * still has the changes since (filter-feed.ts); it answers with a snapshot when it does not. One
   * request per partition at a time and one retry timer per node: every map change and every
   * refusal calls this again, and without both the retries multiplied.
   */
  private followAll(l: NodeLink): void {
    if (!l.up) return;
    for (const p of this.partitionsOf(l.nodeId)) {
      if (this.followed.has(p) || this.asking.get(p) === l) continue;
      this.asking.set(p, l);
      const feed = this.feeds.get(p);
      l.request(p, 'follow', feed === undefined ? p : [p, feed, this.index.seqOf(p)], {
        reply: (_c, _t, ok, value) => {
          if (this.asking.get(p) === l) this.asking.delete(p);
          if (this.nodeOf(p) !== l) return; // the partition moved meanwhile: its new head is asked instead
          if (ok) {
            const r = value as { feed: number; resumed: boolean };
            this.feeds.set(p, r.feed);
            if (r.resumed) this.feedResumes++;
            else this.feedSnapshots++;
            this.followed.add(p);
            this.checkReady();
          } else {
            this.opts.log.warn({ partition: p, node: l.nodeId, reason: (value as [number, string])[1] }, 'cannot follow partition yet; retrying');
            this.followLater(l);
          }
        },
      });
    }
  }

  private followLater(l: NodeLink): void {
    if (this.followRetries.has(l)) return;
    this.followRetries.add(l);
    setTimeout(() => {
      this.followRetries.delete(l);
      this.followAll(l);
    }, 200).unref();
  }

  private frame(l: NodeLink, type: number, body: Buffer): void {
    if (type === FrameType.Feed) this.index.apply(decodeFeed(body));
    else if (type === FrameType.Deliveries && this.opts.deliveries) {
      this.deliveringFrom = l;
      try {
        decodeDeliveries(body, this.opts.deliveries);
      } finally {
        this.deliveringFrom = undefined;
      }
    }
  }

  /** Every partition of the map is followed: the index is complete. */
  ready(): boolean {
    return this.map.partitions.length > 0 && this.map.partitions.every((p) => this.followed.has(p.id));
  }

  /** Partitions of the map not followed now (their head's link is down or not made yet), with that head. */
  unreachable(): Array<{ partition: number; node: string | undefined }> {
    return this.map.partitions.filter((p) => !this.followed.has(p.id)).map((p) => ({ partition: p.id, node: p.chain[0] }));
  }

  private checkReady(): void {
    if (!this.ready()) return;
    for (const w of this.readyWaiters.splice(0)) w();
  }

  whenReady(): Promise<void> {
    if (this.ready()) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  partitionOf(key: string): number {
    // Client ids repeat (every PUBACK of a subscriber names it): their slot (a CRC-32) is kept.
    let slot = this.slots.get(key);
    if (slot === undefined) {
      if (this.slots.size >= SLOT_CACHE_MAX) this.slots.clear();
      this.slots.set(key, (slot = slotOf(key)));
    }
    return partitionOfSlot(this.map, slot);
  }

  partitionCount(): number {
    return this.map.partitions.length;
  }

  /** Partition id -> the link to its head, made again after any change of the map or the links (nodeOf runs per publish). */
  private heads: Array<NodeLink | undefined> | undefined;

  private nodeOf(partition: number): NodeLink | undefined {
    let heads = this.heads;
    if (heads === undefined) {
      heads = [];
      for (const p of this.map.partitions) heads[p.id] = p.chain[0] === undefined ? undefined : this.nodes.get(p.chain[0]);
      this.heads = heads;
    }
    return heads[partition];
  }

  command(partition: number, cmd: Command, h?: ReplyHandler, ctx?: unknown, tag = 0): void {
    // The rest of a publish in flight is never held: the handover's barrier waits for it.
    if (cmd.type !== 'publish' && this.hold.holds(partition)) {
      return this.hold.hold(() => this.command(this.ownerOf(cmd) ?? partition, cmd, h, ctx, tag));
    }
    const n = this.nodeOf(partition);
    if (n) return n.command(partition, cmd, h, ctx, tag);
    h?.reply(ctx, tag, false, [RC.ServerUnavailable, `partition ${partition} is not in the cluster map`], 0);
  }

  /** The partition that owns a command's key in the current map (session commands, state-store requests). */
  private ownerOf(cmd: Command): number | undefined {
    if (cmd.type === 'kv') {
      const op = cmd.request.op;
      const key = op.verb === 'XGET' ? op.keys[0] : op.verb === 'XTX' ? op.ops[0]?.key : op.key;
      return key === undefined ? undefined : this.partitionOf(partitionKeyOf(key).toString('utf8'));
    }
    // An unwatch goes to the partition that holds the keys, not to the session's (registrations on moved keys end with the move).
    if (cmd.type === 'tick' || cmd.type === 'restart' || cmd.type === 'export' || cmd.type === 'import' || cmd.type === 'publish' || cmd.type === 'unwatch') return undefined;
    return this.partitionOf(cmd.clientId);
  }

  request(partition: number, op: string, arg: unknown, h: ReplyHandler, ctx?: unknown, tag = 0): void {
    const n = this.nodeOf(partition);
    if (n) return n.request(partition, op, arg, h, ctx, tag);
    h.reply(ctx, tag, false, [RC.ServerUnavailable, `partition ${partition} is not in the cluster map`], 0);
  }

  /** The links to the back-end nodes heading partitions now. */
  links(): IterableIterator<NodeLink> {
    return this.nodes.values();
  }

  /**
   * Route a message to every partition whose sessions want it. `h` hears the summed outcome
   * (`PublishResult`, or `[reasonCode, message]` when any involved partition refused); without `h`
   * nobody waits (QoS 0, wills). `connectionId`: the publisher's live connection (QoS 2, see qos2RestHandler).
   * `directFrom`: QoS 0 this front end (instance) already wrote to its own live subscribers (PublishCommand.direct),
   * those below `directBelow` only when given (PublishCommand.directBelow).
   */
  publish(clientId: string, message: Message, packetId: number | undefined, h?: ReplyHandler, ctx?: unknown, tag = 0, connectionId?: number, directFrom?: number, directBelow?: number): void {
    if (this.hold.holding) return this.hold.hold(() => this.publish(clientId, message, packetId, h, ctx, tag, connectionId, directFrom, directBelow));
    if (h) {
      this.hold.publishStarted();
      ctx = new Tracked(this.hold, h, ctx, tag);
      h = trackedHandler;
      tag = 0;
    }
    const direct = this.directScratch;
    const groups = this.groupScratch;
    direct.clear();
    if (groups.size !== 0) groups.clear(); // allocates a new table even when empty
    // A retained message goes to every partition anyway (each keeps the retained copy); with
    // CONNECTs unanswered (directBelow) the partitions deliver to the newest connections here.
    this.covering = directFrom !== undefined && directBelow === undefined && !message.retain && this.localSubscribers !== undefined;
    this.covered = false;
    this.index.trie.match(message.topic, this.collect);
    this.covering = false;
    if (this.covered && direct.size === 0 && groups.size === 0) this.localOnly++;
    if (message.retain) for (const p of this.map.partitions) direct.add(p.id);
    const own = packetId !== undefined && message.qos === 2 ? this.partitionOf(clientId) : -1;
    // An append somebody waits for can be retried against a new head (node-link.ts): the key lets
    // the partition drop a second sending. One key for all partitions: each remembers its own.
    const key = h !== undefined && message.qos > 0 ? this.keyPrefix + String(++this.keySeq) : undefined;
    if (own < 0 && groups.size === 0 && direct.size <= 1) {
      // The common case (one partition, no share group): no target list, no aggregation.
      if (direct.size === 0) return h?.reply(ctx, tag, true, { matched: 0 }, 0);
      const cmd: PublishCommand = { type: 'publish', now: 0, clientId, message };
      if (key !== undefined) cmd.key = key;
      if (directFrom !== undefined) cmd.direct = directFrom;
      if (directBelow !== undefined) cmd.directBelow = directBelow;
      return this.send(direct.at(0), cmd, h, ctx, tag);
    }
    const now = 0; // stamped by the back end on arrival
    const targets: Array<[number, PublishCommand]> = [];
    const push = (p: number) => {
      const cmd: PublishCommand = { type: 'publish', now, clientId, message };
      if (p === own) cmd.packetId = packetId;
      const g = groups.get(p);
      if (g) cmd.groups = g;
      if (key !== undefined) cmd.key = key;
      if (directFrom !== undefined) cmd.direct = directFrom;
      if (directBelow !== undefined) cmd.directBelow = directBelow;
      targets.push([p, cmd]);
    };
    for (let i = 0; i < direct.size; i++) push(direct.at(i));
    for (const p of groups.keys()) if (!direct.has(p)) push(p);
    if (own >= 0) {
      let i = targets.findIndex(([p]) => p === own);
      if (i < 0) {
        push(own);
        i = targets.length - 1;
      }
      const [first] = targets.splice(i, 1);
      const rest: Qos2Rest = { client: this, targets, h, ctx, tag, own, clientId, packetId: packetId!, connectionId };
      this.command(first[0], first[1], qos2FirstHandler, rest);
      return;
    }
    if (targets.length === 0) return h?.reply(ctx, tag, true, { matched: 0 }, 0);
    if (targets.length === 1 || !h) {
      for (const [p, cmd] of targets) this.send(p, cmd, h, ctx, tag);
      return;
    }
    const f = new Fanout(h, ctx, tag);
    f.remaining = targets.length;
    for (const [p, cmd] of targets) this.command(p, cmd, fanoutHandler, f);
  }

  /** One publish command nobody else's outcome depends on. */
  private send(p: number, cmd: PublishCommand, h: ReplyHandler | undefined, ctx: unknown, tag: number): void {
    // QoS 0 waits in the link like any command: its publisher is held back while the link is
    // behind (remote-core.ts). Dropped only past the last-resort limit (qos0-shed-guard.ts).
    if (cmd.message.qos === 0) {
      const n = this.nodeOf(p);
      if (n !== undefined && this.shedGuard.shed(n.nodeId, n.backlog, false)) return;
    }
    this.command(p, cmd, h ?? (cmd.message.qos > 0 ? noop : undefined), ctx, tag);
  }

  /**
   * A share group's message whose member's session ended (partition.ts, redispatchShared): to one
   * partition holding members of the group, for the group only. Nobody waits; a QoS 1/2 message
   * waits for an unreachable partition like any command.
   */
  publishToGroup(message: Message, group: string, from = -1): void {
    if (this.hold.holding) return this.hold.hold(() => this.publishToGroup(message, group, from));
    const e = this.index.entry(`$share/${group}`);
    if (!e) return;
    // Not back to the partition whose member left (it had no other online member to give it to).
    let p = -1;
    for (let i = 0; i < e.partitions.length && p < 0; i++) {
      const candidate = e.partitions[e.cursor++ % e.partitions.length];
      if (candidate !== from) p = candidate;
    }
    if (p < 0) return;
    this.command(p, { type: 'publish', now: 0, clientId: '', message, groups: [group], groupsOnly: true }, message.qos > 0 ? noop : undefined);
  }

  stop(): void {
    this.unwatch?.();
    for (const n of this.nodes.values()) n.stop();
    this.nodes.clear();
    this.heads = undefined;
  }
}
