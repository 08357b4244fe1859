/**
 * `runBackend`: a cluster back end hosting the partitions the map places on this node id, with the
 * Broker resource's limits and durability (`--config`, as `edgemq serve` reads it).
 */
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import { loadConfig } from '../config/load.js';
import { BackendNode } from './backend/backend-node.js';
import type { BackendRoleOptions, RunningRole } from './roles.js';

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
  });
  await node.start();
  return {
    internalPort: node.port,
    clientPorts: [],
    partitions: () => node.partitions(),
    ready: () => node.ready(),
    stop: () => node.stop(),
  };
}
