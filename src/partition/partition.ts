/**
 * A partition: the deterministic state machine behind the broker. `apply(command, output)` is the
 * only way in; it never does I/O and never reads a clock, so persistence and chain replication can
 * wrap it (log the command, replay it) without it knowing. Effects for live connections leave
 * through `PartitionOutput`.
 *
 * Rules implemented here: session lifecycle (clean start, takeover, expiry), wills and will delay,
 * routing with overlapping-subscription aggregation, shared-subscription dispatch and redispatch,
 * retained messages and retain handling, the outbound inflight window (Receive Maximum) and the
 * bounded subscriber queue, and inbound QoS 2 de-duplication.
 */
import type { SharedSubscriptionStrategy, QueueOverflowStrategy } from '../config/model.js';
import type { ConnectResult, Delivery, Message, PublishResult, QoS, SubscriptionRequest, Will } from '../core/types.js';
import { instanceOf } from '../core/connection-ids.js';
import { RC } from '../mqtt/reason-codes.js';
import { RetainedIndex } from '../topics/retained-index.js';
import { parseSharedFilter } from '../topics/validate.js';
import type { AckKind } from '../core/broker-core.js';
import type {
  AckCommand,
  AcksCommand,
  Command,
  ConnectCommand,
  DisconnectCommand,
  FlowCommand,
  PublishCommand,
  ReleaseCommand,
  SubscribeCommand,
  UnsubscribeCommand,
} from './commands.js';
import { KvStore, type KvResult } from './kv-store.js';
import type { PartitionOutput } from './output.js';
import { Routes, type Route, type ShareGroup } from './routes.js';
import { AppliedKeys } from './applied-keys.js';
import { HandoverLedger, exportSlots, importSlots, type HandoverState } from './handover.js';
import { NEVER_EXPIRES, Session, type Pending } from './session.js';

export interface PartitionLimits {
  queueLength: number;
  queueStrategy: QueueOverflowStrategy;
  sharedStrategy: SharedSubscriptionStrategy;
  /**
   * One partition of a cluster: a publish serves only the share groups its command names, and
   * messages that start here (wills, state-store notifications) leave through `output.forward` to
   * be routed cluster-wide instead of only to this partition's sessions.
   */
  cluster?: boolean;
}

export interface PartitionCounters {
  messagesReceived: number;
  messagesSent: number;
  /** Every message not delivered; the `dropped*` counters below say why. */
  messagesDropped: number;
  /** Payload bytes of routed messages, and of deliveries handed to connections. */
  bytesReceived: number;
  bytesSent: number;
  /** QoS 0 for a session that is offline (never queued, as MQTT allows). */
  droppedQos0Offline: number;
  /** Queue full under strategy None: the new message is refused (0x97 to an MQTT 5 publisher). */
  droppedQueueFull: number;
  /** Queue full under DropOldest: the oldest queued message is evicted. */
  droppedOldest: number;
  /** Message expiry passed while queued [MQTT-3.3.2-5]. */
  droppedExpired: number;
}

export type CommandResult = ConnectResult | number[] | PublishResult | number | KvResult | HandoverState | undefined;

export class Partition {
  readonly sessions = new Map<string, Session>();
  readonly routes: Routes;
  readonly retained = new RetainedIndex<Message>();
  readonly counters: PartitionCounters = {
    messagesReceived: 0,
    messagesSent: 0,
    messagesDropped: 0,
    bytesReceived: 0,
    bytesSent: 0,
    droppedQos0Offline: 0,
    droppedQueueFull: 0,
    droppedOldest: 0,
    droppedExpired: 0,
  };
  /** Sessions with a running timer (delayed will or expiry), so a tick does not scan every session. */
  readonly timed = new Set<Session>();
  /** Live connections; maintained here, restored from snapshots. */
  connected = 0;

