/**
 * QoS 0 straight to this front end's own subscribers: "QoS 0 goes straight to the front ends
 * holding the live subscribers". A QoS 0 message has no queue, no packet id and no acknowledgement;
 * to a live session it is nothing but a write to its connection. So the front end keeps the
 * subscriptions of its own live connections (the resumed session's from CONNECT's reply, then the
 * SUBSCRIBEs and UNSUBSCRIBEs it forwards itself) and writes a QoS 0 publish to them at once, as one
 * node does, without the two hops through the back end. The partitions still get the message for
 * everyone else (sessions on other front ends, share groups, the retained store), marked with this
 * front end's instance (PublishCommand.direct), and skip the sessions whose live connection is here.
 *
 * The mark promises "every live connection of mine with a matching subscription got it", and the
 * partition checks it against its own state at the moment it applies the publish. That holds
 * because a front end's commands reach a partition in the order it sent them:
 * - a SUBSCRIBE's filters are used from the moment it is sent: a publish sent after it is applied
 *   after it, so the partition skips that session, and this front end wrote it;
 * - an UNSUBSCRIBE's and a closed connection's are dropped at once, for the same reason;
 * - while a CONNECT is unanswered this front end does not know that session's subscriptions, but
 *   the partition may already count the session as live here. The mark then says "below the
 *   lowest unanswered connection id" (PublishCommand.directBelow): only those connections are
 *   written to here, the partition delivers to the rest. Every connection below that id is known
 *   here or has not sent its CONNECT yet (and a CONNECT sent later is applied after this publish).
 *   Connection ids grow with every connection, so a front end with CONNECTs always in flight
 *   (devices reconnecting all the time) still serves its older connections itself.
 * Share groups are left to the partitions: a group gets a message once cluster-wide.
 *
 * When every session subscribed to the message's filters is live here, the partitions need not be
 * asked at all: the index's per-partition counts (cluster-index.ts) equal the subscriptions counted
 * here (`countOf`). A subscription is counted only once this front end's index has applied the
 * feed change that added it (a SUBSCRIBE's or CONNECT's reply position), and uncounted as soon as
 * it goes, so a count here never includes one the index does not: equal counts mean nobody else,
 * as far as the index knows. A connection's partition does not change while it lives: a handover
 * closes the connections of the sessions it moves.
 */
import type { Delivery, Message, SessionSink, SubscriptionRequest } from '../../core/types.js';
import { TopicTrie } from '../../topics/trie.js';

const SHARE_PREFIX = '$share/';

/** A live connection of this front end, with the scratch fields of one publish's aggregation. */
class LiveConnection {
  readonly routes = new Map<string, LiveRoute>();
  matchEpoch = 0;
  matchRetain = false;
  matchSubIds: number[] | undefined;
  constructor(
    /** Cluster-wide connection id. */
    readonly id: number,
    readonly clientId: string,
    readonly sink: SessionSink,
    /** The session's partition. */
    readonly partition: number,
  ) {}
}

interface LiveRoute {
  readonly connection: LiveConnection;
  options: SubscriptionRequest;
  /** The index has it (see above). */
  counted: boolean;
}

export class DirectQos0 {
  private readonly trie = new TopicTrie<LiveRoute>();
  private readonly connections = new Map<number, LiveConnection>();
  /** Connections whose CONNECT is unanswered, and the lowest of their ids (Infinity: none). */
  private readonly unknown = new Set<number>();
  private lowestUnknown = Infinity;
  /** During one publish's match: only connections below this id are written to. */
  private below = Infinity;
  private epoch = 0;
  private origin = '';
  private readonly touched: LiveConnection[] = [];
  private readonly visit = (r: LiveRoute): void => this.collect(r);
  /** Filter -> counted subscriptions here, by partition id. */
  private readonly counted = new Map<string, number[]>();
  /** Deliveries written here (the front end's traffic). */
  sent = 0;
  bytesSent = 0;

  /** A CONNECT is on its way to the session's partition. */
  connecting(connectionId: number): void {
    this.unknown.add(connectionId);
    if (connectionId < this.lowestUnknown) this.lowestUnknown = connectionId;
  }

  private known(connectionId: number): void {
    if (!this.unknown.delete(connectionId) || connectionId !== this.lowestUnknown) return;
    let lowest = Infinity;
    for (const id of this.unknown) if (id < lowest) lowest = id;
    this.lowestUnknown = lowest;
  }

  /** Its reply: the connection is live, with the session's subscriptions. */
  connected(connectionId: number, clientId: string, sink: SessionSink, partition: number, subscriptions: readonly SubscriptionRequest[] | undefined): void {
    this.known(connectionId);
    this.drop(connectionId);
    const c = new LiveConnection(connectionId, clientId, sink, partition);
    this.connections.set(connectionId, c);
    if (subscriptions) this.add(c, subscriptions);
  }

