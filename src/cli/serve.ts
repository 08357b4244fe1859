/**
 * `edgemq serve`: the embedded default. One process runs the front end, one back-end partition
 * (a chain of one) and the coordinator role (trivial here).
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { appliedFileOf, loadServeConfig } from '../config/applied.js';
import type { LoadedConfig } from '../config/model.js';
import { LocalBrokerCore, type CommandExecutor } from '../core/local-core.js';
import { openPartitionStore } from '../storage/open-store.js';
import { recoverPartition } from '../storage/recover.js';
import { FrontEnd } from '../frontend/frontend.js';
import { createLogger } from '../observability/logger.js';
import { SysTopics } from '../observability/sys-topics.js';
import { Partition } from '../partition/partition.js';
import { StateStoreResponder } from '../statestore/responder.js';
import { Security } from '../security/security.js';
import { ReloadWatcher } from '../security/watch.js';
import { startOperations, type Operations } from './operations.js';

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

/** `secrets/` beside the (first) config file; for a config folder, inside it; else in the working directory. */
export function defaultSecretsDir(configFiles: string[]): string {
  const first = configFiles[0];
  if (first === undefined) return path.resolve('secrets');
  const isDir = existsSync(first) && statSync(first).isDirectory();
  return path.join(isDir ? path.resolve(first) : path.dirname(path.resolve(first)), 'secrets');
}

export interface RunningBroker {
  config: LoadedConfig;
  frontEnd: FrontEnd;
  core: LocalBrokerCore;
  operations: Operations;
  stop(): Promise<void>;
}

export async function serve(opts: ServeOptions): Promise<RunningBroker> {
  const dataDir = path.resolve(opts.dataDir);
  // The config files with the resources applied through the admin API laid over them (config/applied.ts).
  const loadConfig = () => loadServeConfig(opts.configFiles, dataDir, { port: opts.port }).config;
  const config = loadConfig();
  const log = createLogger(opts.logLevel ?? config.broker.logLevel);
  for (const w of config.warnings) log.warn(w);

  mkdirSync(dataDir, { recursive: true });
  // Security first: a listener that may not start (e.g. anonymous on a public address) stops us before any state opens.
  const secretsDir = path.resolve(opts.secretsDir ?? defaultSecretsDir(opts.configFiles));
  const security = new Security(config, {
    secretsDir,
    dataDir,
    host: opts.host,
    allowAnonymous: opts.allowAnonymous === true,
    log: log.child({ component: 'security' }),
  });

  const b = config.broker;
  // Metrics, probes, self-check, admin API: up before recovery, so /readyz reports it (cli/operations.ts).
  const operations = await startOperations({
    settings: b.operations,
    host: opts.host,
    log,
    secretsDir,
    dataDir,
    configFiles: opts.configFiles,
    loadOptions: { port: opts.port },
    ...(opts.metricsPort !== undefined ? { metricsPort: opts.metricsPort } : {}),
    ...(opts.adminPort !== undefined ? { adminPort: opts.adminPort } : {}),
  }).catch((err: unknown) => {
    security.close();
    throw err;
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
      onError: (err) => log.error({ err: err.message }, 'durable write failed; refusing until storage recovers'),
    });
    partition = recovered.partition;
    executor = recovered.executor;
    log.info({ replayed: recovered.replayed, sessions: partition.sessions.size, retained: partition.retained.size }, 'state recovered');
  }
  operations.stateRecovered();
  const core = new LocalBrokerCore(partition, executor);
  // The state store (DSS) answers MQTT 5 requests as an in-process client; key authorization: `authorize` hook (security room).
  const stateStore = new StateStoreResponder({
    core,
    log: log.child({ component: 'statestore' }),
    authorize: (clientId, key, access) => security.authorizeKey(frontEnd.portChannelsOf(clientId), clientId, key, access),
  });
  await stateStore.start();
  const frontEnd = new FrontEnd({ core, limits: b.clients, listeners: config.listeners, host: opts.host, log, security: security.forPort });
  try {
    await frontEnd.start();
  } catch (err) {
    await frontEnd.close();
    await stateStore.stop();
    await core.close();
    await operations.stop();
    security.close();
    throw err;
  }
  // Configuration and secret changes apply without restart: new connections at once, and live
  // sessions the new rules no longer allow are ended. The admin API's "apply" comes this way too.
  const watched = () => [...opts.configFiles, appliedFileOf(dataDir), ...security.watchedFolders()];
  const reload = () => {
    let next: LoadedConfig;
    try {
      next = loadConfig();
    } catch (err) {
      log.error({ err: (err as Error).message }, 'configuration change not applied');
      return { applied: false, sessionsEnded: 0, error: (err as Error).message };
    }
    const ended = security.reload(next, frontEnd.portChannels());
    log.info({ ended }, 'security configuration reloaded');
    watcher.set(watched());
    return { applied: true, sessionsEnded: ended };
  };
  const watcher = new ReloadWatcher(() => void reload());
  watcher.set(watched());
  try {
    await operations.attach({
      core,
      frontEnd,
      security,
      brokerName: b.name,
      ...(executor?.writeLatency ? { logWriteLatency: executor.writeLatency } : {}),
      reload,
    });
  } catch (err) {
    // e.g. the admin port is taken: nothing half-started stays behind.
    watcher.close();
    await operations.stop();
    await frontEnd.close();
    await stateStore.stop();
    await core.close();
    security.close();
    throw err;
  }
  const sys = new SysTopics(core, b.sysIntervalSeconds, frontEnd);
  log.info({ broker: b.name, dataDir, durability: b.durability }, 'edgemq started');

  return {
    config,
    frontEnd,
    core,
    operations,
    async stop() {
      await operations.stop();
      watcher.close();
      sys.close();
      await frontEnd.close();
      await stateStore.stop();
      await core.close();
      security.close();
    },
  };
}
