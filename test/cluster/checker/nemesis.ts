/**
 * The checker's nemesis: every few seconds one fault on a running `edgemq cluster`, one at a time:
 *
 * - kill: SIGKILL one random process (back end = head, middle or tail of some chain; front end;
 *   coordinator; etcd in the long form), then wait until the supervisor has restarted it and,
 *   for a back end, until every chain is full again;
 * - cut (when the cluster's back ends run in network namespaces, see network.ts): take one random
 *   back end off the network for a while (frames dropped both ways, sockets stay open; the
 *   checker draws 1-3.5 s in the short form, 1-6 s in the long one: shorter and longer than the
 *   3 s membership lease), heal it, and wait until every chain is full again;
 * - scale (when asked for): `edgemq cluster scale --partitions` one step between P and P + 1 (live
 *   re-partitioning: slot ranges handed over between partitions under the streams), then wait
 *   until every chain, the new partition's too, is full and its state transfers are installed.
 *
 * One fault at a time, so a chain of R = 2 always keeps a replica with its state (a second fault
 * inside the recovery window would test availability, not safety). Each fault records when it
 * struck, what it hit and when the cluster was whole again; the checker measures the publish stall
 * after it from the workload's acknowledgements.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { ClusterMap } from '../../../src/cluster/map.js';
import type { ProcessRole } from '../../../src/cluster/supervisor.js';
import { until, type TestCluster } from '../../helpers/cluster.js';
import type { Network } from './network.js';
import { scalePartitions } from './scale-nemesis.js';

/** Time for a rejoined replica's state to start arriving; from then its directory is marked until it is installed. */
const STATE_TRANSFER_START_MS = 1500;
/** How long no replica may be in transfer before the next fault. */
const TRANSFERS_QUIET_MS = 3000;
/** After a heal: the membership lease (3 s) plus the coordinator's settle, so a map change the cut caused has come. */
const AFTER_HEAL_MS = 4000;

export interface Fault {
  at: number;
  kind: 'kill' | 'cut' | 'scale';
  /** The process hit; a scale step hits the whole cluster. */
  role: ProcessRole | 'cluster';
  index: number;
  /** For a back end: its position in each chain at the time (head/middle/tail). */
  positions: string;
  /** A cut: how long the back end was off the network. */
  cutMs?: number;
  /** A scale step: partitions before and after. */
  partitions?: [number, number];
  recoveredMs: number;
}

export interface NemesisOptions {
  roles: ProcessRole[];
  /** Pause after a recovery before the next fault. */
  pauseMs: number;
  redundancy: number;
  /** Network cuts, with the share of faults that are cuts (0-1), and whether the first fault is one. Without it, kills only. */
  cuts?: { network: Network; share: number; first?: boolean; /** Shortest and longest cut (ms). */ ms: [number, number] };
  /** Live re-partitioning steps between `base` and `base` + 1 partitions, with the share of faults that are steps (0-1). */
  scale?: { base: number; share: number };
  random?: () => number;
}

