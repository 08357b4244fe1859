/**
 * A partition's whole state as plain data, and back. Storage writes snapshots so the command log
 * can be truncated; replication will use the same form for state transfer to a new replica.
 * Messages shared by many queues stay shared: the snapshot is serialized in one structured-clone
 * pass (v8.serialize), which preserves object identity.
 */
import type { Message, SubscriptionRequest, Will } from '../core/types.js';
import { parseSharedFilter } from '../topics/validate.js';
import { Partition, type PartitionCounters, type PartitionLimits } from './partition.js';
import type { ShareGroup } from './routes.js';
import { Session, type Inflight, type Pending } from './session.js';

interface PendingState extends Omit<Pending, 'share'> {
  /** `{group}/{filter}` of the shared subscription the message came through. */
  share?: string;
}

interface InflightState extends Omit<Inflight, 'share'> {
  share?: string;
}

export interface SessionState {
  clientId: string;
  connectionId: number;
  protocolVersion: 3 | 4 | 5;
  sessionExpirySeconds: number;
  expiresAt?: number;
  receiveMaximum: number;
  /** Absent in snapshots written before the front end's stall verdict reached the partition. */
  stalled?: boolean;
  subscriptions: SubscriptionRequest[];
  queue: PendingState[];
  inflight: InflightState[];
  incomingQos2: number[];
  /** The holds of `incomingQos2` ids taken by keyed cluster appends (absent in older snapshots: no hold). */
  incomingQos2Holds?: Array<[number, string]>;
  will?: Will;
  willAt?: number;
  nextId: number;
}

export interface PartitionSnapshot {
  format: 'edgemq.partition/1';
  sessions: SessionState[];
  /** Shared groups with members in join order and the rotation cursor: picks after restore match picks before. */
  groups: Array<{ name: string; filter: string; members: string[]; cursor: number; volatileCursor: number }>;
  /** Sessions with a running timer, in the order ticks visit them (it decides the order of simultaneous wills). */
  timed: string[];
  retained: Message[];
  counters: PartitionCounters;
  /** State of sub-machines added by other rooms (e.g. the key-value store), keyed by name. */
  extensions: Record<string, unknown>;
}

function pendingState(p: Pending, partition: Partition): PendingState {
  const { share, ...rest } = p;
  // A group that was deleted since (all members left) must not be confused with a newer one of the same name.
  return share && partition.routes.groups.get(share.key) === share ? { ...rest, share: share.key } : rest;
}

/** One session as plain data (snapshots, and the handover of a slot range to another partition). */
export function sessionState(s: Session, partition: Partition): SessionState {
  return {
    clientId: s.clientId,
    connectionId: s.connectionId,
    protocolVersion: s.protocolVersion,
    sessionExpirySeconds: s.sessionExpirySeconds,
    expiresAt: s.expiresAt,
    receiveMaximum: s.receiveMaximum,
    ...(s.stalled ? { stalled: true } : {}),
    subscriptions: [...s.subscriptions.values()],
    queue: [...s.queue].map((p) => pendingState(p, partition)),
    inflight: [...s.inflight.values()].map((e) => pendingState(e, partition) as InflightState),
    incomingQos2: [...s.incomingQos2.keys()],
    ...holdsOf(s),
    will: s.will,
    willAt: s.willAt,
    nextId: s.nextId,
  };
}

function holdsOf(s: Session): { incomingQos2Holds?: Array<[number, string]> } {
  const holds = [...s.incomingQos2].filter(([, hold]) => hold !== '');
  return holds.length > 0 ? { incomingQos2Holds: holds } : {};
}

export function snapshotPartition(partition: Partition): PartitionSnapshot {
  const sessions: SessionState[] = [];
  for (const s of partition.sessions.values()) sessions.push(sessionState(s, partition));
  const groups = [...partition.routes.groups.values()].map((g) => ({
    name: g.name,
    filter: g.filter,
    members: g.members.map((m) => m.session.clientId),
    cursor: g.cursor,
    volatileCursor: g.volatileCursor,
  }));
  return {
    format: 'edgemq.partition/1',
    sessions,
    groups,
    timed: [...partition.timed].map((s) => s.clientId),
    retained: [...partition.retained.values()],
    counters: { ...partition.counters },
    extensions: partition.snapshotExtensions(),
  };
}

export function restorePartition(snap: PartitionSnapshot, limits: PartitionLimits, extend?: (p: Partition) => void): Partition {
  if (snap?.format !== 'edgemq.partition/1') throw new Error(`unknown snapshot format ${String(snap?.format)}`);
  const p = new Partition(limits);
  extend?.(p);
  restoreSessions(p, snap.sessions, snap.groups, snap.timed ?? []);
  for (const m of snap.retained) p.retained.set(m.topic, m);
  Object.assign(p.counters, snap.counters);
  p.restoreExtensions(snap.extensions ?? {});
  return p;
}

/**
 * Adds sessions to a partition with their routes, queues and inflight windows. `groups` gives share
 * groups' member order and cursors (a snapshot); without it (a handover) each session joins the
 * groups of its shared subscriptions in turn.
 */
export function restoreSessions(p: Partition, states: SessionState[], groups: PartitionSnapshot['groups'] | undefined, timed: string[]): Session[] {
  const byId = new Map<string, Session>();
  for (const st of states) {
    const s = new Session(st.clientId);
    s.connectionId = st.connectionId;
    s.protocolVersion = st.protocolVersion;
    s.sessionExpirySeconds = st.sessionExpirySeconds;
    s.expiresAt = st.expiresAt;
    s.receiveMaximum = st.receiveMaximum;
    s.stalled = st.stalled === true;
    s.will = st.will;
    s.willAt = st.willAt;
    s.nextId = st.nextId;
    for (const id of st.incomingQos2) s.writableIncomingQos2().set(id, '');
    for (const [id, hold] of st.incomingQos2Holds ?? []) s.writableIncomingQos2().set(id, hold);
    for (const sub of st.subscriptions) {
      s.writableSubscriptions().set(sub.filter, sub);
      const shared = parseSharedFilter(sub.filter);
      if (!shared) p.routes.addDirect(s, sub.filter, sub);
      else if (!groups) p.routes.addShared(s, shared.group, shared.filter, sub);
    }
    p.sessions.set(s.clientId, s);
    byId.set(s.clientId, s);
    if (s.online) p.connected++;
  }
  for (const clientId of timed) {
    const s = byId.get(clientId);
    if (s) p.timed.add(s);
  }
  for (const g of groups ?? []) {
    for (const clientId of g.members) {
      const s = byId.get(clientId);
      const sub = s?.subscriptions.get(`$share/${g.name}/${g.filter}`);
      if (s && sub) p.routes.addShared(s, g.name, g.filter, sub);
    }
    const restored = p.routes.groups.get(`${g.name}/${g.filter}`);
    restored?.restoreCursor(g.cursor);
    if (restored) restored.volatileCursor = g.volatileCursor;
  }
  const group = (key: string | undefined): ShareGroup | undefined => (key ? p.routes.groups.get(key) : undefined);
  for (const st of states) {
    const s = byId.get(st.clientId)!;
    for (const q of st.queue) s.queue.push({ ...q, share: group(q.share) });
    for (const e of st.inflight) s.writableInflight().set(e.packetId, { ...e, share: group(e.share) });
  }
  return [...byId.values()];
}
