/**
 * The checker's nemesis: every few seconds it SIGKILLs one random process of a running
 * `edgemq cluster` (back end = head, middle or tail of some chain; front end; coordinator; etcd in
 * the long form) and waits until the supervisor has restarted it and, for a back end, until every
 * chain is full again: one fault at a time, so a chain of R = 2 always keeps a replica with its
 * state (a second fault inside the recovery window would test availability, not safety).
 */
import type { ClusterMap } from '../../../src/cluster/map.js';
import type { ProcessRole } from '../../../src/cluster/supervisor.js';
import { until, type TestCluster } from '../../helpers/cluster.js';

/** Time given to a rejoined replica for its state transfer before the next fault (one fault at a time). */
const STATE_TRANSFER_ALLOWANCE_MS = 4000;

export interface Fault {
  at: number;
  role: ProcessRole;
  index: number;
  /** For a back end: its position in each chain at the time (head/middle/tail). */
  positions: string;
  recoveredMs: number;
}

export interface NemesisOptions {
  roles: ProcessRole[];
  /** Pause after a recovery before the next fault. */
  pauseMs: number;
  redundancy: number;
  random?: () => number;
}

export class Nemesis {
  readonly faults: Fault[] = [];
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
      const role = this.opts.roles[Math.floor(rnd() * this.opts.roles.length)]!;
      const count = this.cluster.file().processes.filter((p) => p.role === role).length;
      let index = Math.floor(rnd() * count);
      const before = await this.cluster.map();
      if (role === 'backend' && before) {
        // A random position of a random chain: after restarts the heads gather in the survivors,
        // so picking processes would mostly hit tails.
        const chain = before.partitions[Math.floor(rnd() * before.partitions.length)]!.chain;
        const target = chain[Math.floor(rnd() * chain.length)]!;
        const i = this.cluster.file().processes.filter((p) => p.role === 'backend').findIndex((p) => p.id === target);
        if (i >= 0) index = i;
      }
      const id = this.cluster.entry(role, index).id;
      const positions = before ? before.partitions.filter((p) => p.chain.includes(id)).map((p) => `p${p.id}:${position(p.chain, id)}`).join(',') : '';
      const at = Date.now();
      const pid = await this.cluster.kill(role, index);
      await this.cluster.waitRestarted(role, index, pid);
      if (role === 'backend') {
        // The map first drops the replica (or swaps in the restarted process in one change), then
        // fills the chain again; the new tail then takes its state transfer, which the map does not show.
        await until('chains full again', async () => {
          const m = await this.cluster.map();
          return m !== null && before !== null && m.epoch > before.epoch && full(m, this.opts.redundancy);
        }, 60_000);
        await new Promise((r) => setTimeout(r, STATE_TRANSFER_ALLOWANCE_MS));
      }
      this.faults.push({ at, role, index, positions, recoveredMs: Date.now() - at });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

function position(chain: string[], id: string): string {
  const i = chain.indexOf(id);
  return i === 0 ? 'head' : i === chain.length - 1 ? 'tail' : 'middle';
}

function full(m: ClusterMap | null, r: number): ClusterMap | false {
  return m !== null && m.partitions.every((p) => p.chain.length === r) && m;
}
