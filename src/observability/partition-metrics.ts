/**
 * Metrics of a cluster back end (`edgemq backend`): the broker's series of `BrokerStats`, one per
 * partition this process holds (label `partition`), and where each replica stands in its chain.
 *
 * Every replica applies every command of its partition, so a chain of R replicas reports its
 * traffic R times: sum traffic over heads only (`edgemq_partition_chain_position == 0`). As for the
 * single node, every value is a plain number read at scrape time; nothing here is on a message path.
 */
import type { BrokerStats } from '../core/broker-core.js';
import type { LatencyHistogram } from './histogram.js';
import { DROPPED_HELP, STAT_SERIES, histogramMetric, processRegistry, putDroppedByReason, scrapedSeries } from './metrics.js';

/** One partition replica held by this back end, as the metrics see it at a scrape. */
export interface PartitionView {
  id: number;
  stats(): BrokerStats;
  /** Place in the chain, 0 = head (serves front ends); -1 while the map does not name this node. */
  position: number;
  chainLength: number;
  /** Epoch of the map that last changed this chain. */
  chainEpoch: number;
  /** Highest command sequence number applied here, and committed by every replica down to the tail. */
  applied: number;
  committed: number;
  /** Holds a usable state (false while it takes a state transfer). */
  ready: boolean;
  /** Durable write latency of its store; absent with durability `memory` or before its state exists. */
  writeLatency?: LatencyHistogram;
}

export interface BackendMetricSources {
  partitions(): PartitionView[];
  /** QoS 0 deliveries this node shed for front-end links too far behind. */
  droppedQos0(): number;
  /** Constant labels: `{role: 'backend', node: 'backend-0'}`. */
  labels: Record<string, string>;
}

export function createBackendMetrics(src: BackendMetricSources): { scrape(): Promise<string>; contentType: string } {
  const registry = processRegistry(src.labels);
  // One walk of every partition per scrape, shared by the collectors (cleared by scrape()).
  let cached: Array<{ view: PartitionView; stats: BrokerStats }> | undefined;
  const views = () => (cached ??= src.partitions().map((view) => ({ view, stats: view.stats() })));
  const perPartition = (kind: 'counter' | 'gauge', name: string, help: string, read: (v: PartitionView, s: BrokerStats) => number) =>
    scrapedSeries(kind, registry, name, help, ['partition'], (put) => {
      for (const { view, stats } of views()) put({ partition: String(view.id) }, read(view, stats));
    });

  for (const d of STAT_SERIES) perPartition(d.kind, d.name, d.help, (_v, s) => d.read(s));
  perPartition('counter', 'aio_broker_qos0_messages_dropped', 'QoS 0 messages not delivered because their session was offline.', (_v, s) => s.droppedQos0Offline ?? 0);
  scrapedSeries('counter', registry, 'edgemq_messages_dropped', DROPPED_HELP, ['partition', 'reason'], (put) => {
    for (const { view, stats } of views()) putDroppedByReason(stats, (reason, n) => put({ partition: String(view.id), reason }, n));
  });
  scrapedSeries('counter', registry, 'edgemq_backend_qos0_dropped_slow_link', 'QoS 0 deliveries shed because the link to the front end holding the subscriber was too far behind.', [], (put) =>
    put({}, src.droppedQos0()),
  );

  perPartition('gauge', 'edgemq_partition_chain_position', 'Place of this replica in its partition chain: 0 = head (serves front ends), -1 = not placed.', (v) => v.position);
  perPartition('gauge', 'edgemq_partition_chain_length', 'Replicas in the chain of the partition, as the map names them.', (v) => v.chainLength);
  perPartition('gauge', 'edgemq_partition_chain_epoch', 'Epoch of the cluster map that last changed the chain of the partition.', (v) => v.chainEpoch);
  perPartition('gauge', 'edgemq_partition_applied_sequence', 'Sequence number of the last command applied by this replica.', (v) => v.applied);
  perPartition('gauge', 'edgemq_partition_committed_sequence', 'Sequence number of the last command stored by every replica from here to the tail.', (v) => v.committed);
  perPartition('gauge', 'edgemq_partition_commit_lag', 'Commands applied here and not yet committed by the rest of the chain.', (v) => Math.max(0, v.applied - v.committed));
  perPartition('gauge', 'edgemq_partition_ready', '1 when the replica holds a usable state, 0 while it takes a state transfer.', (v) => (v.ready ? 1 : 0));
  registry.registerMetric(
    histogramMetric('edgemq_log_write_duration_seconds', 'Time from handing a group commit to the store until it is durable, per partition.', () =>
      views().flatMap(({ view }) => (view.writeLatency ? [{ labels: { partition: String(view.id) }, histogram: view.writeLatency }] : [])),
    ) as never,
  );

  return {
    scrape: () => {
      cached = undefined;
      return registry.metrics();
    },
    contentType: registry.contentType,
  };
}
