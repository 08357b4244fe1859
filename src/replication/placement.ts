/**
 * How the coordinator forms and re-forms chains from the membership (the map is the only place a
 * chain lives; replicas follow it, see chain-replica.ts).
 *
 * - A new cluster: partition p gets the R back ends p, p+1, ... (by id, wrapping), head first, so
 *   heads spread over the back ends and no two replicas of a chain share a process.
 * - A replica whose process is gone (its lease expired) or was replaced (same id, another pid: a
 *   restart that beat the lease) leaves its chain; the others keep their order, so a lost head's
 *   successor becomes head and a lost tail's predecessor becomes tail. The last replica of a chain
 *   is never removed: when every replica is gone, the one that was head last keeps the chain and
 *   serves again from its own store when it comes back.
 * - A chain shorter than R takes live back ends that are not in it yet, at the tail (the new
 *   replica takes a state transfer from its predecessor), preferring the back end that holds the
 *   fewest replicas. The map marks it `joining` until its process reports the transfer installed.
 * - A replica marked joining holds no complete state: it is never head (replicas holding the state
 *   come first), and a chain never drops its last replica holding the state: when every one of
 *   those is gone, the first of them keeps its place at the head and the partition waits for it
 *   (unavailable) instead of being served, or transferred, from an incomplete state. Before, the
 *   map could name a replica in transfer alone as the chain, and put the old head back behind it:
 *   a partition unavailable for good.
 */
import type { ClusterNode, PartitionPlacement } from '../cluster/map.js';

const byId = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

export function initialChains(partitions: number, backends: string[], redundancy: number): PartitionPlacement[] {
  const ids = [...backends].sort(byId);
  const r = Math.min(redundancy, ids.length);
  return Array.from({ length: partitions }, (_, p) => ({ id: p, chain: Array.from({ length: r }, (_, k) => ids[(p + k) % ids.length]!) }));
}

/**
 * The chains for a new membership; `prevNodes` tells a restarted process (another pid) from the one
 * the chain names, and `epoch` is the new map's (newcomers are marked joining under it).
 */
export function replanChains(prev: PartitionPlacement[], prevNodes: Record<string, ClusterNode>, nodes: Record<string, ClusterNode>, redundancy: number, epoch = 0): PartitionPlacement[] {
  const live = (id: string) => {
    const n = nodes[id];
    if (!n || n.role !== 'backend') return false;
    const was = prevNodes[id];
    return !was || was.pid === undefined || n.pid === undefined || was.pid === n.pid;
  };
  const kept = prev.map((p) => {
    const joining = stillJoining(p, nodes, live);
    const complete = (id: string) => joining[id] === undefined;
    const alive = p.chain.filter(live);
    let chain: string[];
    const holder = p.chain.find(complete);
    if (alive.some(complete)) {
      // Replicas with the state ahead of those in transfer: one in transfer is never head.
      chain = [...alive.filter(complete), ...alive.filter((id) => !complete(id))];
    } else if (holder !== undefined) {
      // The last replicas holding the state are gone (lease expired, or restarted): the chain
      // waits for the first of them, which keeps its place (a restart recovers its own log there)
      // rather than leaving a replica in transfer alone with an incomplete state.
      chain = [holder, ...alive.filter((id) => id !== holder)];
    } else {
      chain = alive.length > 0 ? alive : p.chain.slice(0, 1);
    }
    return placement(p.id, chain, joining);
  });
  const load = new Map<string, number>();
  for (const p of kept) for (const id of p.chain) load.set(id, (load.get(id) ?? 0) + 1);
  const candidates = Object.values(nodes)
    .filter((n) => n.role === 'backend')
    .map((n) => n.id)
    .sort(byId);
  for (const p of kept) {
    // A chain whose head is gone waits for it: a newcomer could take no state from it.
    if (!nodes[p.chain[0]!]) continue;
    while (p.chain.length < redundancy) {
      const pick = candidates.filter((c) => !p.chain.includes(c)).sort((a, b) => (load.get(a) ?? 0) - (load.get(b) ?? 0) || byId(a, b))[0];
      if (pick === undefined) break;
      p.chain.push(pick);
      p.joining = { ...p.joining, [pick]: epoch };
      load.set(pick, (load.get(pick) ?? 0) + 1);
    }
  }
  return kept;
}

/**
 * The partition's `joining` entries that still hold: a replica leaves it when its process reports
 * the transfer installed under the epoch that placed it or later (an older report is from an
 * earlier stay in the chain), and an entry goes with its replica when the replica's process is gone
 * (a restart comes back as a newcomer, marked again).
 */
function stillJoining(p: PartitionPlacement, nodes: Record<string, ClusterNode>, live: (id: string) => boolean): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [id, since] of Object.entries(p.joining ?? {})) {
    if (!p.chain.includes(id)) continue;
    const reported = live(id) ? nodes[id]?.installed?.[String(p.id)] : undefined;
    if (reported !== undefined && reported >= since) continue;
    out[id] = since;
  }
  return out;
}

function placement(id: number, chain: string[], joining: Record<string, number>): PartitionPlacement {
  const kept: Record<string, number> = {};
  for (const [r, since] of Object.entries(joining)) if (chain.includes(r)) kept[r] = since;
  return Object.keys(kept).length > 0 ? { id, chain, joining: kept } : { id, chain };
}
