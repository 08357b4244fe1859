/**
 * What a client-facing process runs in front of its BrokerCore, whichever core that is: security
 * (TLS, authentication, authorization, with live reload of resources and secrets), the MQTT front
 * end on the configured listeners, the state-store (DSS) responder and the `$SYS` publisher.
 * `edgemq serve` puts it in front of LocalBrokerCore; a cluster's front end in front of
 * RemoteBrokerCore.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { appliedFileOf, loadServeConfig } from '../config/applied.js';
import type { LoadedConfig } from '../config/model.js';
import type { BrokerCore } from '../core/broker-core.js';
import { FrontEnd } from '../frontend/frontend.js';
import { SysTopics } from '../observability/sys-topics.js';
import { Security } from '../security/security.js';
import { ReloadWatcher } from '../security/watch.js';
import { StateStoreResponder } from '../statestore/responder.js';
import { startOperations, type AttachOptions, type Operations, type OperationsOptions } from './operations.js';

export interface FrontDoorOptions {
  configFiles: string[];
  /** Port of the default listener when no config names one. */
  port?: number;
  /** Added to every listener port (front end i of a local cluster). */
  portOffset?: number;
  host: string;
  dataDir: string;
  secretsDir: string;
  allowAnonymous: boolean;
  log: Logger;
  /** Cluster: this front end's responder client id, answering its own clients' requests (see StateStoreResponder). */
  stateStore?: { clientId: string; local: true };
  /** Plain TCP connections read into one shared buffer (util/shared-reads.ts): a cluster front end, whose core keeps no payload. */
  sharedReads?: boolean;
}

/**
 * Loads the resources, with those applied through the admin API laid over them (config/applied.ts),
 * and every listener port moved by `portOffset`.
 */
export function loadFrontConfig(configFiles: string[], dataDir: string, port: number | undefined, portOffset = 0): LoadedConfig {
  const config = loadServeConfig(configFiles, dataDir, { port }).config;
  if (portOffset !== 0) for (const l of config.listeners) for (const p of l.ports) p.port += portOffset;
  return config;
}

export interface PrepareOptions extends Omit<FrontDoorOptions, 'log' | 'dataDir' | 'secretsDir'> {
  dataDir: string;
  secretsDir?: string;
  /** The logger, or how to make it once the Broker resource (and its log level) is read. */
  log: Logger | ((config: LoadedConfig) => Logger);
}

/**
 * Reads the resources, makes the data directory and builds the front door's security: every
 * client-facing process starts like this, before any state opens.
 */
export function prepareFrontDoor(opts: PrepareOptions): { config: LoadedConfig; log: Logger; dataDir: string; door: FrontDoor } {
  const dataDir = path.resolve(opts.dataDir);
  const config = loadFrontConfig(opts.configFiles, dataDir, opts.port, opts.portOffset);
  const log = typeof opts.log === 'function' ? opts.log(config) : opts.log;
  for (const w of config.warnings) log.warn(w);
  mkdirSync(dataDir, { recursive: true });
  const door = new FrontDoor(config, { ...opts, dataDir, log, secretsDir: opts.secretsDir ?? defaultSecretsDir(opts.configFiles) });
  return { config, log, dataDir, door };
}

/** `secrets/` beside the (first) config file; for a config folder, inside it; else in the working directory. */
export function defaultSecretsDir(configFiles: string[]): string {
  const first = configFiles[0];
  if (first === undefined) return path.resolve('secrets');
  const isDir = existsSync(first) && statSync(first).isDirectory();
  return path.join(isDir ? path.resolve(first) : path.dirname(path.resolve(first)), 'secrets');
}

/** What a reload did: the admin API's "apply" reports it to the caller. */
export interface ReloadOutcome {
  applied: boolean;
  sessionsEnded: number;
  error?: string;
}

export class FrontDoor {
  readonly security: Security;
  frontEnd: FrontEnd | undefined;
  private stateStore: StateStoreResponder | undefined;
  private watcher: ReloadWatcher | undefined;
  private sys: SysTopics | undefined;

  /** Security first: a listener that may not start (e.g. anonymous on a public address) stops us before any state opens. */
  constructor(
    readonly config: LoadedConfig,
    private readonly opts: FrontDoorOptions,
  ) {
    this.security = new Security(config, {
      secretsDir: path.resolve(opts.secretsDir),
      dataDir: opts.dataDir,
      host: opts.host,
      allowAnonymous: opts.allowAnonymous,
      log: opts.log.child({ component: 'security' }),
    });
  }

