/**
 * The BrokerCore of a cluster's front end: the same door as LocalBrokerCore, with partitions behind
 * the internal transport instead of in this process. Sessions go to `partitionOf(clientId)`,
 * state-store keys to `partitionOf(partition key)`, publishes to the partitions the subscription
 * index names (ClusterClient). The channel cannot tell the difference.
 *
 * Connection ids are made unique cluster-wide by putting this process's random instance number in
 * the high bits (`instance * 2^32 + local id`), so a back end can tell whose connection a delivery
 * or a kick is for, and a restarted front end never reuses an id of its previous life.
 */
import { randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import { ClusterClient } from '../cluster/client/cluster-client.js';
import { DirectQos0 } from '../cluster/client/direct-qos0.js';
import type { NodeLink, ReplyHandler } from '../cluster/client/node-link.js';
import type { MapSource } from '../cluster/map.js';
import * as pushback from '../frontend/pushback.js';
import { FlowState, type FlowParty } from '../frontend/pushback.js';
import { MqttError } from '../mqtt/errors.js';
import { RC } from '../mqtt/reason-codes.js';
import type { Command } from '../partition/commands.js';
import { KvErrors, type KvEntryView, type KvRequest, type KvResult } from '../partition/kv-store.js';
import { partitionKeyOf } from '../statestore/protocol.js';
import { globalConnectionId } from './connection-ids.js';
import type { AckKind, BrokerCore, BrokerInspector, BrokerStats, PublishOutcomeSink, RetainedInfo, SessionInfo } from './broker-core.js';
import type { ConnectRequest, ConnectResult, Delivery, DisconnectRequest, Message, PublishResult, SessionSink, SubscriptionRequest } from './types.js';

export interface RemoteCoreOptions {
  nodeId: string;
  token: string;
  mapSource: MapSource;
  log: Logger;
  /** How long a request waits for an unreachable partition before it is refused (default 3 s). */
  waitMs?: number;
  /** How often every partition's counters are fetched for stats() ($SYS). */
  statsIntervalMs?: number;
}

const QOS0_DONE: Promise<PublishResult> = Promise.resolve({ matched: -1 });
/**
 * Bytes waiting on the link to a back end at which the publisher being routed waits for the link
 * to drain (pushback.ts, as for a subscriber's socket): the back end is not keeping up. The link's
 * backlog counts the commands queued in this turn (NodeLink.backlog), so the hold comes within the
 * turn; QoS 0 is never shed for a link that drains (only past its hard limit: qos0-shed-guard.ts).
 */
const LINK_BEHIND_BYTES = 1024 * 1024;

/**
 * A link to a back end, as pushback sees it. As a subscriber: publishers wait for its drain. As a
 * publisher: the messages it delivers come from publishers on other front ends, which only the
 * back end can hold back; so while a subscriber here that they go to is behind, the link is not
 * read (the back end sees this front end fall behind and stops reading front ends, whose links
 * then hold their publishers). A stalled subscriber holds nobody (pushback.ts), so this lasts at
 * most stalledSubscriberSeconds, as a publisher on one node is held.
 */
class LinkParty implements FlowParty {
  readonly flow = new FlowState();
  constructor(readonly link: NodeLink) {}
  pauseInput(): void {
    this.link.pauseInput();
  }
  resumeInput(): void {
    this.link.resumeInput();
  }
  watchDrain(): void {
    this.link.whenDrained(() => pushback.drained(this));
  }
}

interface PromiseCtx {
  resolve(v: unknown): void;
  reject(e: Error): void;
}

/** Refusals become MqttErrors with the back end's reason code: the channel answers the client with it. */
const promiseHandler: ReplyHandler = {
  reply(ctx, _tag, ok, value) {
    const c = ctx as PromiseCtx;
    if (ok) c.resolve(value);
    else {
      const [rc, message] = value as [number, string];
      c.reject(new MqttError(rc, message));
    }
  },
};

/** Subscribe/unsubscribe: resolved once this front end's index has the change (SUBACK after it). */
interface FeedCtx extends PromiseCtx {
  core: RemoteBrokerCore;
  partition: number;
}

/** A CONNECT's reply with its feed position (the resumed session's subscriptions are counted once the index has reached it). */
interface ConnectReply {
  result: ConnectResult;
  seq: number;
}

const connectHandler: ReplyHandler = {
  reply(ctx, _tag, ok, value, seq) {
    promiseHandler.reply(ctx, 0, ok, ok ? ({ result: value as ConnectResult, seq } satisfies ConnectReply) : value, 0);
  },
};

const feedHandler: ReplyHandler = {
  reply(ctx, _tag, ok, value, seq) {
    const c = ctx as FeedCtx;
    if (!ok) return promiseHandler.reply(c, 0, false, value, 0);
    void c.core.client.index.reached(c.partition, seq).then(() => c.resolve(value));
  },
};

/** Reason codes PUBACK/PUBREC may carry (MQTT 5 3.4.2.1); anything else a partition refused with becomes 0x80. */
const PUBACK_CODES: ReadonlySet<number> = new Set([RC.UnspecifiedError, RC.ImplementationSpecificError, RC.NotAuthorized, RC.TopicNameInvalid, RC.PacketIdentifierInUse, RC.QuotaExceeded, RC.PayloadFormatInvalid]);

function publishRefusal(value: unknown): MqttError {
  const [rc, message] = value as [number, string];
  return new MqttError(PUBACK_CODES.has(rc) ? rc : RC.UnspecifiedError, message);
}

const publishAckHandler: ReplyHandler = {
  reply(ctx, tag, ok, value) {
    const sink = ctx as PublishOutcomeSink;
    if (ok) sink.publishDone(tag, value as PublishResult, undefined);
    else sink.publishDone(tag, undefined, publishRefusal(value));
  },
};

const publishPromiseHandler: ReplyHandler = {
  reply(ctx, _tag, ok, value) {
    const c = ctx as PromiseCtx;
    if (ok) c.resolve(value);
    else c.reject(publishRefusal(value));
  },
};

/** This front end's own traffic (its metrics): plain numbers, one addition per message. */
export interface FrontEndTraffic {
  messagesReceived: number;
  bytesReceived: number;
  messagesSent: number;
  bytesSent: number;
}

/**
 * A publish on the tapped topic (tapRequests) is routed like any other (subscribers of the topic get
 * it as on one node) and handed to the tap once accepted, with the publisher's connection; a QoS 2
 * resend the partition recognises as a duplicate is not handed over again. Then the publisher's
 * answer goes on as usual (`next`), in the same order as every other publish's.
 */
interface TapCtx {
  handler: (message: Message, connectionId: number) => void;
  connectionId: number;
  message: Message;
  next: ReplyHandler;
  ctx: unknown;
}

const tapHandler: ReplyHandler = {
  reply(ctx, tag, ok, value, seq) {
    const c = ctx as TapCtx;
    if (ok && !(value as PublishResult).duplicate) c.handler(c.message, c.connectionId);
    c.next.reply(c.ctx, tag, ok, value, seq);
  },
};

export class RemoteBrokerCore implements BrokerCore, BrokerInspector {
  readonly instance = randomInt(1, 2 ** 20);
  readonly client: ClusterClient;
  readonly traffic: FrontEndTraffic = { messagesReceived: 0, bytesReceived: 0, messagesSent: 0, bytesSent: 0 };
  private readonly sinks = new Map<number, { sink: SessionSink; partition: number }>();
  /** QoS 0 written straight to this front end's own subscribers (direct-qos0.ts). */
  readonly direct = new DirectQos0();
  /** Client id -> the cluster-wide id of its live connection on this front end (QoS 2 undo, see ClusterClient). */
  private readonly live = new Map<string, number>();
  private readonly counters = new Map<number, BrokerStats & { droppedQos0?: number; frontEndReceived?: number; frontEndSent?: number }>();
  /** The state store's requests of this front end's clients (tapRequests). */
  private tap: { topic: string; handler: (message: Message, connectionId: number) => void } | undefined;
  /**
   * Connection (cluster-wide id) -> partitions other than its session's holding KEYNOTIFY
   * registrations it made: they cannot see it end, so they are told (`unwatch`) when it does.
   */
  private readonly watching = new Map<number, { clientId: string; partitions: Set<number> }>();
  private readonly linkParties = new WeakMap<NodeLink, LinkParty>();
  /** The last answer of routingPartyOf. */
  private readonly routed: { message: Message | undefined; link: NodeLink | undefined; party: FlowParty | undefined } = { message: undefined, link: undefined, party: undefined };
  private poller: NodeJS.Timeout | undefined;

  constructor(private readonly opts: RemoteCoreOptions) {
    this.client = new ClusterClient({
      nodeId: opts.nodeId,
      role: 'frontend',
      token: opts.token,
      instance: this.instance,
      mapSource: opts.mapSource,
      log: opts.log,
      waitMs: opts.waitMs,
      deliveries: {
        deliver: (c, d: Delivery) => {
          const s = this.sinks.get(c);
          if (!s) return;
          this.traffic.messagesSent++;
          this.traffic.bytesSent += d.message.payload.length;
          // As in one process, where deliveries happen inside the publish call: a subscriber that is
          // behind holds back the publisher of the message when it is connected here, else the link.
          pushback.routing(this.routingPartyOf(d.message));
          try {
            s.sink.deliver(d);
          } finally {
            pushback.routing(undefined);
          }
        },
        release: (c, packetId, reasonCode) => this.sinks.get(c)?.sink.release(packetId, reasonCode),
        kick: (c, rc) => {
          const s = this.sinks.get(c);
          this.forget(c);
          this.endWatches(c);
          s?.sink.kick(rc);
        },
      },
      partitionDown: (p, reason) => this.partitionDown(p, reason),
    });
    this.client.localSubscribers = this.direct;
  }

  start(): void {
    this.client.start();
    this.poller = setInterval(() => this.poll(), this.opts.statsIntervalMs ?? 1000);
    this.poller.unref();
  }

  ready(): boolean {
    return this.client.ready();
  }

  whenReady(): Promise<void> {
    return this.client.whenReady();
  }

  /**
   * Who waits for a subscriber that is behind, for the deliveries of `message` from the link
   * delivering now. A fan-out delivers one message to many subscribers in a row: it is looked up
   * once for them all (three map lookups per delivery otherwise), and forgotten when a connection
   * of this front end goes.
   */
  private routingPartyOf(message: Message): FlowParty | undefined {
    const link = this.client.deliveringFrom;
    if (message === this.routed.message && link === this.routed.link) return this.routed.party;
    const party = this.publisherOf(message.origin) ?? this.partyOf(link);
    this.routed.message = message;
    this.routed.link = link;
    this.routed.party = party;
    return party;
  }

  /** The live connection of a publisher on this front end, as pushback sees it. */
  private publisherOf(clientId: string): FlowParty | undefined {
    if (!clientId) return undefined;
    const id = this.live.get(clientId);
    const sink = id === undefined ? undefined : this.sinks.get(id)?.sink;
    return sink !== undefined && 'flow' in sink ? (sink as SessionSink & FlowParty) : undefined;
  }

  private partyOf(link: NodeLink | undefined): LinkParty | undefined {
    if (link === undefined) return undefined;
    let party = this.linkParties.get(link);
    if (!party) this.linkParties.set(link, (party = new LinkParty(link)));
    return party;
  }

  /** After a publish was queued: the publisher being routed waits for every link that is far behind. */
  private holdIfBehind(): void {
    for (const link of this.client.links()) {
      if (link.backlog > LINK_BEHIND_BYTES) pushback.socketBehind(this.partyOf(link)!);
    }
  }

  /** A connection of this front end is gone: nothing more is delivered to it, by a back end or by the front end itself. */
  private forget(connectionId: number): void {
    this.sinks.delete(connectionId);
    this.routed.message = undefined;
    this.routed.party = undefined;
    this.direct.closed(connectionId);
  }

  /** The connection id a back end sees for a connection of this front end. */
  private global(connectionId: number): number {
    return globalConnectionId(this.instance, connectionId);
  }

  /**
   * A partition's node is unreachable: the connections whose sessions live there are closed (the
   * clients reconnect and resume once it is back). Connections of other partitions carry on.
   */
  private partitionDown(partition: number, reason: string): void {
    let n = 0;
    for (const [id, s] of this.sinks) {
      if (s.partition !== partition) continue;
      this.forget(id);
      n++;
      try {
        s.sink.kick(RC.UnspecifiedError);
      } catch {
        /* SessionSink contract: must not throw; one broken sink does not stop the others */
      }
    }
    this.opts.log.warn({ partition, reason, closed: n }, 'partition unreachable; closed the connections of its sessions');
  }

  private run<T>(partition: number, cmd: Command): Promise<T> {
    return new Promise<T>((resolve, reject) => this.client.command(partition, cmd, promiseHandler, { resolve, reject } as PromiseCtx));
  }

  connect(req: ConnectRequest, sink: SessionSink): Promise<ConnectResult> {
    const partition = this.client.partitionOf(req.clientId);
    const connectionId = this.global(req.connectionId);
    this.sinks.set(connectionId, { sink, partition });
    this.live.set(req.clientId, connectionId);
    const cmd: Command = {
      type: 'connect',
      now: 0,
      clientId: req.clientId,
      connectionId,
      protocolVersion: req.protocolVersion,
      cleanStart: req.cleanStart,
      sessionExpirySeconds: req.sessionExpirySeconds,
      receiveMaximum: req.receiveMaximum,
      will: req.will,
    };
    this.direct.connecting(connectionId);
    return new Promise<ConnectReply>((resolve, reject) => this.client.command(partition, cmd, connectHandler, { resolve, reject } as PromiseCtx)).then(
      ({ result, seq }) => {
        // Taken over or closed while it waited: its sink is gone and nothing is written to it.
        if (this.sinks.get(connectionId)?.sink !== sink) {
          this.direct.closed(connectionId);
          return { sessionPresent: result.sessionPresent };
        }
        // The partition that answered (a handover may have moved the command on while it was held).
        const at = this.client.partitionOf(req.clientId);
        this.direct.connected(connectionId, req.clientId, sink, at, result.subscriptions);
        const filters = result.subscriptions?.map((s) => s.filter);
        if (filters?.length) void this.client.index.reached(at, seq).then(() => this.direct.confirm(connectionId, filters));
        return { sessionPresent: result.sessionPresent };
      },
      (err: Error) => {
        this.forget(connectionId);
        // CONNACK has its own code for "try later": 0x88 Server unavailable.
        throw err instanceof MqttError && err.reasonCode !== RC.QuotaExceeded ? new MqttError(RC.ServerUnavailable, err.message, { cause: err }) : err;
      },
    );
  }

  disconnect(req: DisconnectRequest): Promise<void> {
    const connectionId = this.global(req.connectionId);
    this.forget(connectionId);
    this.endWatches(connectionId);
    if (this.live.get(req.clientId) === connectionId) this.live.delete(req.clientId);
    return this.run<void>(this.client.partitionOf(req.clientId), { type: 'disconnect', now: 0, ...req, connectionId });
  }

  private feedCall<T>(partition: number, cmd: Command): Promise<T> {
    return new Promise<T>((resolve, reject) => this.client.command(partition, cmd, feedHandler, { resolve, reject, core: this, partition } as FeedCtx));
  }

  subscribe(clientId: string, connectionId: number, subs: SubscriptionRequest[]): Promise<number[]> {
    const partition = this.client.partitionOf(clientId);
    const global = this.global(connectionId);
    this.direct.subscribe(global, subs);
    return this.feedCall<number[]>(partition, { type: 'subscribe', now: 0, clientId, connectionId: global, subs }).then(
      (codes) => {
        // Refused ones (the connection was taken over meanwhile) are not the partition's: not written to, not counted.
        this.direct.unsubscribe(global, subs.filter((_, i) => codes[i] >= 0x80).map((s) => s.filter));
        this.direct.confirm(global, subs.filter((_, i) => codes[i] < 0x80).map((s) => s.filter));
        return codes;
      },
      (err: Error) => {
        this.direct.unsubscribe(global, subs.map((s) => s.filter));
        throw err;
      },
    );
  }

  unsubscribe(clientId: string, connectionId: number, filters: string[]): Promise<number[]> {
    const partition = this.client.partitionOf(clientId);
    const global = this.global(connectionId);
    this.direct.unsubscribe(global, filters);
    return this.feedCall(partition, { type: 'unsubscribe', now: 0, clientId, connectionId: global, filters });
  }

  publish(clientId: string, message: Message, packetId?: number): Promise<PublishResult> {
    this.traffic.messagesReceived++;
    this.traffic.bytesReceived += message.payload.length;
    const tap = this.tapOf(clientId, message);
    if (message.qos === 0) {
      // Written to this front end's own subscribers now; the partitions skip them (direct-qos0.ts).
      const below = this.direct.deliver(message);
      this.client.publish(clientId, message, undefined, undefined, undefined, 0, undefined, this.instance, below === Infinity ? undefined : below);
      tap?.handler(message, tap.connectionId);
      this.holdIfBehind();
      return QOS0_DONE;
    }
    const connectionId = packetId === undefined ? undefined : this.live.get(clientId);
    const done = new Promise<PublishResult>((resolve, reject) => {
      const ctx = { resolve, reject } as PromiseCtx;
      if (tap) this.client.publish(clientId, message, packetId, tapHandler, { ...tap, message, next: publishPromiseHandler, ctx } satisfies TapCtx, 0, connectionId);
      else this.client.publish(clientId, message, packetId, publishPromiseHandler, ctx, 0, connectionId);
    });
    this.holdIfBehind();
    return done;
  }

  publishAcked(clientId: string, message: Message, packetId: number | undefined, sink: PublishOutcomeSink, tag: number): void {
    this.traffic.messagesReceived++;
    this.traffic.bytesReceived += message.payload.length;
    const connectionId = packetId === undefined ? undefined : this.live.get(clientId);
    const tap = this.tapOf(clientId, message);
    if (tap) this.client.publish(clientId, message, packetId, tapHandler, { ...tap, message, next: publishAckHandler, ctx: sink } satisfies TapCtx, tag, connectionId);
    else this.client.publish(clientId, message, packetId, publishAckHandler, sink, tag, connectionId);
    this.holdIfBehind();
  }

  tapRequests(topic: string, handler: (message: Message, connectionId: number) => void): void {
    this.tap = { topic, handler };
  }

  /** A message on the tapped topic: the handler and the publisher's connection, for tapHandler. */
  private tapOf(clientId: string, message: Message): { handler: (message: Message, connectionId: number) => void; connectionId: number } | undefined {
    if (this.tap === undefined || message.topic !== this.tap.topic) return undefined;
    return { handler: this.tap.handler, connectionId: this.live.get(clientId) ?? 0 };
  }

  /** The connection ended here: the partitions holding its KEYNOTIFY registrations drop them. */
  private endWatches(connectionId: number): void {
    const w = this.watching.get(connectionId);
    if (!w) return;
    this.watching.delete(connectionId);
    for (const p of w.partitions) this.client.command(p, { type: 'unwatch', now: 0, clientId: w.clientId, connectionId });
  }

  /** A KEYNOTIFY registration: tied to a live connection of this front end, remembered if its keys live elsewhere than its session. */
  private watch(request: KvRequest, partition: number): KvRequest {
    const connectionId = request.connectionId;
    if (connectionId === undefined || request.op.verb !== 'KEYNOTIFY' || request.op.stop) return request;
    // The connection ended while the request waited: no registration, as on one node.
    if (!this.sinks.has(connectionId)) return { ...request, connectionId: 0 };
    if (partition === this.client.partitionOf(request.clientId)) return request;
    let w = this.watching.get(connectionId);
    if (!w) this.watching.set(connectionId, (w = { clientId: request.clientId, partitions: new Set() }));
    w.partitions.add(partition);
    return request;
  }

  release(clientId: string, connectionId: number, packetId: number): Promise<number> {
    return this.run<number>(this.client.partitionOf(clientId), { type: 'release', now: 0, clientId, connectionId: this.global(connectionId), packetId });
  }

  acknowledge(clientId: string, connectionId: number, packetId: number, kind: AckKind, reasonCode = 0): void {
    this.client.command(this.client.partitionOf(clientId), { type: 'ack', now: 0, clientId, connectionId: this.global(connectionId), packetId, kind, reasonCode });
  }

  /** The front end's stall verdict for a subscriber, a command of its session's partition (see partition/flow). */
  setStalled(clientId: string, connectionId: number, stalled: boolean): void {
    this.client.command(this.client.partitionOf(clientId), { type: 'flow', now: 0, clientId, connectionId: this.global(connectionId), stalled });
  }

  kv(request: KvRequest): Promise<KvResult> {
    const keys = keysOf(request);
    const partitionOfKey = (k: Buffer) => this.client.partitionOf(partitionKeyOf(k).toString('utf8'));
    const partitions = new Set(keys.map(partitionOfKey));
    if (partitions.size > 1 && request.op.verb === 'XGET') return this.xgetAcross(request, request.op.keys, partitionOfKey);
    if (partitions.size > 1) {
      return Promise.resolve({ type: 'error', message: KvErrors.crossPartition });
    }
    const [partition] = partitions.size === 1 ? partitions : [this.client.partitionOf('')];
    return this.run<KvResult>(partition, { type: 'kv', now: 0, request: this.watch(request, partition) });
  }

  /** A read of keys in several partitions: one XGET per partition, answers put back in request order. */
  private async xgetAcross(request: KvRequest, keys: Buffer[], partitionOfKey: (k: Buffer) => number): Promise<KvResult> {
    const byPartition = new Map<number, number[]>();
    keys.forEach((k, i) => {
      const p = partitionOfKey(k);
      const list = byPartition.get(p);
      if (list) list.push(i);
      else byPartition.set(p, [i]);
    });
    const parts = await Promise.all(
      [...byPartition].map(([p, idx]) => this.run<KvResult>(p, { type: 'kv', now: 0, request: { ...request, op: { verb: 'XGET', keys: idx.map((i) => keys[i]) } } })),
    );
    const entries = new Array<KvEntryView | null>(keys.length).fill(null);
    let version = '';
    let k = 0;
    for (const idx of byPartition.values()) {
      const r = parts[k++];
      if (r.type !== 'entries') return r; // an error of one partition is the answer
      idx.forEach((i, j) => (entries[i] = r.entries[j] ?? null));
      if (version === '') version = r.version;
    }
    return { type: 'entries', entries, version };
  }

  /** Cluster-wide counts: the sum over every partition's last report (retained: the largest copy, since every partition keeps them all). */
  stats(): BrokerStats {
    const s: BrokerStats = { sessions: 0, connected: 0, subscriptions: 0, retained: 0, messagesReceived: 0, messagesSent: 0, messagesDropped: 0, queued: 0, inflight: 0 };
    for (const c of this.counters.values()) {
      s.sessions += c.sessions;
      s.connected += c.connected;
      s.subscriptions += c.subscriptions;
      s.retained = Math.max(s.retained, c.retained);
      s.messagesReceived += c.messagesReceived;
      s.messagesSent += c.messagesSent;
      s.messagesDropped += c.messagesDropped + (c.droppedQos0 ?? 0);
      // QoS 0 that front ends wrote to their own subscribers (direct-qos0.ts), reported with one partition.
      s.messagesReceived += c.frontEndReceived ?? 0;
      s.messagesSent += c.frontEndSent ?? 0;
      s.queued += c.queued;
      s.inflight += c.inflight;
    }
    // QoS 0 this front end shed for back ends whose links were past their hard limit.
    s.messagesDropped += this.client.droppedQos0;
    return s;
  }

  /**
   * This front end's figures for its metrics: its own traffic and live connections. Sessions,
   * subscriptions, retained messages and queues are the partitions' and reported by the back ends.
   */
  frontEndStats(): BrokerStats {
    return {
      sessions: 0,
      connected: this.sinks.size,
      subscriptions: 0,
      retained: 0,
      ...this.traffic,
      messagesSent: this.traffic.messagesSent + this.direct.sent,
      bytesSent: this.traffic.bytesSent + this.direct.bytesSent,
      messagesDropped: this.client.droppedQos0,
      queued: 0,
      inflight: 0,
    };
  }

  /** QoS 0 this front end wrote to its own subscribers, and publishes of it no partition was asked for (metrics). */
  directQos0Counts(): { deliveries: number; localOnly: number } {
    return { deliveries: this.direct.sent, localOnly: this.client.localOnly };
  }

  /** Partitions this front end cannot reach now, with the node that should serve each (readiness). */
  unreachable(): Array<{ partition: number; node: string | undefined }> {
    return this.client.unreachable();
  }

  // ---- inspection for the admin API: each partition's head answers for its own sessions ------------

  async sessions(): Promise<SessionInfo[]> {
    const parts = await this.fromEveryPartition<SessionInfo[]>('sessions', (p) => p);
    return parts.flat().sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
  }

  async session(clientId: string): Promise<SessionInfo | undefined> {
    const partition = this.client.partitionOf(clientId);
    const found = await this.ask<SessionInfo | null>(partition, 'session', [partition, clientId]);
    return found ?? undefined;
  }

  /** Every partition keeps every retained message: the first partition that answers tells. */
  async retained(): Promise<RetainedInfo[]> {
    const parts = await this.fromEveryPartition<RetainedInfo[]>('retained', (p) => p);
    const byTopic = new Map<string, RetainedInfo>();
    for (const list of parts) for (const r of list) if (!byTopic.has(r.topic)) byTopic.set(r.topic, r);
    return [...byTopic.values()].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
  }

  private ask<T>(partition: number, op: string, arg: unknown): Promise<T> {
    return new Promise<T>((resolve, reject) => this.client.request(partition, op, arg, promiseHandler, { resolve, reject } as PromiseCtx));
  }

  /** One request per partition; partitions that cannot answer are left out (and logged), the rest are reported. */
  private async fromEveryPartition<T>(op: string, arg: (partition: number) => unknown): Promise<T[]> {
    const ids = this.client.currentMap.partitions.map((p) => p.id);
    const settled = await Promise.allSettled(ids.map((p) => this.ask<T>(p, op, arg(p))));
    const out: T[] = [];
    settled.forEach((r, i) => {
      if (r.status === 'fulfilled') out.push(r.value);
      else this.opts.log.warn({ partition: ids[i], op, err: (r.reason as Error).message }, 'partition did not answer an inspection');
    });
    return out;
  }

  private poll(): void {
    this.routed.message = undefined; // an idle front end does not keep the last message's payload
    const first = this.client.currentMap.partitions[0]?.id;
    for (const p of this.client.currentMap.partitions) {
      const arg = p.id === first ? [p.id, this.instance, this.client.localOnly, this.direct.sent] : p.id;
      this.client.request(p.id, 'stats', arg, {
        reply: (_c, _t, ok, value) => {
          if (ok) this.counters.set(p.id, value as BrokerStats);
        },
      });
    }
  }

  async close(): Promise<void> {
    clearInterval(this.poller);
    this.client.stop();
  }
}

/** The keys a state-store request touches (their partition keys must agree). */
function keysOf(r: KvRequest): Buffer[] {
  const op = r.op;
  if (op.verb === 'XGET') return op.keys;
  if (op.verb === 'XTX') return op.ops.map((o) => o.key);
  return [op.key];
}
