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
 *   fewest replicas.
 */
import type { ClusterNode, PartitionPlacement } from '../cluster/map.js';

const byId = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

export function initialChains(partitions: number, backends: string[], redundancy: number): PartitionPlacement[] {
  const ids = [...backends].sort(byId);
  const r = Math.min(redundancy, ids.length);
  return Array.from({ length: partitions }, (_, p) => ({ id: p, chain: Array.from({ length: r }, (_, k) => ids[(p + k) % ids.length]!) }));
}

/** The chains for a new membership; `prevNodes` tells a restarted process (another pid) from the one the chain names. */
export function replanChains(prev: PartitionPlacement[], prevNodes: Record<string, ClusterNode>, nodes: Record<string, ClusterNode>, redundancy: number): PartitionPlacement[] {
  const live = (id: string) => {
    const n = nodes[id];
    if (!n || n.role !== 'backend') return false;
    const was = prevNodes[id];
    return !was || was.pid === undefined || n.pid === undefined || was.pid === n.pid;
  };
  const kept = prev.map((p) => {
    const chain = p.chain.filter(live);
    return { id: p.id, chain: chain.length > 0 ? chain : p.chain.slice(0, 1) };
  });
  const load = new Map<string, number>();
  for (const p of kept) for (const id of p.chain) load.set(id, (load.get(id) ?? 0) + 1);
  const candidates = Object.values(nodes)
    .filter((n) => n.role === 'backend')
    .map((n) => n.id)
    .sort(byId);
  for (const p of kept) {
    // A chain whose only replica is gone waits for it: a newcomer could take no state from it.
    if (!nodes[p.chain[0]!]) continue;
    while (p.chain.length < redundancy) {
      const pick = candidates.filter((c) => !p.chain.includes(c)).sort((a, b) => (load.get(a) ?? 0) - (load.get(b) ?? 0) || byId(a, b))[0];
      if (pick === undefined) break;
      p.chain.push(pick);
      load.set(pick, (load.get(pick) ?? 0) + 1);
    }
  }
  return kept;
}
