/**
 * The coordinator: one elected process turns the membership (leases in the store) into the cluster
 * map and writes it by compare-and-swap. Several may run; only the leader writes, and the store
 * refuses a write from a deposed leader, so two never publish competing maps.
 *
 * Placement (R = 1): the first map waits until the expected number of back ends has registered,
 * then gives partition p to the p-th of them (by id, numerically) with `evenSlots(P)`. A partition
 * then stays with its back-end id for good, because its data lives in that back end's data dir: a
 * back end whose lease expires leaves `nodes` (its partitions are unavailable, the chain still
 * names it), and when it registers again under the same id the map lists it again and it serves the
 * same partitions. Every change of membership is one map change with epoch + 1.
 */
import type { Logger } from 'pino';
import { evenSlots, type ClusterMap, type ClusterNode } from './map.js';
import { initialChains, replanChains } from '../replication/placement.js';
import type { ClusterStore, Leadership, Unwatch } from './store/store.js';
import { handOver, reassign, scaleStep, targetReady, type HandoverLink } from './handover.js';
import { COORDINATOR_SETTLE_MS, LEADER_LEASE_TTL_SECONDS, STORE_RETRY_MS } from './timeouts.js';

export interface PlanOptions {
  /** Partition count of a new cluster (an existing map keeps its own). */
  partitions: number;
  /** Back ends to wait for before the first map is written (default: max(partitions, redundancy)). */
  backends?: number;
  /** Replicas per partition chain (R); 1 without replication. Chains are formed and re-formed by src/replication/placement.ts. */
  redundancy?: number;
}

const byId = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

/** The next map for this membership, or null when nothing changes (or the first map must still wait for back ends). */
export function planMap(prev: ClusterMap | null, members: ClusterNode[], opts: PlanOptions): ClusterMap | null {
  const nodes: Record<string, ClusterNode> = {};
  for (const m of [...members].sort((a, b) => byId(a.id, b.id))) nodes[m.id] = m;
  if (prev === null) {
    const backends = members.filter((m) => m.role === 'backend').map((m) => m.id).sort(byId);
    const wanted = opts.backends ?? Math.max(opts.partitions, opts.redundancy ?? 1);
    if (backends.length === 0 || backends.length < wanted) return null;
    return {
      epoch: 1,
      slots: evenSlots(opts.partitions),
      partitions: initialChains(opts.partitions, backends, opts.redundancy ?? 1),
      nodes,
    };
  }
  if (sameNodes(prev.nodes, nodes)) return null;
  // R = 1 keeps part 1's rule: a partition stays with its back end for good (its data is there).
  const partitions = (opts.redundancy ?? 1) > 1 ? replanChains(prev.partitions, prev.nodes, nodes, opts.redundancy!, prev.epoch + 1) : prev.partitions;
  return { ...prev, epoch: prev.epoch + 1, partitions, nodes };
}

function sameNodes(a: Record<string, ClusterNode>, b: Record<string, ClusterNode>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) return false;
  return true;
}

export interface CoordinatorOptions extends PlanOptions {
  id: string;
  store: ClusterStore;
  log: Logger;
  /** Reaches partitions' heads for live re-partitioning; without it a requested partition count is not acted on. */
  handover?: HandoverLink;
}

/** How often the leader looks for a requested partition count (`cluster scale --partitions`) or an unfinished handover. */
const SCALE_POLL_MS = 500;

export class Coordinator {
  private readonly abort = new AbortController();
  private leadership: Leadership | undefined;
  private members: ClusterNode[] = [];
  private timer: NodeJS.Timeout | undefined;
  private planning: Promise<void> = Promise.resolve();
  private warnedPartitions = false;
  private scaling = false;
  private readonly scaler: NodeJS.Timeout;
  private readonly done: Promise<void>;

  constructor(private readonly opts: CoordinatorOptions) {
    this.done = this.run();
    this.scaler = setInterval(() => void this.scale(), SCALE_POLL_MS);
    this.scaler.unref();
  }

  /** True while this process is the elected coordinator. */
  leading(): boolean {
    return this.leadership !== undefined;
  }

