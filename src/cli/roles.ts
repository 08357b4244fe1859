/**
 * `edgemq frontend`, `edgemq backend` and `edgemq coordinator`: one cluster role per process, the
 * unit a Kubernetes deployment runs per container and `edgemq cluster` supervises on one machine.
 * Each parses its flags, connects to the configuration store, registers its membership lease and
 * runs its role: the data plane's runFrontend/runBackend with the store's MapSource, or the
 * coordinator. A clean stop (SIGTERM/SIGINT) drops the lease at once instead of letting it expire.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { loadConfig } from '../config/load.js';
import { Coordinator } from '../cluster/coordinator.js';
import { FixedMapSource, type ClusterMap, type ClusterNode, type MapSource, type NodeRole } from '../cluster/map.js';
import type { RunningRole } from '../cluster/roles.js';
import { EtcdStore } from '../cluster/store/etcd-store.js';
import { StoreMapSource } from '../cluster/store/map-source.js';
import { keepRegistered } from '../cluster/store/keep-registered.js';
import type { ClusterStore, Registration } from '../cluster/store/store.js';
import { MEMBER_LEASE_TTL_SECONDS } from '../cluster/timeouts.js';
import { readToken } from '../cluster/token.js';
import { OpsServer, Readiness } from '../observability/health.js';
import { ClusterClient } from '../cluster/client/cluster-client.js';
import { clusterHandoverLink } from '../cluster/handover-link.js';
import type { HandoverLink } from '../cluster/handover.js';
import { createLogger } from '../observability/logger.js';
import { freePort } from '../util/free-port.js';
import { endpointsFlag, intFlag, logLevelFlag, portFlag, UsageError } from './usage.js';

export const ROLES_USAGE = `frontend | backend flags:
  --id ID            node id, stable across restarts (e.g. frontend-0, backend-1)
  --etcd URLS        etcd client URLs, comma-separated (the cluster map and membership)
  --etcd-prefix P    key prefix of this cluster in etcd (default /edgemq/)
  --token-file FILE  the cluster token (or EDGEMQ_CLUSTER_TOKEN); \`edgemq cluster\` writes <data-dir>/cluster.token
  --data-dir DIR     this node's state (default ./data/<id>)
  --internal-host ADDR  address for internal traffic, bound and advertised (default 127.0.0.1)
  --internal-port N  back ends: port for internal traffic (default 0: a free port)
  --config FILE, --secrets-dir DIR, --log-level LEVEL   as for serve
  --metrics-port N   /metrics, /healthz, /readyz (default: Broker spec.diagnostics.metrics.prometheusPort, 9600; 0 = off);
                     a back end binds it on --internal-host, a front end on --host
frontend only:
  --host ADDR        client-facing bind address (default 127.0.0.1)
  --port N           default listener port when no --config is given (default 1883)
  --port-offset N    added to every configured listener port (front end i of a local cluster: i)
  --allow-anonymous  as for serve
  --admin-port N     admin API and web console (default: Broker spec.edgemq.admin.port, 9601; 0 = off)

coordinator flags:
  --id ID, --etcd URLS, --etcd-prefix P, --log-level LEVEL
  --metrics-port N   /metrics (leadership, process), /healthz, /readyz on 127.0.0.1 (default 0: off)
  --partitions P     partitions of a new cluster (default: the Broker's cardinality.backendChain.partitions, else 1)
  --backends B       back ends to wait for before the first map (default max(P, R))
  --redundancy R     replicas per partition chain (default: cardinality.backendChain.redundancyFactor, else 1)
  --config FILE      Broker resource supplying the cardinality when mode is distributed
`;

const common = {
  id: { type: 'string' },
  etcd: { type: 'string' },
  'etcd-prefix': { type: 'string' },
  map: { type: 'string' }, // hidden: a fixed map from a JSON file instead of etcd (data-plane tests)
  'token-file': { type: 'string' },
  'data-dir': { type: 'string' },
  'internal-host': { type: 'string', default: '127.0.0.1' },
  'internal-port': { type: 'string', default: '0' },
  config: { type: 'string', multiple: true },
  'secrets-dir': { type: 'string' },
  'log-level': { type: 'string' },
  'metrics-port': { type: 'string' },
} as const;

/** Resolves "any free port" before registering, so the membership record is right from the start. */
async function resolvePort(host: string, port: number): Promise<number> {
  return port !== 0 ? port : freePort(host);
}

