/**
 * Live re-partitioning (`edgemq cluster scale --partitions P`): the coordinator's plan and the
 * handover of one slot range. The protocol, end to end:
 *
 *  0. Scaling up first adds the new partitions to the map with no slots (their chains on the
 *     existing back ends, fewest replicas first; ids are never reused, so a dropped partition's old
 *     store cannot come back as a new one). Scaling down moves every slot off the partitions with
 *     the highest ids first, then drops them from the map.
 *  1. Start (map epoch E, `moving = {id: E, from, to, source A, target B}`): every sender (front
 *     ends, and back ends routing wills) holds new publishes and new commands for A, waits until
 *     its own publishes in flight are answered, and sends A a `barrier` on its command link
 *     (client/handover-hold.ts).
 *  2. Export: the coordinator asks A's head to export the range. A waits for the barrier of every
 *     front end and back end in its map — nothing sent under the old layout can reach A after the
 *     cut — then applies an `export` command through its chain (partition/handover.ts): the
 *     sessions and keys of the range leave A, live connections of moved sessions get DISCONNECT
 *     0x9C (3.1.1: closed). The reply, once the chain committed it, is the state.
 *  3. Import: B's head applies an `import` command with that state through its chain; the reply
 *     names B's feed position, by then carrying the moved subscriptions.
 *  4. Done (epoch E + k): the range belongs to B, `moving` is cleared, `handedOver` names B's feed
 *     position. Senders release what they held once their index reached it: held session commands
 *     go to B, held publishes are routed by the index of then. Kicked clients reconnect (their
 *     CONNECT was held too) and find their session, queue and inflight window on B.
 *
 * Every step is idempotent (the export and import are remembered per move id in the partitions'
 * state), so a coordinator that dies mid-way is replaced by one that resumes from the map.
 */
import type { Logger } from 'pino';
import type { HandoverState } from '../partition/handover.js';
import { evenSlots, SLOT_COUNT, partitionOfSlot, type ClusterMap, type SlotMove, type SlotRange } from './map.js';

/** How often the coordinator retries a refused export or import (a head changing, a partition not hosted yet). */
export const HANDOVER_RETRY_MS = 200;

/** Asks partitions' heads to export and import slot ranges (a ClusterClient in the coordinator process). */
export interface HandoverLink {
  /** Resolves once the partition's head serves (a new partition is hosted): a move to it waits for this before senders hold anything. */
  ready(partition: number): Promise<void>;
  exportRange(move: SlotMove): Promise<HandoverState>;
  /** Resolves with the target's feed position after the import. */
  importRange(move: SlotMove, state: HandoverState): Promise<number>;
}

export type ScaleStep = { kind: 'map'; map: ClusterMap } | { kind: 'move'; move: Omit<SlotMove, 'id'> };

const byNumber = (a: number, b: number) => a - b;
const byId = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

/** The next step from `map` towards `target` partitions with even slot ranges, or null when there. */
export function scaleStep(map: ClusterMap, target: number, redundancy: number): ScaleStep | null {
  const ids = map.partitions.map((p) => p.id).sort(byNumber);
  if (ids.length < target) {
    const id = map.nextPartitionId ?? ids[ids.length - 1]! + 1;
    const chain = leastLoaded(map, redundancy);
    if (chain.length === 0) return null;
    // Replicas after the head take a state transfer from it (an empty state): marked joining until they report it (placement.ts).
    const joining = Object.fromEntries(chain.slice(1).map((r) => [r, map.epoch + 1]));
    const placed = chain.length > 1 ? { id, chain, joining } : { id, chain };
    return { kind: 'map', map: { ...map, epoch: map.epoch + 1, partitions: [...map.partitions, placed], nextPartitionId: id + 1 } };
  }
  const keep = ids.slice(0, target);
  const want = evenSlots(keep.length).map((r) => ({ ...r, partition: keep[r.partition]! }));
  const move = firstDifference(map, want);
  if (move) return { kind: 'move', move };
  if (ids.length > target) {
    return { kind: 'map', map: { ...map, epoch: map.epoch + 1, partitions: map.partitions.filter((p) => keep.includes(p.id)) } };
  }
  return null;
}

