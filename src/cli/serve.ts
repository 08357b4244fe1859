/**
 * `edgemq serve`: the embedded default. One process runs the front end, one back-end partition
 * (a chain of one) and the coordinator role (trivial here).
 */
import path from 'node:path';
import type { LoadedConfig } from '../config/model.js';
import { LocalBrokerCore, type CommandExecutor } from '../core/local-core.js';
import { openPartitionStore } from '../storage/open-store.js';
import { storageErrorSummary } from '../storage/durable-executor.js';
import { recoverPartition } from '../storage/recover.js';
import type { FrontEnd } from '../frontend/frontend.js';
import { createLogger } from '../observability/logger.js';
import { Partition } from '../partition/partition.js';
import { defaultSecretsDir, openDoor, prepareFrontDoor, startDoorOperations, stopDoor } from './front-door.js';
import type { Operations } from './operations.js';

export interface ServeOptions {
  configFiles: string[];
  dataDir: string;
  host: string;
  port?: number;
  logLevel?: string;
  /** Where secrets/ConfigMaps named by resources live (`<dir>/<name>/<key>`); default `secrets/` beside the config. */
  secretsDir?: string;
  /** Serve ports without authentication on non-loopback addresses. */
  allowAnonymous?: boolean;
  /** Override the Broker's metrics and admin ports (0 = not served). */
  metricsPort?: number;
  adminPort?: number;
}

export { defaultSecretsDir };

export interface RunningBroker {
  config: LoadedConfig;
  frontEnd: FrontEnd;
  core: LocalBrokerCore;
  operations: Operations;
  stop(): Promise<void>;
}

export async function serve(opts: ServeOptions): Promise<RunningBroker> {
  const { config, log, dataDir, door } = prepareFrontDoor({
    configFiles: opts.configFiles,
    port: opts.port,
    host: opts.host,
    dataDir: opts.dataDir,
    ...(opts.secretsDir !== undefined ? { secretsDir: opts.secretsDir } : {}),
    allowAnonymous: opts.allowAnonymous === true,
    log: (c) => createLogger(opts.logLevel ?? c.broker.logLevel),
  });

  const b = config.broker;
  // Metrics, probes, self-check, admin API: up before recovery, so /readyz reports it (cli/operations.ts).
  const operations = await startDoorOperations(door, {
    settings: b.operations,
    host: opts.host,
    log,
    dataDir,
    configFiles: opts.configFiles,
    loadOptions: { port: opts.port },
    ...(opts.metricsPort !== undefined ? { metricsPort: opts.metricsPort } : {}),
    ...(opts.adminPort !== undefined ? { adminPort: opts.adminPort } : {}),
  });
  const limits = {
    queueLength: b.clients.subscriberQueueLimit.length,
    queueStrategy: b.clients.subscriberQueueLimit.strategy,
    sharedStrategy: b.sharedSubscriptionStrategy,
  };
  let partition: Partition;
  let executor: CommandExecutor | undefined;
  if (b.durability === 'memory') {
    partition = new Partition(limits);
  } else {
    const sync = b.durability === 'fsync';
    const store = openPartitionStore(path.join(dataDir, 'partition-0'), { sync });
    const recovered = await recoverPartition(store, limits, {
      sync,
      parkLoneAcks: true,
      onError: (err) => log.error({ err: err.message }, storageErrorSummary(err)),
    });
    for (const note of recovered.repaired) log.warn({ dataDir }, `storage: ${note}`);
    partition = recovered.partition;
    executor = recovered.executor;
    log.info({ replayed: recovered.replayed, sessions: partition.sessions.size, retained: partition.retained.size }, 'state recovered');
  }
  operations.stateRecovered();
  const core = new LocalBrokerCore(partition, executor);
  const frontEnd = await openDoor(door, core, operations, {
    brokerName: b.name,
    ...(executor?.writeLatency ? { logWriteLatency: executor.writeLatency } : {}),
  });
  log.info({ broker: b.name, dataDir, durability: b.durability }, 'edgemq started');

  return {
    config,
    frontEnd,
    core,
    operations,
    async stop() {
      await stopDoor(operations, door, core);
    },
  };
}