  private async run(): Promise<void> {
    const { store, log, id } = this.opts;
    while (!this.abort.signal.aborted) {
      let leadership: Leadership;
      try {
        leadership = await store.campaign(id, LEADER_LEASE_TTL_SECONDS, this.abort.signal);
      } catch (err) {
        if (this.abort.signal.aborted) return;
        log.warn({ err: (err as Error).message }, 'coordinator election failed; retrying');
        await new Promise((r) => setTimeout(r, STORE_RETRY_MS));
        continue;
      }
      this.leadership = leadership;
      log.info({ id }, 'elected coordinator');
      let unwatch: Unwatch | undefined;
      try {
        unwatch = await store.watchMembers((nodes) => {
          this.members = nodes;
          this.schedule();
        });
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'coordinator cannot watch the membership; resigning');
        this.leadership = undefined;
        await leadership.resign();
        continue;
      }
      const stopped = new Promise<void>((r) => this.abort.signal.addEventListener('abort', () => r(), { once: true }));
      const why = await Promise.race([leadership.lost.then((e) => e.message), stopped.then(() => 'stopping')]);
      this.leadership = undefined;
      clearTimeout(this.timer);
      await unwatch();
      await this.planning;
      if (why === 'stopping') {
        await leadership.resign();
        return;
      }
      log.warn({ reason: why }, 'coordinator leadership lost; campaigning again');
    }
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.planning = this.planning.then(() => this.plan());
    }, COORDINATOR_SETTLE_MS);
  }

  /** Read the map, plan, compare-and-swap; on a lost race or a store error, read again. */
  private async plan(): Promise<void> {
    const { store, log } = this.opts;
    for (;;) {
      const leadership = this.leadership;
      if (!leadership) return;
      try {
        const cur = await store.readMap();
        if (cur && cur.value.partitions.length !== this.opts.partitions && !this.warnedPartitions) {
          this.warnedPartitions = true;
          log.info({ stored: cur.value.partitions.length, flag: this.opts.partitions }, 'the cluster map keeps its partition count (--partitions is for a new cluster; `cluster scale --partitions` changes it)');
        }
        const next = planMap(cur?.value ?? null, this.members, this.opts);
        if (!next) {
          if (!cur) log.info({ backends: this.members.filter((m) => m.role === 'backend').length, wanted: this.opts.backends ?? this.opts.partitions }, 'waiting for back ends before the first map');
          return;
        }
        if (await store.writeMap(next, cur?.version ?? null, leadership)) {
          log.info({ epoch: next.epoch, nodes: Object.keys(next.nodes) }, 'cluster map written');
          return;
        }
        log.debug('cluster map changed under us; planning again');
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'cluster map not updated; retrying');
        await new Promise((r) => setTimeout(r, STORE_RETRY_MS));
      }
    }
  }

  /**
   * Live re-partitioning (handover.ts): one step towards the requested partition count, or the
   * rest of a handover the map says is under way (this coordinator may have taken over mid-way).
   */
  private async scale(): Promise<void> {
    const { store, log, handover } = this.opts;
    if (this.scaling || !this.leadership || !handover) return;
    this.scaling = true;
    const active = () => this.leadership !== undefined && !this.abort.signal.aborted;
    try {
      for (;;) {
        const cur = await store.readMap();
        if (!cur || !active()) return;
        let move = cur.value.moving;
        if (!move) {
          const target = await store.readRequestedPartitions();
          if (target === null) return;
          const step = scaleStep(cur.value, target, this.opts.redundancy ?? 1);
          if (!step) return;
          if (step.kind === 'map') {
            if (await store.writeMap(step.map, cur.version, this.leadership!)) log.info({ epoch: step.map.epoch, partitions: step.map.partitions.map((p) => p.id) }, 'partitions changed');
            continue;
          }
          // A new partition must be served before senders start holding for a move to it.
          if (!(await targetReady(handover, step.move.target, active, log))) return;
          move = { id: cur.value.epoch + 1, ...step.move };
          const start: ClusterMap = { ...cur.value, epoch: move.id, moving: move };
          if (!(await store.writeMap(start, cur.version, this.leadership!))) continue;
          log.info({ move }, 'slot range handover started');
        }
        const started = Date.now();
        const feedSeq = await handOver(handover, move, active, log);
        if (feedSeq === undefined) return;
        const done = await this.update((m) => (m.moving?.id === move.id ? { ...m, epoch: m.epoch + 1, slots: reassign(m.slots, move), moving: undefined, handedOver: { id: move.id, partition: move.target, feedSeq } } : null));
        if (done) log.info({ move: move.id, epoch: done.epoch, ms: Date.now() - started }, 'slot range handover done');
      }
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'scaling step failed; retrying');
    } finally {
      this.scaling = false;
    }
  }

  /** Compare-and-swap of `change(current map)` until it lands, or null when there is nothing to change. */
  private async update(change: (m: ClusterMap) => ClusterMap | null): Promise<ClusterMap | null> {
    const { store } = this.opts;
    for (;;) {
      const leadership = this.leadership;
      if (!leadership) return null;
      const cur = await store.readMap();
      if (!cur) return null;
      const next = change(cur.value);
      if (!next) return null;
      if (await store.writeMap(next, cur.version, leadership)) return next;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.scaler);
    this.abort.abort();
    clearTimeout(this.timer);
    await this.done;
  }
}
