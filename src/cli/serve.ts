/**
 * `edgemq serve`: the embedded default. One process runs the front end, one back-end partition
 * (a chain of one) and the coordinator role (trivial here).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config/load.js';
import type { LoadedConfig } from '../config/model.js';
import { LocalBrokerCore, type CommandExecutor } from '../core/local-core.js';
import { LevelStore } from '../storage/level-store.js';
import { recoverPartition } from '../storage/recover.js';
import { FrontEnd } from '../frontend/frontend.js';
import { createLogger } from '../observability/logger.js';
import { SysTopics } from '../observability/sys-topics.js';
import { Partition } from '../partition/partition.js';
import { StateStoreResponder } from '../statestore/responder.js';

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
    const store = new LevelStore(path.join(dataDir, 'partition-0'));
    const recovered = await recoverPartition(store, limits, {
      sync: b.durability === 'fsync',
      onError: (err) => log.error({ err: err.message }, 'durable write failed; refusing until storage recovers'),
    });
    partition = recovered.partition;
    executor = recovered.executor;
    log.info({ replayed: recovered.replayed, sessions: partition.sessions.size, retained: partition.retained.size }, 'state recovered');
  }
  const core = new LocalBrokerCore(partition, executor);
  // The state store (DSS) answers MQTT 5 requests as an in-process client; key authorization: `authorize` hook (security room).
  const stateStore = new StateStoreResponder({ core, log: log.child({ component: 'statestore' }) });
  await stateStore.start();
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
      await stateStore.stop();
      await core.close();
    },
  };
}