  /** Where secrets and ConfigMaps named by resources are read (`<dir>/<name>/<key>`). */
  get secretsDir(): string {
    return path.resolve(this.opts.secretsDir);
  }

  async open(core: BrokerCore): Promise<FrontEnd> {
    const { config, opts, security } = this;
    const b = config.broker;
    const log = opts.log;
    // The state store (DSS) answers MQTT 5 requests as an in-process client; key authorization: `authorize` hook (security room).
    const stateStore = new StateStoreResponder({
      core,
      log: log.child({ component: 'statestore' }),
      authorize: (clientId, key, access) => security.authorizeKey(frontEnd.portChannelsOf(clientId), clientId, key, access),
      ...(opts.stateStore ?? {}),
    });
    await stateStore.start();
    this.stateStore = stateStore;
    const frontEnd = new FrontEnd({ core, limits: b.clients, listeners: config.listeners, host: opts.host, log, security: security.forPort, sharedReads: opts.sharedReads === true });
    this.frontEnd = frontEnd;
    try {
      await frontEnd.start();
    } catch (err) {
      await frontEnd.close();
      await stateStore.stop().catch(() => {});
      throw err;
    }
    // Configuration and secret changes apply without restart: new connections at once, and live
    // sessions the new rules no longer allow are ended. The admin API's "apply" comes this way too.
    const watcher = new ReloadWatcher(() => void this.reload());
    this.watcher = watcher;
    watcher.set(this.watched());
    this.sys = new SysTopics(core, b.sysIntervalSeconds, frontEnd);
    return frontEnd;
  }

  private watched(): string[] {
    return [...this.opts.configFiles, appliedFileOf(this.opts.dataDir), ...this.security.watchedFolders()];
  }

  /** Re-reads resources and secrets and applies them to live connections (file change or admin "apply"). */
  reload(): ReloadOutcome {
    const { opts, security, frontEnd } = this;
    let next: LoadedConfig;
    try {
      next = loadFrontConfig(opts.configFiles, opts.dataDir, opts.port, opts.portOffset);
    } catch (err) {
      opts.log.error({ err: (err as Error).message }, 'configuration change not applied');
      return { applied: false, sessionsEnded: 0, error: (err as Error).message };
    }
    const ended = frontEnd ? security.reload(next, frontEnd.portChannels()) : 0;
    opts.log.info({ ended }, 'security configuration reloaded');
    this.watcher?.set(this.watched());
    return { applied: true, sessionsEnded: ended };
  }

  /** Stops everything in front of the core; the caller closes the core afterwards. */
  async close(): Promise<void> {
    this.watcher?.close();
    this.sys?.close();
    await this.frontEnd?.close();
    await this.stateStore?.stop().catch(() => {});
    this.security.close();
  }
}

/**
 * Metrics, probes and the admin API of a client-facing process, started before its state opens so
 * /readyz reports the wait; if they cannot start (a port taken), the door closes with them.
 */
export async function startDoorOperations(door: FrontDoor, o: Omit<OperationsOptions, 'secretsDir'>): Promise<Operations> {
  try {
    return await startOperations({ ...o, secretsDir: door.secretsDir });
  } catch (err) {
    await door.close();
    throw err;
  }
}

/**
 * Opens the listeners in front of `core` and hands the running parts to operations. When that
 * fails (a listener or the admin port is taken), nothing half-started stays behind.
 */
export async function openDoor(
  door: FrontDoor,
  core: AttachOptions['core'],
  operations: Operations,
  attach: Omit<AttachOptions, 'core' | 'frontEnd' | 'security' | 'reload'>,
  /** Runs first: what the core needs before clients may connect (a cluster front end: every partition reached). */
  coreReady?: () => Promise<void>,
): Promise<FrontEnd> {
  try {
    await coreReady?.();
    const frontEnd = await door.open(core);
    await operations.attach({ ...attach, core, frontEnd, security: door.security, reload: () => door.reload() });
    return frontEnd;
  } catch (err) {
    await stopDoor(operations, door, core);
    throw err;
  }
}

/** Stops a client-facing process in order: operations first (probes fail), then listeners, then state. */
export async function stopDoor(operations: Operations, door: FrontDoor, core: BrokerCore): Promise<void> {
  await operations.stop();
  await door.close();
  await core.close();
}
