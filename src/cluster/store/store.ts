/**
 * The configuration store behind the control plane: membership under leases, leader election and
 * the cluster map written by compare-and-swap. It is the only thing the control plane asks of etcd,
 * kept small so a Kubernetes implementation (coordination.k8s.io Leases for membership and
 * election, a ConfigMap's resourceVersion for the map's compare-and-swap) can stand in for it.
 * Consensus is the store's job: nothing here orders writes except the store's own versions.
 */
import type { ClusterMap, ClusterNode } from '../map.js';

/** A value with the store's opaque version of it (etcd: the key's mod revision; Kubernetes: resourceVersion). */
export interface Versioned<T> {
  value: T;
  version: string;
}

/** A membership record kept alive by the store's lease; renewed (and re-created after a loss) until closed. */
export interface Registration {
  /** Replace the advertised record (e.g. after the ports are known) under the same lease. */
  update(node: ClusterNode): Promise<void>;
  /** Remove the record at once (clean shutdown) instead of waiting for the lease to expire. */
  close(): Promise<void>;
}

/** Leadership held under a lease. `lost` fires once, when the lease cannot be renewed; the holder must stop acting. */
export interface Leadership {
  readonly id: string;
  /** The store's fencing token for this term (etcd: the lease id); map writes are checked against it. */
  readonly token: string;
  readonly lost: Promise<Error>;
  resign(): Promise<void>;
}

export type Unwatch = () => Promise<void>;

export interface ClusterStore {
  /** Puts `node` under a lease of `ttlSeconds`; the record vanishes that long after the process stops renewing it. */
  register(node: ClusterNode, ttlSeconds: number): Promise<Registration>;
  /**
   * Removes `id`'s record now if it is still the one of process `pid`: whoever saw that process die
   * (the local supervisor) spares the cluster the lease's wait. False when the record is gone or
   * belongs to another process (a restart registered already).
   */
  forgetMember(id: string, pid: number): Promise<boolean>;
  /** Every node whose lease is alive. */
  members(): Promise<ClusterNode[]>;
  /** Calls `onChange` with the whole membership after every change (and after the watch reconnects). */
  watchMembers(onChange: (nodes: ClusterNode[]) => void): Promise<Unwatch>;
  /** Waits until `id` leads (one leader at a time across all processes using this store). */
  campaign(id: string, ttlSeconds: number, signal?: AbortSignal): Promise<Leadership>;
  /** Id of the current leader, null when no one leads. */
  leader(): Promise<string | null>;
  readMap(): Promise<Versioned<ClusterMap> | null>;
  /**
   * Writes `map` only if the stored map's version is still `expected` (null: no map yet) and
   * `leadership` still holds: a deposed coordinator cannot overwrite its successor's map.
   */
  writeMap(map: ClusterMap, expected: string | null, leadership: Leadership): Promise<boolean>;
  /** Calls `onChange` with every new map (and the current one once the watch is established). */
  watchMap(onChange: (map: Versioned<ClusterMap>) => void): Promise<Unwatch>;
  /**
   * The partition count an operator asked for (`edgemq cluster scale --partitions`); the coordinator
   * moves the map towards it (src/cluster/handover.ts). null when nobody asked.
   */
  readRequestedPartitions(): Promise<number | null>;
  requestPartitions(partitions: number): Promise<void>;
  close(): Promise<void>;
}

/** The store could not be reached or refused the call; the message names what was attempted. */
export class StoreUnavailableError extends Error {
  constructor(what: string, cause: unknown) {
    super(`cluster store: ${what} failed: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'StoreUnavailableError';
  }
}