/** `{key: port}` when the flag is given, else nothing (the Broker resource's port applies). */
function optionalPort<K extends string>(key: K, v: string | undefined, flag: string): Partial<Record<K, number>> {
  const port = portFlag(flag, v);
  return (port === undefined ? {} : { [key]: port }) as Partial<Record<K, number>>;
}

function tokenOf(file: string | undefined): string {
  if (file !== undefined) {
    try {
      return readToken(file);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  const env = process.env.EDGEMQ_CLUSTER_TOKEN;
  if (env !== undefined && env.trim().length >= 16) return env.trim();
  throw new UsageError('--token-file: required (or EDGEMQ_CLUSTER_TOKEN with at least 16 characters): internal traffic is never open');
}

interface Control {
  store?: ClusterStore;
  source: MapSource & { close?(): Promise<void> };
  log: Logger;
}

/** The last cluster map, in each role's data dir: what a restart serves on while etcd is down. */
const MAP_CACHE_FILE = 'cluster-map.json';

async function connect(values: { etcd?: string; 'etcd-prefix'?: string; map?: string }, log: Logger, dataDir: string): Promise<Control> {
  if (values.map !== undefined) {
    if (values.etcd !== undefined) throw new UsageError('--map and --etcd exclude each other');
    let map: ClusterMap;
    try {
      map = JSON.parse(readFileSync(values.map, 'utf8')) as ClusterMap;
    } catch (err) {
      throw new UsageError(`--map: cannot read a cluster map from ${values.map}: ${(err as Error).message}`);
    }
    return { source: new FixedMapSource(map), log };
  }
  if (values.etcd === undefined) throw new UsageError('--etcd: required (the etcd client URLs of the cluster)');
  const store = new EtcdStore({ endpoints: endpointsFlag('etcd', values.etcd), ...(values['etcd-prefix'] ? { prefix: values['etcd-prefix'] } : {}), log });
  mkdirSync(dataDir, { recursive: true });
  return { store, source: await StoreMapSource.open(store, { log, cacheFile: path.join(dataDir, MAP_CACHE_FILE) }), log };
}

/** Waits until the coordinator has put this node in the map, logging while it waits (etcd or the coordinator may be starting). */
async function awaitPlacement(source: MapSource, node: ClusterNode, log: Logger): Promise<void> {
  if (!(source instanceof StoreMapSource)) return;
  const placed = (m: ClusterMap) => m.nodes[node.id]?.internalPort === node.internalPort && m.nodes[node.id]?.host === node.host;
  const timer = setInterval(() => log.info({ id: node.id }, 'waiting for the coordinator to place this node in the cluster map'), 5000);
  try {
    await source.waitFor(placed);
  } finally {
    clearInterval(timer);
  }
}

export async function runRoleCommand(role: NodeRole, args: string[]): Promise<void> {
  if (role === 'coordinator') return runCoordinator(args);
  const { values } = parseArgs({
    args,
    options: {
      ...common,
      ...(role === 'frontend'
        ? { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string' }, 'port-offset': { type: 'string', default: '0' }, 'allow-anonymous': { type: 'boolean', default: false }, 'admin-port': { type: 'string' } }
        : {}),
    },
    strict: true,
  });
  const v = values as Record<string, string | string[] | boolean | undefined>;
  const id = v.id as string | undefined;
  if (!id) throw new UsageError(`--id: required (e.g. ${role}-0)`);
  const level = logLevelFlag(v['log-level'] as string | undefined) ?? 'info';
  const log = createLogger(level).child({ node: id });
  const token = tokenOf(v['token-file'] as string | undefined);
  const host = v['internal-host'] as string;
  // A front end dials the back ends and accepts no internal connections: it advertises no port.
  const internalPort = role === 'frontend' ? 0 : await resolvePort(host, portFlag('internal-port', v['internal-port'] as string)!);
  const dataDir = path.resolve((v['data-dir'] as string | undefined) ?? path.join('data', id));
  const control = await connect(values as { etcd?: string; 'etcd-prefix'?: string; map?: string }, log, dataDir);
  const node: ClusterNode = { id, role, host, internalPort, pid: process.pid };
  let registration: Registration | undefined;
  // Registered in the background: a restart during an etcd outage serves on the cached map meanwhile.
  if (control.store) registration = keepRegistered(control.store, node, MEMBER_LEASE_TTL_SECONDS, log);
  // The advertised record changes after start (ports) and with every installed state transfer; the
  // updates go one after another, so the store never ends with an older record than the last one.
  let record = node;
  let updates = Promise.resolve();
  const advertise = (next: ClusterNode) => {
    record = next;
    updates = updates.then(() => registration?.update(record)).catch((err: Error) => log.warn({ err: err.message }, 'membership record not updated'));
    return updates;
  };
  const installed = (partition: number, epoch: number) => void advertise({ ...record, installed: { ...record.installed, [String(partition)]: epoch } });
  if (role === 'backend') await awaitPlacement(control.source, node, log);
  else if (control.source instanceof StoreMapSource) await control.source.waitFor();

  const base = {
    id,
    host,
    internalPort,
    dataDir,
    token,
    configFiles: (v.config as string[] | undefined) ?? [],
    ...(v['secrets-dir'] !== undefined ? { secretsDir: v['secrets-dir'] as string } : {}),
    mapSource: control.source,
    log,
    ...optionalPort('metricsPort', v['metrics-port'] as string | undefined, 'metrics-port'),
  };
  let running: RunningRole;
  if (role === 'frontend') {
    const port = portFlag('port', v.port as string | undefined);
    const { runFrontend } = await import('../cluster/frontend-role.js');
    running = await runFrontend({
      ...base,
      clientHost: v.host as string,
      portOffset: intFlag('port-offset', v['port-offset'] as string, 0, 65535)!,
      ...(port !== undefined ? { port } : {}),
      allowAnonymous: v['allow-anonymous'] === true,
      ...optionalPort('adminPort', v['admin-port'] as string | undefined, 'admin-port'),
    });
  } else {
    const { runBackend } = await import('../cluster/backend-role.js');
    running = await runBackend({ ...base, installed });
  }
  const advertised: ClusterNode = { ...record, internalPort: running.internalPort, ...(running.clientPorts.length ? { clientPorts: running.clientPorts } : {}) };
  if (registration && JSON.stringify(advertised) !== JSON.stringify(record)) await advertise(advertised);
  log.info({ role, internalPort: running.internalPort, clientPorts: running.clientPorts, metricsPort: running.metricsPort, adminPort: running.adminPort, partitions: running.partitions() }, `${role} started`);
  onStop(log, async () => {
    await registration?.close();
    await running.stop();
    await control.source.close?.();
    await control.store?.close();
  });
}

async function runCoordinator(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      id: { type: 'string', default: 'coordinator-0' },
      etcd: { type: 'string' },
      'etcd-prefix': { type: 'string' },
      partitions: { type: 'string' },
      backends: { type: 'string' },
      redundancy: { type: 'string' },
      config: { type: 'string', multiple: true },
      'log-level': { type: 'string' },
      'metrics-port': { type: 'string' },
      'token-file': { type: 'string' },
    },
    strict: true,
  });
  const log = createLogger(logLevelFlag(values['log-level']) ?? 'info').child({ node: values.id });
  const metricsPort = portFlag('metrics-port', values['metrics-port']) ?? 0;
  if (values.etcd === undefined) throw new UsageError('--etcd: required (the etcd client URLs of the cluster)');
  const shape = clusterShape(values.config ?? [], { partitions: values.partitions, redundancy: values.redundancy }, log);
  const backends = intFlag('backends', values.backends, 1, 1024);
  const store = new EtcdStore({ endpoints: endpointsFlag('etcd', values.etcd), ...(values['etcd-prefix'] ? { prefix: values['etcd-prefix'] } : {}), log });
  const registration = keepRegistered(store, { id: values.id!, role: 'coordinator', host: '127.0.0.1', internalPort: 0, pid: process.pid }, MEMBER_LEASE_TTL_SECONDS, log);
  // Live re-partitioning needs the internal transport (export/import requests to partitions' heads).
  let client: ClusterClient | undefined;
  let source: StoreMapSource | undefined;
  let handover: HandoverLink | undefined;
  if (values['token-file'] !== undefined || process.env.EDGEMQ_CLUSTER_TOKEN) {
    const token = tokenOf(values['token-file']);
    const src = (source = await StoreMapSource.open(store, { log }));
    // Made at the first handover: a client needs a map (current() throws before the first one).
    handover = clusterHandoverLink(() => {
      if (!client) {
        client = new ClusterClient({ nodeId: values.id!, role: 'backend', token, instance: 0, mapSource: src, log: log.child({ component: 'handover' }) });
        client.start();
      }
      return client;
    });
  } else {
    log.info('no --token-file: `cluster scale --partitions` is not acted on by this coordinator');
  }
  const coordinator = new Coordinator({ id: values.id!, store, partitions: shape.partitions, redundancy: shape.redundancy, ...(backends !== undefined ? { backends } : {}), ...(handover ? { handover } : {}), log });
  const ops = metricsPort > 0 ? await coordinatorOperations(coordinator, values.id!, metricsPort, log) : undefined;
  log.info({ partitions: shape.partitions, redundancy: shape.redundancy, metricsPort: ops?.port ?? 0 }, 'coordinator started; campaigning');
  onStop(log, async () => {
    await ops?.close();
    await coordinator.stop();
    client?.stop();
    await source?.close();
    await registration.close();
    await store.close();
  });
}