  /** The index has applied the feed up to the reply of `filters`' SUBSCRIBE (or of the CONNECT that resumed them). */
  confirm(connectionId: number, filters: readonly string[]): void {
    const c = this.connections.get(connectionId);
    if (!c) return;
    for (const f of filters) {
      const r = c.routes.get(f);
      if (r === undefined || r.counted) continue;
      r.counted = true;
      let byPartition = this.counted.get(f);
      if (!byPartition) this.counted.set(f, (byPartition = []));
      byPartition[c.partition] = (byPartition[c.partition] ?? 0) + 1;
    }
  }

  /** Subscriptions to exactly `filter` counted here whose sessions are in `partition`. */
  countOf(filter: string, partition: number): number {
    return this.counted.get(filter)?.[partition] ?? 0;
  }

  /** The connection ended, was kicked, or its CONNECT was refused. */
  closed(connectionId: number): void {
    this.known(connectionId);
    this.drop(connectionId);
  }

  subscribe(connectionId: number, subs: readonly SubscriptionRequest[]): void {
    const c = this.connections.get(connectionId);
    if (c) this.add(c, subs);
  }

  unsubscribe(connectionId: number, filters: readonly string[]): void {
    const c = this.connections.get(connectionId);
    if (!c) return;
    for (const f of filters) {
      const r = c.routes.get(f);
      if (!r) continue;
      c.routes.delete(f);
      this.trie.remove(f, r);
      this.uncount(f, r);
    }
  }

  private uncount(filter: string, r: LiveRoute): void {
    if (!r.counted) return;
    r.counted = false;
    const byPartition = this.counted.get(filter)!;
    const p = r.connection.partition;
    if (--byPartition[p] === 0) {
      delete byPartition[p];
      if (!byPartition.some((n) => n > 0)) this.counted.delete(filter);
    }
  }

  /** Subscriptions of this front end's live connections (share groups are not kept here). */
  get size(): number {
    return this.trie.size;
  }

  /**
   * Writes a QoS 0 message to the live connections here whose subscriptions match, one delivery per
   * connection (overlapping subscriptions aggregated as a partition does): to all of them, or while
   * CONNECTs are unanswered to those below the lowest of them. Returns that bound (Infinity: all),
   * for the mark.
   */
  deliver(m: Message): number {
    const below = this.lowestUnknown;
    if (this.trie.size === 0) return below;
    this.below = below;
    this.epoch++;
    this.origin = m.origin;
    const touched = this.touched;
    this.trie.match(m.topic, this.visit);
    for (let i = 0; i < touched.length; i++) {
      const c = touched[i];
      const d: Delivery = { message: m, qos: 0, packetId: 0, dup: false, retain: c.matchRetain && m.retain };
      if (c.matchSubIds) d.subscriptionIds = c.matchSubIds;
      this.sent++;
      this.bytesSent += m.payload.length;
      try {
        c.sink.deliver(d);
      } catch {
        /* SessionSink contract: must not throw; one broken sink does not stop the others */
      }
    }
    if (touched.length !== 0) touched.length = 0;
    return below;
  }

  private collect(r: LiveRoute): void {
    const c = r.connection;
    const o = r.options;
    if (c.id >= this.below) return; // its partition delivers it (see above)
    if (o.noLocal && c.clientId === this.origin) return; // [MQTT-3.8.3-3]
    if (c.matchEpoch !== this.epoch) {
      c.matchEpoch = this.epoch;
      c.matchRetain = o.retainAsPublished;
      c.matchSubIds = o.subscriptionId ? [o.subscriptionId] : undefined;
      this.touched.push(c);
      return;
    }
    if (o.retainAsPublished) c.matchRetain = true;
    if (o.subscriptionId) (c.matchSubIds ??= []).push(o.subscriptionId);
  }

  private add(c: LiveConnection, subs: readonly SubscriptionRequest[]): void {
    for (const sub of subs) {
      if (sub.filter.startsWith(SHARE_PREFIX)) continue;
      const existing = c.routes.get(sub.filter);
      if (existing) {
        existing.options = sub;
        continue;
      }
      const r: LiveRoute = { connection: c, options: sub, counted: false };
      c.routes.set(sub.filter, r);
      this.trie.add(sub.filter, r);
    }
  }

  private drop(connectionId: number): void {
    const c = this.connections.get(connectionId);
    if (!c) return;
    this.connections.delete(connectionId);
    for (const [f, r] of c.routes) {
      this.trie.remove(f, r);
      this.uncount(f, r);
    }
  }
}
