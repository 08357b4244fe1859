/**
 * A nemesis action for live re-partitioning (issue #15, "Elastic"): `edgemq cluster scale
 * --partitions P` on a running cluster, timed. Kept apart from nemesis.ts (process kills and
 * network cuts) so the checker can mix it in as one more fault kind: a step between P and P + 1
 * every few seconds, one fault at a time like the others.
 */
import type { TestCluster } from '../../helpers/cluster.js';

export interface ScaleFault {
  at: number;
  from: number;
  to: number;
  /** Until the CLI answered: the map has the partitions and every handover is done. */
  ms: number;
}

/** Scales the cluster's partitions to `partitions` and returns when the coordinator is done. */
export async function scalePartitions(cluster: TestCluster, partitions: number): Promise<ScaleFault> {
  const before = (await cluster.map())?.partitions.length ?? -1;
  const at = Date.now();
  await cluster.cli('cluster', 'scale', '--partitions', String(partitions), '--data-dir', cluster.dataDir);
  return { at, from: before, to: partitions, ms: Date.now() - at };
}