/**
 * The coordinator's metrics port: process metrics and `edgemq_coordinator_leader`; live and ready
 * while it runs (a standby that is not leading is as healthy as the leader).
 */
async function coordinatorOperations(coordinator: Coordinator, id: string, port: number, log: Logger): Promise<OpsServer> {
  const { processRegistry, scrapedSeries } = await import('../observability/metrics.js');
  const registry = processRegistry({ role: 'coordinator', node: id });
  scrapedSeries('gauge', registry, 'edgemq_coordinator_leader', '1 while this coordinator leads (writes the cluster map), 0 on standby.', [], (put) => put({}, coordinator.leading() ? 1 : 0));
  const readiness = new Readiness();
  readiness.set('coordinator running', true);
  const ops = new OpsServer({ host: '127.0.0.1', port, readiness, metrics: () => ({ scrape: () => registry.metrics(), contentType: registry.contentType }), log, field: '--metrics-port' });
  await ops.start();
  return ops;
}

export interface ClusterShape {
  frontends: number;
  partitions: number;
  redundancy: number;
}

/**
 * F, P and R: flags first, else a Broker with `mode: distributed` (its cardinality), else one of
 * each. R is the chain length of every partition (src/replication): a cluster runs max(P, R) back
 * ends so that the R replicas of a chain sit in R different processes.
 */