/** The first contiguous slot range whose owner in `map` is not its owner in `want` (one source, one target). */
function firstDifference(map: ClusterMap, want: SlotRange[]): Omit<SlotMove, 'id'> | null {
  const wanted = (slot: number) => want.find((r) => slot >= r.from && slot < r.to)!.partition;
  for (let slot = 0; slot < SLOT_COUNT; slot++) {
    const source = partitionOfSlot(map, slot);
    const target = wanted(slot);
    if (source === target) continue;
    let to = slot + 1;
    while (to < SLOT_COUNT && partitionOfSlot(map, to) === source && wanted(to) === target) to++;
    return { from: slot, to, source, target };
  }
  return null;
}

/** R live back ends holding the fewest replicas, for a new partition's chain. */
function leastLoaded(map: ClusterMap, redundancy: number): string[] {
  const load = new Map<string, number>();
  for (const p of map.partitions) for (const id of p.chain) load.set(id, (load.get(id) ?? 0) + 1);
  return Object.values(map.nodes)
    .filter((n) => n.role === 'backend')
    .map((n) => n.id)
    .sort((a, b) => (load.get(a) ?? 0) - (load.get(b) ?? 0) || byId(a, b))
    .slice(0, redundancy);
}

/** The slots after a move: the range belongs to the target; neighbouring ranges of one partition merge. */
export function reassign(slots: SlotRange[], move: SlotMove): SlotRange[] {
  const out: SlotRange[] = [];
  const push = (r: SlotRange) => {
    if (r.from >= r.to) return;
    const last = out[out.length - 1];
    if (last && last.partition === r.partition && last.to === r.from) last.to = r.to;
    else out.push({ ...r });
  };
  for (const r of [...slots].sort((a, b) => a.from - b.from)) {
    if (r.to <= move.from || r.from >= move.to) {
      push(r);
      continue;
    }
    push({ from: r.from, to: move.from, partition: r.partition });
    push({ from: Math.max(r.from, move.from), to: Math.min(r.to, move.to), partition: move.target });
    push({ from: move.to, to: r.to, partition: r.partition });
  }
  return out;
}

/** Waits (retrying) until the partition's head answers; false when `active()` turned false first. */
export async function targetReady(link: HandoverLink, partition: number, active: () => boolean, log: Logger): Promise<boolean> {
  return (await retry(() => link.ready(partition).then(() => true), active, log, `the readiness of partition ${partition}`)) === true;
}

/** Export then import, each retried until it succeeds or `active()` turns false; returns the target's feed position. */
export async function handOver(link: HandoverLink, move: SlotMove, active: () => boolean, log: Logger): Promise<number | undefined> {
  const started = Date.now();
  const state = await retry(() => link.exportRange(move), active, log, `export of slots ${move.from}-${move.to} from partition ${move.source}`);
  if (state === undefined) return undefined;
  const exported = Date.now();
  const seq = await retry(() => link.importRange(move, state), active, log, `import of slots ${move.from}-${move.to} into partition ${move.target}`);
  if (seq !== undefined) log.info({ move: move.id, from: move.from, to: move.to, source: move.source, target: move.target, sessions: state.sessions.length, keys: state.kv.entries.length, exportMs: exported - started, importMs: Date.now() - exported }, 'slot range handed over');
  return seq;
}

async function retry<T>(call: () => Promise<T>, active: () => boolean, log: Logger, what: string): Promise<T | undefined> {
  let warned = false;
  while (active()) {
    try {
      return await call();
    } catch (err) {
      if (!warned) log.warn({ err: (err as Error).message }, `${what} refused; retrying`);
      warned = true;
      await new Promise((r) => setTimeout(r, HANDOVER_RETRY_MS));
    }
  }
  return undefined;
}
