/**
 * The cluster map: which back-end nodes hold each partition, which slots each partition owns, and
 * which front ends serve clients. It is one value, changed only by compare-and-swap in the
 * configuration store (etcd off Kubernetes), ordered by `epoch`. Every process watches it and every
 * internal frame carries the epoch it was sent under.
 *
 * Keys (client ids, retained topics, state-store keys) are placed by `slotOf`: CRC-32 (IEEE, the
 * zlib/Ethernet polynomial, as Node's `zlib.crc32`) of the key's UTF-8 bytes, modulo `SLOT_COUNT`.
 * The hash and the slot count are part of the on-disk and on-wire contract: changing either moves
 * every key. A change of partition count moves slot ranges, not keys.
 */
import { crc32 } from 'node:zlib';

export const SLOT_COUNT = 1024;

export type NodeRole = 'frontend' | 'backend' | 'coordinator';

export interface ClusterNode {
  id: string;
  role: NodeRole;
  /** Address other processes dial for internal traffic (back ends; front ends that receive deliveries). */
  host: string;
  internalPort: number;
  /** Client-facing listener ports (front ends only). */
  clientPorts?: number[];
  pid?: number;
  /**
   * Back ends: partition id → epoch of the map this process saw when its replica of that partition
   * came to hold the chain's state (a state transfer installed, or linked on its own history): its
   * report, on which the coordinator clears it from the partition's `joining`. Only this process's
   * reports: a restart registers without them.
   */
  installed?: Record<string, number>;
}

export interface PartitionPlacement {
  id: number;
  /** Back-end node ids, head first. Part 1 runs chains of one (R = 1). */
  chain: string[];
  /**
   * Replicas of `chain` taking a state transfer (they hold no complete state yet), with the epoch
   * of the map that placed them: the coordinator never makes one head, and never drops a chain's
   * last replica that is not listed here (src/replication/placement.ts). An entry goes when the
   * replica reports the transfer installed (`ClusterNode.installed`) under that epoch or a later one.
   * Absent: every replica holds the state (maps written before this field existed, too).
   */
  joining?: Record<string, number>;
}

/** A half-open range of slots [from, to) owned by one partition. */
export interface SlotRange {
  from: number;
  to: number;
  partition: number;
}

/**
 * A slot range on its way from one partition to another (live re-partitioning, `cluster scale
 * --partitions`; see src/cluster/handover.ts). While it is in the map, senders hold new publishes
 * and new commands for `source`; the range still belongs to `source` in `slots`.
 */
export interface SlotMove {
  /** The epoch of the map that started the move: names the handover everywhere (export, import, barriers). */
  id: number;
  from: number;
  to: number;
  source: number;
  target: number;
}

export interface ClusterMap {
  /** Increases by one with every change; frames of an older epoch are refused. */
  epoch: number;
  slots: SlotRange[];
  /** The slot range being handed over, if any (one at a time). */
  moving?: SlotMove;
  /**
   * The last completed handover: senders release what they held once their copy of the target's
   * filter feed has reached `feedSeq` (the imported sessions' subscriptions are in the index).
   */
  handedOver?: { id: number; partition: number; feedSeq: number };
  /** Id of the next partition created by scaling up (ids are never reused: a dropped partition's old store cannot come back). */
  nextPartitionId?: number;
  partitions: PartitionPlacement[];
  /** Every live process, by id. */
  nodes: Record<string, ClusterNode>;
}

/** Stable slot of a key (client id, topic, or state-store key). */
export function slotOf(key: string): number {
  return crc32(key) % SLOT_COUNT;
}

/** The partition that owns a slot, or -1 when the map does not cover it (a map under construction). */
export function partitionOfSlot(map: ClusterMap, slot: number): number {
  for (const r of map.slots) if (slot >= r.from && slot < r.to) return r.partition;
  return -1;
}

export function partitionOf(map: ClusterMap, key: string): number {
  return partitionOfSlot(map, slotOf(key));
}

/** P partitions with contiguous, near-equal slot ranges: the initial layout of a new cluster. */
export function evenSlots(partitions: number): SlotRange[] {
  const out: SlotRange[] = [];
  for (let p = 0; p < partitions; p++) {
    out.push({ from: Math.floor((p * SLOT_COUNT) / partitions), to: Math.floor(((p + 1) * SLOT_COUNT) / partitions), partition: p });
  }
  return out;
}

/**
 * Where a process learns the current map. Implemented by the configuration store's watcher
 * (etcd; later the Kubernetes API) and, in tests, by a fixed map. While the store is unreachable
 * `current()` keeps returning the last map seen: the data path serves on it.
 */
export interface MapSource {
  current(): ClusterMap;
  /** Called after every change with the new map; returns a function that removes the listener. */
  onChange(listener: (map: ClusterMap) => void): () => void;
}

/** A map that never changes: single-process tests and fixtures. */
export class FixedMapSource implements MapSource {
  constructor(private readonly map: ClusterMap) {}
  current(): ClusterMap {
    return this.map;
  }
  onChange(): () => void {
    return () => {};
  }
}
