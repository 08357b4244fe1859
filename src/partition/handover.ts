/**
 * The partition's half of live re-partitioning (`edgemq cluster scale --partitions`): a slot range
 * [from, to) leaves one partition with an `export` command and joins another with an `import`
 * command. Both go through the partitions' command logs and chains like any command, so the cut is
 * deterministic and replicated: every replica of the source removes exactly the same sessions and
 * keys, and a new head after a failure answers a repeated export with the same state.
 *
 * What moves, by slot (`slotOf`): sessions by client id (subscriptions, queue, inflight window,
 * inbound QoS 2 packet ids, will, expiry) and state-store keys by partition key. The source's
 * idempotency keys of cluster appends go along (the target takes the newest half of its capacity):
 * an append routed to a moved session and sent again must be recognised there. Retained messages
 * are kept by every partition already; the export carries them so a new, empty partition gets them
 * (the target keeps its own copy of a topic it has). Live connections of moved sessions are ended
 * by the export with DISCONNECT 0x9C Use another server (3.1.1: closed) — the only disconnect a
 * client sees; a session with expiry 0 ends there, as on any server disconnect — and their will is kept, not published: it is due at the target after its will delay
 * plus `MOVED_WILL_GRACE_MS`, unless the client comes back first.
 *
 * The coordination (who holds what while the range moves, barriers, the map) is in
 * src/cluster/handover.ts.
 */
import type { Message } from '../core/types.js';
import { RC } from '../mqtt/reason-codes.js';
import { slotOf } from '../cluster/map.js';
import { partitionKeyOf } from '../statestore/protocol.js';
import type { ExportCommand, ImportCommand } from './commands.js';
import type { KvSnapshot } from './kv-store.js';
import type { PartitionOutput } from './output.js';
import type { Partition } from './partition.js';
import { NEVER_EXPIRES } from './session.js';
import { restoreSessions, sessionState, type SessionState } from './snapshot.js';

/** A moved session whose client does not come back within its will delay plus this gets its will published by the target. */
export const MOVED_WILL_GRACE_MS = 5000;
/** Exports kept to answer a repeated export (a coordinator that restarted mid-handover). */
const KEPT_EXPORTS = 2;

export interface HandoverState {
  move: number;
  from: number;
  to: number;
  sessions: SessionState[];
  kv: KvSnapshot;
  retained: Message[];
  /**
   * The source's idempotency keys (AppliedKeys snapshot form): an append it applied to a moved
   * session, sent again after the move, reaches the target, which must not route it a second time.
   * Absent in exports made before this field existed.
   */
  appliedKeys?: unknown;
}

/** What a partition remembers of its handovers (part of its snapshot as the `handover` extension). */
export class HandoverLedger {
  /** Recent exports by move id, kept to answer a repeat with the same state. */
  readonly exports = new Map<number, HandoverState>();
  readonly imported = new Set<number>();
  /** Slot ranges this partition gave away and has not received back: commands for them are refused. */
  exported: Array<[number, number]> = [];

  /** True when a client id or partition key's slot was handed to another partition. */
  gone(key: string): boolean {
    if (this.exported.length === 0) return false;
    const slot = slotOf(key);
    for (const [from, to] of this.exported) if (slot >= from && slot < to) return true;
    return false;
  }

  snapshot(): unknown {
    return { exports: [...this.exports.values()], imported: [...this.imported], exported: this.exported };
  }

  restore(state: unknown): void {
    const s = state as { exports: HandoverState[]; imported: number[]; exported: Array<[number, number]> };
    this.exports.clear();
    for (const e of s.exports) this.exports.set(e.move, e);
    this.imported.clear();
    for (const id of s.imported) this.imported.add(id);
    this.exported = s.exported.map(([a, b]) => [a, b]);
  }
}

const inRange = (key: string, from: number, to: number) => {
  const slot = slotOf(key);
  return slot >= from && slot < to;
};

export function exportSlots(p: Partition, cmd: ExportCommand, out: PartitionOutput): HandoverState {
  const ledger = p.handover;
  const done = ledger.exports.get(cmd.move);
  if (done) return done;
  const { from, to, now } = cmd;
  const sessions: SessionState[] = [];
  for (const s of [...p.sessions.values()]) {
    if (!inRange(s.clientId, from, to)) continue;
    if (s.online && s.sessionExpirySeconds === 0) {
      // A session that lasts as long as its connection ends with it, here, as on any server disconnect.
      out.kick(s.connectionId, RC.UseAnotherServer);
      p.apply({ type: 'disconnect', now, clientId: s.clientId, connectionId: s.connectionId, normal: false }, out);
      continue;
    }
    if (s.online) {
      out.kick(s.connectionId, RC.UseAnotherServer);
      p.setOffline(s);
      s.willAt = undefined;
      s.expiresAt = s.sessionExpirySeconds >= NEVER_EXPIRES ? undefined : now + s.sessionExpirySeconds * 1000;
    }
    sessions.push(sessionState(s, p));
    for (const filter of s.subscriptions.keys()) p.removeRoute(s, filter);
    p.sessions.delete(s.clientId);
    p.timed.delete(s);
  }
  const kv = p.kv.take((key) => inRange(partitionKeyOf(key).toString('utf8'), from, to));
  const state: HandoverState = { move: cmd.move, from, to, sessions, kv, retained: [...p.retained.values()], appliedKeys: p.appliedKeys.snapshot() };
  ledger.exports.set(cmd.move, state);
  while (ledger.exports.size > KEPT_EXPORTS) ledger.exports.delete(ledger.exports.keys().next().value!);
  ledger.exported.push([from, to]);
  return state;
}

export function importSlots(p: Partition, cmd: ImportCommand): undefined {
  const ledger = p.handover;
  if (ledger.imported.has(cmd.move)) return;
  ledger.imported.add(cmd.move);
  const { state, now } = cmd;
  // A session that somehow exists here already (it cannot while senders hold its commands) keeps its own state.
  const fresh = state.sessions.filter((s) => !p.sessions.has(s.clientId));
  for (const s of restoreSessions(p, fresh, undefined, [])) {
    if (s.will) {
      s.willAt = now + s.will.delaySeconds * 1000 + MOVED_WILL_GRACE_MS;
      p.timed.add(s);
    }
    if (s.expiresAt !== undefined) p.timed.add(s);
  }
  p.kv.give(state.kv);
  if (state.appliedKeys !== undefined) p.appliedKeys.adopt(state.appliedKeys);
  for (const m of state.retained) if (!p.retained.get(m.topic)) p.retained.set(m.topic, m);
  // The range is ours again if we gave it away earlier (3 → 2 after 2 → 3).
  ledger.exported = ledger.exported.flatMap(([a, b]): Array<[number, number]> => {
    if (b <= state.from || a >= state.to) return [[a, b]];
    const keep: Array<[number, number]> = [];
    if (a < state.from) keep.push([a, state.from]);
    if (b > state.to) keep.push([state.to, b]);
    return keep;
  });
}