  // Scratch state of the publish being routed; reused to keep routing free of per-message allocations.
  private epoch = 0;
  private origin = '';
  private quotaHit = false;
  /** Longest queue of a draining session the message being routed was put in (PublishResult.backlog). */
  private backlog = 0;
  /** Share groups the publish being routed may serve (cluster); undefined = all of them. */
  private serveGroups: readonly string[] | undefined;
  /** The publish being routed is a share group's redispatch from another partition: no direct subscriber gets it. */
  private groupsOnly = false;
  /** Cluster, during one QoS 0 route: the front end that already wrote it to its own live sessions (0: none). */
  private directFrom = 0;
  /** With directFrom: only its connections below this id were written to (PublishCommand.directBelow). */
  private directBelow = Infinity;
  private readonly touched: Session[] = [];
  private readonly touchedGroups: ShareGroup[] = [];
  private readonly visit = (route: Route) => this.collect(route);

  constructor(private readonly limits: PartitionLimits) {
    this.routes = new Routes(limits.sharedStrategy);
    this.extensions.set('kv', this.kv);
    this.extensions.set('appliedKeys', this.appliedKeys);
    this.extensions.set('handover', this.handover);
  }

  /** Slot ranges handed to and from other partitions (live re-partitioning, handover.ts). */
  readonly handover = new HandoverLedger();

  /** Cluster appends already applied, by idempotency key (see applied-keys.ts). */
  readonly appliedKeys = new AppliedKeys();

  /**
   * Sub-machines contributed by other rooms (the state store's keys) plug in here so snapshots
   * carry them without this file knowing their shape.
   */
  readonly extensions = new Map<string, { snapshot(): unknown; restore(state: unknown): void }>();

  /** State-store keys (DSS, see kv-store.ts); notifications are routed like any other message. */
  readonly kv = new KvStore({
    nodeId: 'edgemq',
    // On a cluster a requester's session may live in another partition, whose connections this one
    // cannot see: its front end ends those registrations (`unwatch`).
    connectionOf: (clientId) => this.sessions.get(clientId)?.connectionId ?? (this.limits.cluster ? undefined : 0),
    route: (m, now, out) => this.routeInternal(m, now, out),
  });

