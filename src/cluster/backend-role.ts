/**
 * `runBackend`: a cluster back end hosting the partitions the map places on this node id, with the
 * Broker resource's limits and durability (`--config`, as `edgemq serve` reads it), and its metrics
 * and probes on the metrics port: per-partition series (observability/partition-metrics.ts), and
 * ready once every partition the map gives it is recovered and served.
 */
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import { loadConfig } from '../config/load.js';
import { OpsServer, Readiness } from '../observability/health.js';
import { BackendNode } from './backend/backend-node.js';
import type { BackendRoleOptions, RunningRole } from './roles.js';

/** The back end's readiness condition, as /readyz names it. */
export const READY_BACKEND_PARTITIONS = 'partitions recovered';

export async function runBackend(opts: BackendRoleOptions): Promise<RunningRole> {
  const config = loadConfig(opts.configFiles);
  for (const w of config.warnings) opts.log.warn(w);
  const b = config.broker;
  const dataDir = path.resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const node = new BackendNode({
    id: opts.id,
    host: opts.host,
    internalPort: opts.internalPort,
    dataDir,
    token: opts.token,
    mapSource: opts.mapSource,
    log: opts.log,
    limits: { queueLength: b.clients.subscriberQueueLimit.length, queueStrategy: b.clients.subscriberQueueLimit.strategy, sharedStrategy: b.sharedSubscriptionStrategy },
    durability: b.durability,
    // A front end holds its links while a subscriber of its own is behind, at most this long (plus slack).
    frontendStallMs: (b.clients.stalledSubscriberSeconds + 2) * 1000,
    ...(opts.installed ? { installed: opts.installed } : {}),
  });
  // Up before recovery, so /readyz answers "not ready" during a long one instead of refusing.
  const readiness = new Readiness();
  readiness.set(READY_BACKEND_PARTITIONS, () => node.unready());
  const metricsPort = opts.metricsPort ?? b.operations.metricsPort;
  let metrics: { scrape(): Promise<string>; contentType: string } | undefined;
  const ops = metricsPort > 0 ? new OpsServer({ host: opts.host, port: metricsPort, readiness, metrics: () => metrics, log: opts.log, field: '--metrics-port' }) : undefined;
  await ops?.start();
  try {
    await node.start();
  } catch (err) {
    await ops?.close();
    throw err;
  }
  if (ops) {
    // prom-client loads only when the port is served.
    const { createBackendMetrics } = await import('../observability/partition-metrics.js');
    metrics = createBackendMetrics({ partitions: () => node.views(), droppedQos0: () => node.droppedQos0, labels: { role: 'backend', node: opts.id } });
  }
  return {
    internalPort: node.port,
    clientPorts: [],
    partitions: () => node.partitions(),
    ready: () => node.ready(),
    metricsPort: ops?.port ?? 0,
    async stop() {
      await ops?.close();
      await node.stop();
    },
  };
}