export class Nemesis {
  readonly faults: Fault[] = [];
  /** Set when the cluster did not recover from a fault within the limits: the nemesis stopped there. */
  failure: string | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly cluster: TestCluster,
    private readonly opts: NemesisOptions,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const rnd = this.opts.random ?? Math.random;
    while (!this.stopped) {
      await new Promise((r) => setTimeout(r, this.opts.pauseMs));
      if (this.stopped) return;
      const cuts = this.opts.cuts;
      const scale = this.opts.scale;
      const draw = rnd();
      const kind = cuts !== undefined && ((cuts.first === true && this.faults.length === 0) || draw < cuts.share) ? 'cut' : scale !== undefined && draw >= 1 - scale.share ? 'scale' : 'kill';
      try {
        this.faults.push(kind === 'cut' ? await this.cutOne(rnd, cuts!.network, cuts!.ms) : kind === 'scale' ? await this.scaleStep(scale!.base) : await this.killOne(rnd));
      } catch (err) {
        // The cluster did not recover in time: no more faults, and the run goes on to its counts.
        this.failure = `${(err as Error).message} after fault ${this.faults.length + 1} (${kind})`;
        return;
      }
    }
  }

  /** A random back end by chain position: after restarts the heads gather in the survivors, so picking processes would mostly hit tails. */
  private pickBackend(before: ClusterMap | null, rnd: () => number): number {
    const count = this.cluster.file().processes.filter((p) => p.role === 'backend').length;
    let index = Math.floor(rnd() * count);
    if (before) {
      const chain = before.partitions[Math.floor(rnd() * before.partitions.length)]!.chain;
      const target = chain[Math.floor(rnd() * chain.length)]!;
      const i = this.cluster.file().processes.filter((p) => p.role === 'backend').findIndex((p) => p.id === target);
      if (i >= 0) index = i;
    }
    return index;
  }

  private async killOne(rnd: () => number): Promise<Fault> {
    const role = this.opts.roles[Math.floor(rnd() * this.opts.roles.length)]!;
    const before = await this.cluster.map();
    const index = role === 'backend' ? this.pickBackend(before, rnd) : Math.floor(rnd() * this.cluster.file().processes.filter((p) => p.role === role).length);
    const id = this.cluster.entry(role, index).id;
    const positions = positionsOf(before, id);
    const at = Date.now();
    const pid = await this.cluster.kill(role, index);
    const restarted = await this.cluster.waitRestarted(role, index, pid);
    if (role === 'coordinator') {
      // Recovered once a coordinator leads again: the map names the new process (only a leader writes it).
      await until('a coordinator elected again', async () => (await this.cluster.map())?.nodes[id]?.pid === restarted.pid, 60_000);
    }
    if (role === 'backend') {
      // The map first drops the replica (or swaps in the restarted process in one change), then
      // fills the chain again; the new tail then takes its state transfer, which the map does not show.
      await until('chains full again', async () => {
        const m = await this.cluster.map();
        return m !== null && before !== null && m.epoch > before.epoch && full(m, this.opts.redundancy);
      }, 60_000);
      await this.transfersDone();
    }
    return { at, kind: 'kill', role, index, positions, recoveredMs: Date.now() - at };
  }

  private async cutOne(rnd: () => number, network: Network, [shortest, longest]: [number, number]): Promise<Fault> {
    const before = await this.cluster.map();
    const index = this.pickBackend(before, rnd);
    const id = this.cluster.entry('backend', index).id;
    const positions = positionsOf(before, id);
    const cutMs = shortest + Math.floor(rnd() * (longest - shortest));
    const at = Date.now();
    network.cut(index);
    try {
      await sleep(cutMs);
    } finally {
      network.heal(index);
    }
    await sleep(AFTER_HEAL_MS);
    await until('chains full again with the healed back end', async () => {
      const m = await this.cluster.map();
      return m !== null && m.nodes[id] !== undefined && full(m, this.opts.redundancy);
    }, 60_000);
    await this.transfersDone();
    return { at, kind: 'cut', role: 'backend', index, positions, cutMs, recoveredMs: Date.now() - at };
  }

  /** One live re-partitioning step: base -> base + 1, or back. */
  private async scaleStep(base: number): Promise<Fault> {
    const before = (await this.cluster.map())?.partitions.length ?? base;
    const to = before > base ? base : base + 1;
    const step = await scalePartitions(this.cluster, to);
    await until('chains full after scaling', async () => {
      const m = await this.cluster.map();
      return m !== null && m.partitions.length === to && full(m, this.opts.redundancy) !== false;
    }, 60_000);
    await this.transfersDone();
    return { at: step.at, kind: 'scale', role: 'cluster', index: 0, positions: '', partitions: [step.from, to], recoveredMs: Date.now() - step.at };
  }

  /**
   * Waits until no replica is in a state transfer (`partition-<id>.joining` in a back end's data
   * dir, chain-replica.ts): a head killed before its new tail installed its state would leave the
   * partition without a replica that holds it (a double fault; a known limit).
   */
  private async transfersDone(): Promise<void> {
    await sleep(STATE_TRANSFER_START_MS);
    const joining = () =>
      this.cluster.file().processes.filter((p) => p.role === 'backend').some((p) => {
        const dir = path.join(this.cluster.dataDir, p.id);
        return existsSync(dir) && readdirSync(dir).some((f) => f.endsWith('.joining'));
      });
    // No marker for QUIET_MS on end: a transfer that failed and is asked for again leaves a gap.
    let quietSince = Date.now();
    await until('state transfers installed', () => {
      if (joining()) quietSince = Date.now();
      return Date.now() - quietSince >= TRANSFERS_QUIET_MS;
    }, 60_000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function positionsOf(m: ClusterMap | null, id: string): string {
  return m ? m.partitions.filter((p) => p.chain.includes(id)).map((p) => `p${p.id}:${position(p.chain, id)}`).join(',') : '';
}

function position(chain: string[], id: string): string {
  const i = chain.indexOf(id);
  return i === 0 ? 'head' : i === chain.length - 1 ? 'tail' : 'middle';
}

function full(m: ClusterMap | null, r: number): ClusterMap | false {
  return m !== null && m.partitions.every((p) => p.chain.length === r) && m;
}