  snapshotExtensions(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [name, ext] of this.extensions) out[name] = ext.snapshot();
    return out;
  }

  restoreExtensions(state: Record<string, unknown>): void {
    for (const [name, ext] of this.extensions) if (name in state) ext.restore(state[name]);
  }

  apply(cmd: Command, out: PartitionOutput): CommandResult {
    switch (cmd.type) {
      case 'publish':
        return this.publish(cmd, out);
      case 'ack':
        return this.ack(cmd, out);
      case 'acks':
        return this.acks(cmd, out);
      case 'flow':
        return this.flow(cmd);
      case 'connect':
        return this.connect(cmd, out);
      case 'disconnect':
        return this.disconnect(cmd, out);
      case 'subscribe':
        return this.subscribe(cmd, out);
      case 'unsubscribe':
        return this.unsubscribe(cmd);
      case 'release':
        return this.release(cmd);
      case 'tick':
        return this.tick(cmd.now, out);
      case 'restart':
        return this.restart(cmd.crashedAt, out);
      case 'kv':
        return this.kv.apply(cmd.request, cmd.now, out);
      case 'unwatch':
        if ('frontEnd' in cmd) this.kv.unwatchFrontEnd(cmd.frontEnd);
        else this.kv.unwatchConnection(cmd.clientId, cmd.connectionId);
        return undefined;
      case 'export':
        return exportSlots(this, cmd, out);
      case 'import':
        return importSlots(this, cmd);
    }
  }

  // ---- sessions ---------------------------------------------------------------------------------

  private connect(cmd: ConnectCommand, out: PartitionOutput): ConnectResult {
    let s = this.sessions.get(cmd.clientId);
    if (s && !s.online && s.expiresAt !== undefined && s.expiresAt <= cmd.now) {
      this.endSession(s, cmd.now, out); // expired between ticks (or during downtime): it is gone [MQTT-3.1.2-23]
      s = undefined;
    }
    if (s) {
      // A session with expiry 0 (3.1.1 clean session) lasts as long as its connection [MQTT-3.1.2-6]:
      // the takeover ends it, so there is nothing to resume [MQTT-3.2.2-2], whatever the new CONNECT asks.
      const ends = cmd.cleanStart || (s.online && s.sessionExpirySeconds === 0);
      if (s.online) {
        // Takeover [MQTT-3.1.4-3]: the old connection is closed as if it had broken, so its will is due
        // unless the new connection resumes the session before the will delay ran out [MQTT-3.1.3-9].
        out.kick(s.connectionId, RC.SessionTakenOver);
        this.setOffline(s);
        const will = s.will;
        s.will = undefined;
        if (will && (ends || will.delaySeconds === 0)) this.publishWill(will, cmd.now, out);
      } else if (s.will && !cmd.cleanStart) {
        s.will = undefined; // a delayed will is cancelled by the client coming back in time
      }
      if (ends) {
        this.endSession(s, cmd.now, out);
        s = undefined;
      }
    }
    const sessionPresent = s !== undefined;
    if (!s) {
      s = new Session(cmd.clientId);
      this.sessions.set(cmd.clientId, s);
    }
    s.connectionId = cmd.connectionId;
    this.connected++;
    s.protocolVersion = cmd.protocolVersion;
    s.sessionExpirySeconds = cmd.sessionExpirySeconds;
    s.receiveMaximum = cmd.receiveMaximum;
    s.stalled = false;
    s.will = cmd.will;
    s.willAt = undefined;
    s.expiresAt = undefined;
    this.timed.delete(s);

    // Resume: re-send what was in flight, in the order it was first sent [MQTT-4.4.0-1].
    for (const e of s.inflight.values()) {
      if (e.stage === 'pubrel') out.release(s.connectionId, e.packetId);
      else this.send(s, e, e.packetId, true, out);
    }
    this.pump(s, cmd.now, out);
    // A cluster's front end writes QoS 0 to its own live subscribers itself (direct-qos0.ts): it
    // must know what a resumed session subscribes to.
    if (this.limits.cluster && s.subscriptions.size > 0) return { sessionPresent, subscriptions: [...s.subscriptions.values()] };
    return { sessionPresent };
  }

  private disconnect(cmd: DisconnectCommand, out: PartitionOutput): undefined {
    const s = this.sessions.get(cmd.clientId);
    if (!s || s.connectionId !== cmd.connectionId) return; // a late close of a connection that was taken over
    if (cmd.sessionExpirySeconds !== undefined) s.sessionExpirySeconds = cmd.sessionExpirySeconds;
    this.setOffline(s);
    if (cmd.normal) s.will = undefined; // DISCONNECT 0x00 deletes the will [MQTT-3.14.4-3]
    this.redispatchShared(s, out, s.sessionExpirySeconds === 0);
    this.boundQueue(s);
    if (s.sessionExpirySeconds === 0) {
      this.endSession(s, cmd.now, out);
      return;
    }
    if (s.will) {
      if (s.will.delaySeconds === 0) {
        const will = s.will;
        s.will = undefined;
        this.publishWill(will, cmd.now, out);
      } else {
        s.willAt = cmd.now + s.will.delaySeconds * 1000;
      }
    }
    s.expiresAt = s.sessionExpirySeconds >= NEVER_EXPIRES ? undefined : cmd.now + s.sessionExpirySeconds * 1000;
    if (s.willAt !== undefined || s.expiresAt !== undefined) this.timed.add(s);
  }

  /** Also used by a handover's export (handover.ts). */
  setOffline(s: Session): void {
    if (s.connectionId !== 0) this.connected--;
    s.connectionId = 0;
    s.stalled = false;
  }

  /**
   * The front end's verdict on a live connection. A draining session's queue may run past the
   * queue limit (its publishers are being pushed back); once it stalls the policy applies.
   */
  private flow(cmd: FlowCommand): undefined {
    const s = this.sessions.get(cmd.clientId);
    if (!s || s.connectionId !== cmd.connectionId || s.stalled === cmd.stalled) return;
    s.stalled = cmd.stalled;
    if (cmd.stalled) this.boundQueue(s);
  }

  /** Brings a queue that grew while its session drained back to the limit, by the queue policy. */
  private boundQueue(s: Session): void {
    const excess = s.queue.length - this.limits.queueLength;
    if (excess <= 0) return;
    // DropOldest evicts from the head; None keeps what it accepted first and drops the newest.
    for (let i = 0; i < excess; i++) {
      if (this.limits.queueStrategy === 'DropOldest') s.queue.shift();
      else s.queue.pop();
    }
    this.counters.messagesDropped += excess;
  }

  /** The session ends: its will (if still pending) goes out [MQTT-3.1.2-8], its subscriptions go away. */
  private endSession(s: Session, now: number, out: PartitionOutput): void {
    if (s.online) this.setOffline(s);
    const will = s.will;
    s.will = undefined;
    for (const filter of s.subscriptions.keys()) this.removeRoute(s, filter);
    if (s.subscriptions.size > 0) s.writableSubscriptions().clear();
    this.sessions.delete(s.clientId);
    this.timed.delete(s);
    if (will) this.publishWill(will, now, out);
  }

  /** Every connection died with the process at `now` (the last logged moment): wills and expiry run from then. */
  private restart(now: number, out: PartitionOutput): undefined {
    for (const s of [...this.sessions.values()]) {
      if (s.online) this.disconnect({ type: 'disconnect', now, clientId: s.clientId, connectionId: s.connectionId, normal: false }, out);
    }
    this.kv.unwatchEnded(); // registrations of its sessions' connections; those of sessions elsewhere stay
  }

  private tick(now: number, out: PartitionOutput): undefined {
    for (const s of [...this.timed]) {
      if (s.online) {
        this.timed.delete(s);
        continue;
      }
      if (s.willAt !== undefined && s.willAt <= now) {
        const will = s.will;
        s.will = undefined;
        s.willAt = undefined;
        if (will) this.publishWill(will, now, out);
      }
      if (s.expiresAt !== undefined && s.expiresAt <= now) this.endSession(s, now, out);
      else if (s.willAt === undefined && s.expiresAt === undefined) this.timed.delete(s);
      // Expired messages at the head of an offline queue are dropped lazily to give memory back.
      while (s.queue.length > 0 && isExpired(s.queue.peek()!.message, now)) {
        s.queue.shift();
        this.counters.messagesDropped++;
        this.counters.droppedExpired++;
      }
    }
    for (const [topic, m] of this.retained.entries()) {
      if (isExpired(m, now)) this.retained.delete(topic);
    }
    this.kv.expire(now, out);
  }

  // ---- subscriptions ----------------------------------------------------------------------------

  private subscribe(cmd: SubscribeCommand, out: PartitionOutput): number[] {
    const s = this.sessions.get(cmd.clientId);
    if (!s || s.connectionId !== cmd.connectionId) return cmd.subs.map(() => RC.UnspecifiedError);
    const codes: number[] = [];
    for (const sub of cmd.subs) {
      const existed = s.subscriptions.has(sub.filter);
      s.writableSubscriptions().set(sub.filter, sub);
      const shared = parseSharedFilter(sub.filter);
      if (shared) this.routes.addShared(s, shared.group, shared.filter, sub);
      else this.routes.addDirect(s, sub.filter, sub);
      codes.push(sub.qos);
      // No retained messages for shared subscriptions (MQTT 5 4.8.2); retain handling decides the rest.
      if (!shared && (sub.retainHandling === 0 || (sub.retainHandling === 1 && !existed))) {
        this.retained.matchFilter(sub.filter, (m) => {
          if (isExpired(m, cmd.now)) return;
          const pending: Pending = { message: m, qos: minQos(m.qos, sub.qos), retain: true };
          if (sub.subscriptionId) pending.subscriptionIds = [sub.subscriptionId];
          this.enqueue(s, pending, out);
        });
      }
    }
    return codes;
  }

  private unsubscribe(cmd: UnsubscribeCommand): number[] {
    const s = this.sessions.get(cmd.clientId);
    if (!s || s.connectionId !== cmd.connectionId) return cmd.filters.map(() => RC.UnspecifiedError);
    return cmd.filters.map((f) => {
      if (!s.writableSubscriptions().delete(f)) return RC.NoSubscriptionExisted;
      this.removeRoute(s, f);
      return RC.Success;
    });
  }

  /** Also used by a handover's export (handover.ts). */
  removeRoute(s: Session, filter: string): void {
    const shared = parseSharedFilter(filter);
    if (shared) this.routes.removeShared(s, shared.group, shared.filter);
    else this.routes.removeDirect(s, filter);
  }

  // ---- publish path -----------------------------------------------------------------------------

  private publish(cmd: PublishCommand, out: PartitionOutput): PublishResult {
    if (cmd.key === undefined) return this.publishOnce(cmd, out);
    // Before the QoS 2 packet-id check: a retry of an append that was applied must get its first
    // answer (not "duplicate"), or the front end would not send the rest of the fan-out.
    const seen = this.appliedKeys.get(cmd.key);
    if (seen) return seen;
    const result = this.publishOnce(cmd, out);
    this.appliedKeys.remember(cmd.key, result);
    return result;
  }

  private publishOnce(cmd: PublishCommand, out: PartitionOutput): PublishResult {
    const m = cmd.message;
    if (cmd.packetId !== undefined && m.qos === 2) {
      const s = this.sessions.get(cmd.clientId);
      if (s) {
        // A re-sent QoS 2 PUBLISH whose id is still held was already routed here: exactly once
        // [MQTT-4.3.3-9]. Its hold names the key the other partitions got it under, for a front
        // end that must finish a fan-out another (dead) front end began (cluster-client.ts).
        const hold = s.incomingQos2.get(cmd.packetId);
        if (hold !== undefined) return hold === '' ? { matched: 0, duplicate: true } : { matched: 0, duplicate: true, hold };
        s.writableIncomingQos2().set(cmd.packetId, cmd.key ?? '');
      }
    }
    this.quotaHit = false;
    this.backlog = 0;
    this.serveGroups = this.limits.cluster ? cmd.groups ?? NO_GROUPS : undefined;
    this.groupsOnly = cmd.groupsOnly === true && this.limits.cluster === true;
    this.directFrom = cmd.direct !== undefined && m.qos === 0 && this.limits.cluster === true ? cmd.direct : 0;
    this.directBelow = cmd.directBelow ?? Infinity;
    const matched = this.route(m, cmd.now, out);
    this.serveGroups = undefined;
    this.groupsOnly = false;
    this.directFrom = 0;
    // Strategy None: a session whose queue was full did not get it; the publisher must not be told it did.
    return this.quotaHit && m.qos > 0 ? { matched, reasonCode: RC.QuotaExceeded, backlog: this.backlog } : { matched, backlog: this.backlog };
  }

  private publishWill(will: Will, now: number, out: PartitionOutput): void {
    const m = will.expirySeconds !== undefined ? { ...will.message, expiresAt: now + will.expirySeconds * 1000 } : will.message;
    this.routeInternal(m, now, out);
  }

  /** A message that starts inside the partition: routed here on one node, handed to the host on a cluster. */
  private routeInternal(m: Message, now: number, out: PartitionOutput): void {
    if (this.limits.cluster) out.forward?.(m);
    else this.route(m, now, out);
  }

  /** Stores a retained message and hands the message to every matching session. Returns the number of sessions. */
  private route(m: Message, now: number, out: PartitionOutput): number {
    this.counters.messagesReceived++;
    this.counters.bytesReceived += m.payload.length;
    if (m.retain) {
      if (m.payload.length === 0) this.retained.delete(m.topic); // [MQTT-3.3.1-6]
      else this.retained.set(m.topic, m);
    }
    this.epoch++;
    this.origin = m.origin;
    const touched = this.touched;
    const groups = this.touchedGroups;
    // Emptied after every route; a length store is a runtime call, paid per message when unconditional.
    if (touched.length !== 0) touched.length = 0;
    if (groups.length !== 0) groups.length = 0;
    this.routes.trie.match(m.topic, this.visit);

    let matched = 0;
    if (this.groupsOnly && touched.length !== 0) touched.length = 0;
    const direct = this.directFrom;
    for (let i = 0; i < touched.length; i++) {
      const s = touched[i];
      if (direct !== 0 && s.connectionId !== 0 && instanceOf(s.connectionId) === direct && s.connectionId < this.directBelow) {
        matched++; // its front end wrote it to the connection already (PublishCommand.direct)
        continue;
      }
      const pending: Pending = { message: m, qos: minQos(m.qos, s.matchQos), retain: s.matchRetain && m.retain };
      if (s.matchSubIds) pending.subscriptionIds = s.matchSubIds;
      this.enqueue(s, pending, out);
      matched++;
    }
    const serve = this.serveGroups;
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i];
      if (serve !== undefined && !serve.includes(g.key)) continue;
      const member = m.qos === 0 ? g.pickVolatile() : g.pick();
      if (!member) continue;
      this.enqueue(member.session, this.sharedPending(m, member.options, g), out);
      matched++;
    }
    if (touched.length !== 0) touched.length = 0;
    if (groups.length !== 0) groups.length = 0;
    return matched;
  }

  private sharedPending(m: Message, o: SubscriptionRequest, g: ShareGroup): Pending {
    const p: Pending = { message: m, qos: minQos(m.qos, o.qos), retain: o.retainAsPublished && m.retain, share: g };
    if (o.subscriptionId) p.subscriptionIds = [o.subscriptionId];
    return p;
  }

  /** Aggregates overlapping subscriptions of one session into one delivery (MQTT 5 3.3.4). */
  private collect(route: Route): void {
    if (route.kind === 'share') {
      if (route.matchEpoch !== this.epoch) {
        route.matchEpoch = this.epoch;
        this.touchedGroups.push(route);
      }
      return;
    }
    const s = route.session;
    const o = route.options;
    if (o.noLocal && s.clientId === this.origin) return; // [MQTT-3.8.3-3]
    if (s.matchEpoch !== this.epoch) {
      s.matchEpoch = this.epoch;
      s.matchQos = o.qos;
      s.matchRetain = o.retainAsPublished;
      s.matchSubIds = o.subscriptionId ? [o.subscriptionId] : undefined;
      this.touched.push(s);
      return;
    }
    if (o.qos > s.matchQos) s.matchQos = o.qos;
    if (o.retainAsPublished) s.matchRetain = true;
    if (o.subscriptionId) (s.matchSubIds ??= []).push(o.subscriptionId);
  }

  /**
   * Hands a message to a session: straight to the connection when the inflight window has room,
   * otherwise into the bounded queue. QoS 0 is never queued for an offline session.
   */
  private enqueue(s: Session, p: Pending, out: PartitionOutput): void {
    if (p.qos === 0) {
      if (s.online) this.send(s, p, 0, false, out);
      else {
        this.counters.messagesDropped++;
        this.counters.droppedQos0Offline++;
      }
      return;
    }
    if (s.online && s.queue.length === 0 && s.inflight.size < s.receiveMaximum) {
      this.sendInflight(s, p, out);
      return;
    }
    // Only a session that cannot drain (offline or stalled) is held to the limit; a draining one's
    // publishers are slowed down instead, so nothing acknowledged to them is lost (PublishResult.backlog).
    if (s.queue.length >= this.limits.queueLength && (s.stalled || !s.online)) {
      this.counters.messagesDropped++;
      if (this.limits.queueStrategy !== 'DropOldest') {
        this.counters.droppedQueueFull++;
        this.quotaHit = true; // 'None': the new message is not queued
        return;
      }
      this.counters.droppedOldest++;
      s.queue.shift();
    }
    s.queue.push(p);
    if (s.online && !s.stalled && s.queue.length > this.backlog) this.backlog = s.queue.length;
  }

  /** Moves queued messages into the inflight window as far as the client's Receive Maximum allows. */
  private pump(s: Session, now: number, out: PartitionOutput): void {
    while (s.online && s.queue.length > 0 && s.inflight.size < s.receiveMaximum) {
      const p = s.queue.shift()!;
      if (isExpired(p.message, now)) {
        this.counters.messagesDropped++; // [MQTT-3.3.2-5]
        this.counters.droppedExpired++;
        continue;
      }
      this.sendInflight(s, p, out);
    }
  }

  private sendInflight(s: Session, p: Pending, out: PartitionOutput): void {
    const packetId = s.allocatePacketId();
    s.writableInflight().set(packetId, {
      message: p.message,
      qos: p.qos,
      retain: p.retain,
      subscriptionIds: p.subscriptionIds,
      share: p.share,
      packetId,
      stage: 'publish',
    });
    this.send(s, p, packetId, false, out);
  }

  private send(s: Session, p: Pending, packetId: number, dup: boolean, out: PartitionOutput): void {
    const d: Delivery = { message: p.message, qos: p.qos, packetId, dup, retain: p.retain, backlog: s.queue.length };
    if (p.subscriptionIds) d.subscriptionIds = p.subscriptionIds;
    this.counters.messagesSent++;
    this.counters.bytesSent += p.message.payload.length;
    out.deliver(s.connectionId, d);
  }

  /**
   * A shared-subscription member left: what it had not acknowledged goes to another online member.
   * On a cluster, when this partition has none and the session is ending (its messages would be
   * lost with it), the message is handed to the host for a member in another partition.
   */
  private redispatchShared(s: Session, out: PartitionOutput, ending: boolean): void {
    if (s.inflight.size === 0 && s.queue.length === 0) return;
    const elsewhere = ending && this.limits.cluster === true && out.forward !== undefined;
    for (const [id, e] of s.inflight) {
      if (!e.share || e.stage !== 'publish') continue;
      const target = e.share.pick(s);
      if (!target?.session.online) {
        if (!elsewhere) continue;
        s.writableInflight().delete(id);
        out.forward!(e.message, e.share.key);
        continue;
      }
      s.writableInflight().delete(id);
      this.enqueue(target.session, this.sharedPending(e.message, target.options, e.share), out);
    }
    s.queue.filter((p) => {
      if (!p.share) return true;
      const target = p.share.pick(s);
      if (!target?.session.online) {
        if (!elsewhere) return true;
        out.forward!(p.message, p.share.key);
        return false;
      }
      this.enqueue(target.session, this.sharedPending(p.message, target.options, p.share), out);
      return false;
    });
  }

  // ---- acknowledgements -------------------------------------------------------------------------

  private ack(cmd: AckCommand, out: PartitionOutput): undefined {
    const s = this.sessions.get(cmd.clientId);
    if (s && s.connectionId === cmd.connectionId) this.ackOne(s, cmd.kind, cmd.packetId, cmd.reasonCode, cmd.now, out);
  }

  private acks(cmd: AcksCommand, out: PartitionOutput): undefined {
    const s = this.sessions.get(cmd.clientId);
    if (!s || s.connectionId !== cmd.connectionId) return;
    for (let i = 0; i < cmd.packetIds.length; i++) this.ackOne(s, cmd.kind, cmd.packetIds[i], cmd.reasonCodes[i], cmd.now, out);
  }

  private ackOne(s: Session, kind: AckKind, packetId: number, reasonCode: number, now: number, out: PartitionOutput): void {
    const e = s.inflight.get(packetId);
    if (kind === 'pubrec' && (e?.qos !== 2 || e.stage !== 'publish')) {
      // A PUBREC that no QoS 2 flow waits for (unsolicited, repeated, or for a QoS 1 message) is
      // answered with PUBREL 0x92 Packet Identifier not found: the spec's code for a session-state
      // mismatch, as PUBCOMP 0x92 answers an unknown PUBREL. A PUBREC with an error code asks for no PUBREL.
      if (reasonCode < 0x80) out.release(s.connectionId, packetId, RC.PacketIdentifierNotFound);
      return;
    }
    if (!e) return; // a PUBACK or PUBCOMP for an unknown id is ignored
    switch (kind) {
      case 'puback':
        if (e.qos !== 1) return;
        s.writableInflight().delete(packetId);
        break;
      case 'pubrec':
        if (reasonCode >= 0x80) {
          s.writableInflight().delete(packetId); // a PUBREC error code ends the QoS 2 flow: no PUBREL follows
          break;
        }
        e.stage = 'pubrel';
        out.release(s.connectionId, packetId);
        return;
      case 'pubcomp':
        if (e.stage !== 'pubrel') return;
        s.writableInflight().delete(packetId);
        break;
    }
    this.pump(s, now, out);
  }

  private release(cmd: ReleaseCommand): number {
    const s = this.sessions.get(cmd.clientId);
    if (!s || s.connectionId !== cmd.connectionId) return RC.PacketIdentifierNotFound;
    return s.writableIncomingQos2().delete(cmd.packetId) ? RC.Success : RC.PacketIdentifierNotFound;
  }
}

const NO_GROUPS: readonly string[] = [];

function minQos(a: QoS, b: QoS): QoS {
  return a < b ? a : b;
}

function isExpired(m: Message, now: number): boolean {
  return m.expiresAt !== undefined && m.expiresAt <= now;
}