export function clusterShape(configFiles: string[], flags: { frontends?: string | undefined; partitions?: string | undefined; redundancy?: string | undefined }, log?: Logger): ClusterShape {
  let fromConfig: ClusterShape = { frontends: 1, partitions: 1, redundancy: 1 };
  if (configFiles.length > 0) {
    const b = loadConfig(configFiles).broker;
    if (b.mode === 'distributed') {
      fromConfig = { frontends: b.cardinality.frontend.replicas, partitions: b.cardinality.backendChain.partitions, redundancy: b.cardinality.backendChain.redundancyFactor };
    }
  }
  void log;
  return {
    frontends: intFlag('frontends', flags.frontends, 0, 64) ?? fromConfig.frontends,
    partitions: intFlag('partitions', flags.partitions, 1, 64) ?? fromConfig.partitions,
    redundancy: intFlag('redundancy', flags.redundancy, 1, 5) ?? fromConfig.redundancy,
  };
}

function onStop(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  // Under `edgemq cluster`, a child whose supervisor is gone (SIGKILLed) stops rather than hold its
  // ports against the next supervisor: it notices being re-parented.
  const supervisor = Number(process.env.EDGEMQ_SUPERVISOR_PID);
  if (Number.isInteger(supervisor) && supervisor > 0) {
    setInterval(() => {
      if (process.ppid !== supervisor) handler('supervisor gone');
    }, 1000).unref();
  }
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    stop()
      .then(() => process.exit(0))
      .catch((err) => {
        log.error({ err: (err as Error).message, signal }, 'error while stopping');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => handler('SIGTERM'));
  process.on('SIGINT', () => handler('SIGINT'));
}
