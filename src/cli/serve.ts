/**
 * `edgemq serve`: the embedded default. One process runs the front end, one back-end partition
 * (a chain of one) and the coordinator role (trivial here).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config/load.js';
import type { LoadedConfig } from '../config/model.js';
import { LocalBrokerCore } from '../core/local-core.js';
import { FrontEnd } from '../frontend/frontend.js';
import { createLogger } from '../observability/logger.js';
import { SysTopics } from '../observability/sys-topics.js';
import { Partition } from '../partition/partition.js';

export interface ServeOptions {
  configFiles: string[];
  dataDir: string;
  host: string;
  port?: number;
  logLevel?: string;
}

export interface RunningBroker {
  config: LoadedConfig;
  frontEnd: FrontEnd;
  core: LocalBrokerCore;
  stop(): Promise<void>;
}

export async function serve(opts: ServeOptions): Promise<RunningBroker> {
  const config = loadConfig(opts.configFiles, { port: opts.port });
  const log = createLogger(opts.logLevel ?? config.broker.logLevel);
  for (const w of config.warnings) log.warn(w);

  const dataDir = path.resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });

  const b = config.broker;
  const partition = new Partition({
    queueLength: b.clients.subscriberQueueLimit.length,
    queueStrategy: b.clients.subscriberQueueLimit.strategy,
    sharedStrategy: b.sharedSubscriptionStrategy,
  });
  const core = new LocalBrokerCore(partition);
  const frontEnd = new FrontEnd({ core, limits: b.clients, listeners: config.listeners, host: opts.host, log });
  try {
    await frontEnd.start();
  } catch (err) {
    await frontEnd.close();
    await core.close();
    throw err;
  }
  const sys = new SysTopics(core, b.sysIntervalSeconds, () => frontEnd.connectionCount);
  log.info({ broker: b.name, dataDir, durability: b.durability }, 'edgemq started');

  return {
    config,
    frontEnd,
    core,
    async stop() {
      sys.close();
      await frontEnd.close();
      await core.close();
    },
  };
}
