/**
 * `edgemq cluster`: a whole cluster on one machine as separate OS processes under one supervisor:
 * a local etcd (unless `--etcd`), the coordinator, P back ends and F front ends. Front end i serves
 * the default listener on port N + i (each configured listener port + i with `--config`).
 * `cluster status` prints cluster.json with the map from etcd; `cluster scale --frontends F` asks the
 * running supervisor, over a Unix socket in the data dir, to add or remove front ends.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, chmodSync } from 'node:fs';
import net from 'node:net';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { loadConfig } from '../config/load.js';
import { Balancer } from '../cluster/balancer.js';
import { roleNodeFlags } from '../cluster/role-flags.js';
import { localEtcdArgs, localEtcdEndpoint } from '../cluster/local-etcd.js';
import type { ClusterMap } from '../cluster/map.js';
import { EtcdStore } from '../cluster/store/etcd-store.js';
import { StoreMapSource } from '../cluster/store/map-source.js';
import { CLUSTER_FILE, Supervisor, type ClusterFile, type ProcessSpec } from '../cluster/supervisor.js';
import { ensureToken } from '../cluster/token.js';
import { scaleStep } from '../cluster/handover.js';
import { createLogger } from '../observability/logger.js';
import { pinnablePort } from '../util/free-port.js';
import { inNamespace, namespacePlan } from './cluster-netns.js';
import { clusterShape } from './roles.js';
import { endpointsFlag, intFlag, logLevelFlag, portFlag, UsageError } from './usage.js';

export const CLUSTER_USAGE = `cluster [flags]     run a local cluster: etcd, coordinator, P back ends, F front ends, supervised
  --frontends F      front ends (default: the Broker's cardinality.frontend.replicas when mode is distributed, else 1)
  --partitions P     partitions, one back end each (default: cardinality.backendChain.partitions, else 1)
  --redundancy R     replicas per partition chain, each in its own back end (max(P, R) back ends run)
  --data-dir DIR     cluster state: cluster.json, cluster.token, etcd/, backend-<i>/, frontend-<i>/ (default ./data)
  --host ADDR        client bind address of the front ends (default 127.0.0.1)
  --port N           front end i listens on N + i (default 1883; 0 = a free port each)
  --balance-port M   also accept clients on M and hand each connection to the next front end (0 = a free port)
  --metrics-port 0   serve no /metrics, /healthz, /readyz (default: each role process on its own free port, in cluster.json)
  --admin-port 0     serve no admin API (default: each front end on its own free port, in cluster.json)
  --etcd URLS        use these running etcd endpoints instead of starting one
  --etcd-prefix P    key prefix of this cluster in etcd (default /edgemq/)
  --config FILE, --secrets-dir DIR, --log-level LEVEL, --allow-anonymous   passed to every role
cluster status [--data-dir DIR]            print cluster.json with the leading coordinator and the cluster map from etcd
cluster scale [--frontends F] [--partitions P] [--data-dir DIR]
                   add or remove front ends, or partitions (live: slot ranges move with their
                   sessions and keys, see README "Live re-partitioning"); returns when done
`;

const SOCKET = 'supervisor.sock';
/** How long `cluster scale --partitions` waits for the coordinator to finish the handovers. */
const SCALE_TIMEOUT_MS = 120_000;

export async function runCluster(args: string[]): Promise<void> {
  if (args[0] === 'status') return status(args.slice(1));
  if (args[0] === 'scale') return scale(args.slice(1));
  return startCluster(args);
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

function readClusterFile(dataDir: string): ClusterFile | undefined {
  const file = path.join(dataDir, CLUSTER_FILE);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as ClusterFile;
}

async function startCluster(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      frontends: { type: 'string' },
      partitions: { type: 'string' },
      redundancy: { type: 'string' },
      'data-dir': { type: 'string', default: 'data' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '1883' },
      'balance-port': { type: 'string' },
      etcd: { type: 'string' },
      'etcd-prefix': { type: 'string', default: '/edgemq/' },
      config: { type: 'string', multiple: true },
      'secrets-dir': { type: 'string' },
      'log-level': { type: 'string' },
      'allow-anonymous': { type: 'boolean', default: false },
      'metrics-port': { type: 'string' },
      'admin-port': { type: 'string' },
    },
    strict: true,
  });
  const level = logLevelFlag(values['log-level']);
  const log = createLogger(level ?? 'info').child({ node: 'supervisor' });
  const configFiles = (values.config ?? []).map((f) => path.resolve(f));
  const shape = clusterShape(configFiles, values, log);
  if (shape.frontends < 1) throw new UsageError('--frontends: a cluster needs at least 1 front end');
  const basePort = portFlag('port', values.port)!;
  const balancePort = portFlag('balance-port', values['balance-port']);
  const host = values.host!;
  const metricsOn = offFlag('metrics-port', values['metrics-port']);
  const adminOn = offFlag('admin-port', values['admin-port']);
  // Each process its own port, pinned for its restarts like its other ports (on the address it serves).
  const opsPorts = async (at: string, admin: boolean): Promise<{ spec: Pick<ProcessSpec, 'metricsPort' | 'adminPort'>; args: string[] }> => {
    const metricsPort = metricsOn ? await pinnablePort(at) : 0;
    const adminPort = admin && adminOn ? await pinnablePort(at) : 0;
    return {
      spec: { ...(metricsPort ? { metricsPort } : {}), ...(adminPort ? { adminPort } : {}) },
      args: ['--metrics-port', String(metricsPort), ...(admin ? ['--admin-port', String(adminPort)] : [])],
    };
  };
  const dataDir = path.resolve(values['data-dir']!);
  mkdirSync(dataDir, { recursive: true });
  const previous = readClusterFile(dataDir);
  if (previous?.supervisor.running && previous.supervisor.pid !== process.pid && isAlive(previous.supervisor.pid)) {
    throw new UsageError(`--data-dir: a cluster is already running in ${dataDir} (supervisor pid ${previous.supervisor.pid})`);
  }
  if (previous) stopLeftovers(previous, dataDir, log);
  const tokenFile = ensureToken(dataDir);
  // The default listener ports of each front end; with --config, every configured port shifted by i.
  const configuredPorts = configFiles.length > 0 ? loadConfig(configFiles, basePort ? { port: basePort } : {}).listeners.flatMap((l) => l.ports.map((p) => p.port)) : undefined;

  const self = [...process.execArgv, process.argv[1]!];
  // Every replica of a chain in its own process: a SIGKILL takes at most one replica of each partition.
  const backendCount = Math.max(shape.partitions, shape.redundancy);
  // Front ends and back ends hold whole streams in flight: a larger young generation; and GC on one
  // thread when the processes started here fill the CPUs (role-flags.ts). Counted once, at start.
  const processes = backendCount + shape.frontends + 1 + (values.etcd === undefined ? 1 : 0);
  const roleSelf = [...roleNodeFlags(process.execArgv, { processes, cpus: availableParallelism() }), process.argv[1]!];
  const common = [...(level ? ['--log-level', level] : []), ...configFiles.flatMap((f) => ['--config', f]), ...(values['secrets-dir'] ? ['--secrets-dir', path.resolve(values['secrets-dir'])] : [])];

  // Test hook: back ends in network namespaces the caller prepared (cluster-netns.ts).
  const netns = namespacePlan();
  let endpoints: string[];
  if (values.etcd === undefined && !onPath('etcd')) {
    throw new UsageError('--etcd: no etcd endpoints given and no `etcd` on PATH to start one (Debian: apt-get install etcd-server)');
  }
  const etcdSpec: ProcessSpec | undefined = values.etcd === undefined ? await (async () => {
    // Reuse the previous ports when possible: the etcd member's peer URL is recorded in its data dir.
    const prev = previous?.processes.find((p) => p.role === 'etcd');
    const clientPort = prev?.clientPorts?.[0] ?? (await pinnablePort('127.0.0.1'));
    const peerPort = prev?.peerPort ?? (await pinnablePort('127.0.0.1'));
    return { role: 'etcd', id: 'etcd', command: 'etcd', args: localEtcdArgs({ dataDir: path.join(dataDir, 'etcd'), clientPort, peerPort, ...(netns ? { alsoListenOn: [netns.etcdHost] } : {}) }), host: '127.0.0.1', clientPorts: [clientPort], peerPort } satisfies ProcessSpec;
  })() : undefined;
  if (etcdSpec) endpoints = [localEtcdEndpoint({ clientPort: etcdSpec.clientPorts![0]! })];
  else endpoints = endpointsFlag('etcd', values.etcd!);
  const etcdFlags = ['--etcd', endpoints.join(','), '--etcd-prefix', values['etcd-prefix']!];

  // The supervisor's own store client: it follows the map (partitions in cluster.json) and removes
  // the membership of a back end it saw die.
  const store = new EtcdStore({ endpoints, prefix: values['etcd-prefix']!, log });
  let frontendCount = shape.frontends;
  let partitionCount = shape.partitions;
  let lastMap: ClusterMap | undefined;
  let balancer: { port: number; server: Balancer } | undefined;
  const supervisor = new Supervisor({
    dataDir,
    log,
    describe: () => ({
      dataDir,
      tokenFile,
      etcd: { endpoints, prefix: values['etcd-prefix'], managed: etcdSpec !== undefined },
      frontends: frontendCount,
      ...(balancer ? { balancer: { host, port: balancer.port } } : {}),
      partitions: partitionCount,
      redundancy: shape.redundancy,
    }),
    partitionsOf: (id) => (lastMap ? lastMap.partitions.filter((p) => p.chain.includes(id)).map((p) => p.id) : undefined),
    // Another program took a metrics or admin port while the process was down: new ones, picked as
    // at the start (cluster.json lists them). Its client and internal ports stay: they are the contract.
    opsPortTaken: async (spec) => {
      if (!spec.args.includes('--metrics-port')) return spec; // etcd: not ours to move
      const frontend = spec.role === 'frontend';
      const ops = await opsPorts(frontend ? host : '127.0.0.1', frontend);
      const args = [...spec.args];
      for (let i = 0; i < ops.args.length; i += 2) args[args.indexOf(ops.args[i]!) + 1] = ops.args[i + 1]!;
      return { ...spec, metricsPort: undefined, adminPort: undefined, ...ops.spec, args };
    },
    // A back end that died leaves its chains now rather than when its lease expires (3 s): the
    // head's successor takes over at once. Its restart registers again and rejoins at the tail.
    died: (spec, pid) => {
      if (spec.role !== 'backend') return;
      store.forgetMember(spec.id, pid).then(
        (done) => done && log.info({ id: spec.id, pid }, 'removed the membership of a dead back end'),
        (err: Error) => log.warn({ id: spec.id, err: err.message }, 'cannot remove the membership of a dead back end; its lease will expire'),
      );
    },
  });

  const frontendSpec = async (i: number): Promise<ProcessSpec> => {
    const id = `frontend-${i}`;
    let port = basePort;
    let offset = i;
    if (basePort === 0 && !configuredPorts) {
      port = await pinnablePort(host);
      offset = 0;
    }
    const clientPorts = configuredPorts ? configuredPorts.map((p) => p + i) : [port + offset];
    const ops = await opsPorts(host, true);
    const args = [...roleSelf, 'frontend', '--id', id, ...etcdFlags, '--token-file', tokenFile, '--data-dir', path.join(dataDir, id), '--host', host, '--port-offset', String(offset), ...(configuredPorts ? [] : ['--port', String(port)]), ...(values['allow-anonymous'] ? ['--allow-anonymous'] : []), ...ops.args, ...common];
    // A front end accepts no internal connections (it dials the back ends), so it has no internal port.
    return { role: 'frontend', id, command: process.execPath, args, host, clientPorts, ...ops.spec };
  };

  // The balancer first: a port it cannot bind stops us before any process is started.
  if (balancePort !== undefined) {
    const server = new Balancer(() => supervisor.ids('frontend').map((id) => ({ host: host === '0.0.0.0' ? '127.0.0.1' : host, port: supervisor.spec(id)!.clientPorts![0]! })), log);
    try {
      balancer = { server, port: await server.listen(balancePort, host) };
    } catch (err) {
      throw new UsageError(`--balance-port: cannot listen on ${host}:${balancePort}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  if (etcdSpec) supervisor.start(etcdSpec);
  const coordinatorOps = await opsPorts('127.0.0.1', false);
  supervisor.start({ role: 'coordinator', id: 'coordinator-0', command: process.execPath, args: [...self, 'coordinator', '--id', 'coordinator-0', ...etcdFlags, '--token-file', tokenFile, '--partitions', String(shape.partitions), '--redundancy', String(shape.redundancy), '--backends', String(backendCount), ...coordinatorOps.args, ...(level ? ['--log-level', level] : [])], host: '127.0.0.1', ...coordinatorOps.spec });
  for (let i = 0; i < backendCount; i++) {
    const id = `backend-${i}`;
    const internalPort = await pinnablePort('127.0.0.1');
    // In a namespace, the back end reaches the local etcd at the plan's address, not loopback.
    const etcd = netns?.backends[i] && etcdSpec ? ['--etcd', localEtcdEndpoint({ clientPort: etcdSpec.clientPorts![0]!, host: netns.etcdHost }), '--etcd-prefix', values['etcd-prefix']!] : etcdFlags;
    const ops = await opsPorts('127.0.0.1', false);
    const run = inNamespace(netns, i, process.execPath, [...roleSelf, 'backend', '--id', id, ...etcd, '--token-file', tokenFile, '--data-dir', path.join(dataDir, id), '--internal-port', String(internalPort), ...ops.args, ...common]);
    supervisor.start({ role: 'backend', id, command: run.command, args: run.args, host: run.host ?? '127.0.0.1', internalPort, ...ops.spec });
  }
  for (let i = 0; i < frontendCount; i++) supervisor.start(await frontendSpec(i));

  // The supervisor follows the map only to report partitions in cluster.json; it serves nothing.
  const source = await StoreMapSource.open(store, { log });
  source.onChange((m) => {
    lastMap = m;
    supervisor.write();
  });

  const scaleTo = async (n: number): Promise<void> => {
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`frontends: ${n} is not an integer from 1 to 64`);
    for (let i = frontendCount; i < n; i++) supervisor.start(await frontendSpec(i));
    for (let i = frontendCount - 1; i >= n; i--) await supervisor.remove(`frontend-${i}`);
    frontendCount = n;
    supervisor.write();
    log.info({ frontends: n }, 'scaled');
  };
  // The coordinator moves the map to the requested count (src/cluster/handover.ts); the answer waits for it.
  const scalePartitions = async (n: number): Promise<void> => {
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`partitions: ${n} is not an integer from 1 to 64`);
    await store.requestPartitions(n);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`partitions: the map did not reach ${n} partitions within ${SCALE_TIMEOUT_MS / 1000} s (see cluster status; the coordinator keeps going)`)), SCALE_TIMEOUT_MS)));
    try {
      await Promise.race([source.waitFor((m) => !m.moving && scaleStep(m, n, shape.redundancy) === null), late]);
    } finally {
      clearTimeout(timer);
    }
    partitionCount = n;
    supervisor.write();
    log.info({ partitions: n }, 'scaled');
  };
  const control = serveControl(path.join(dataDir, SOCKET), log, async (req) => {
    if (req.op === 'scale') {
      if (req.frontends !== undefined) await scaleTo(Number(req.frontends));
      if (req.partitions !== undefined) await scalePartitions(Number(req.partitions));
      return supervisor.file();
    }
    throw new Error(`unknown request "${String(req.op)}"`);
  });
  log.info({ dataDir, frontends: frontendCount, partitions: shape.partitions, etcd: endpoints }, 'cluster started');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping the cluster');
    control.close();
    void (async () => {
      await balancer?.server.close();
      await source.close().catch(() => {});
      await store.close().catch(() => {});
      await supervisor.stopAll(['frontend', 'backend', 'coordinator', 'etcd']);
      rmSync(path.join(dataDir, SOCKET), { force: true });
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** `--metrics-port`/`--admin-port` of a local cluster: only 0 (off); by default every process gets its own port. */
function offFlag(flag: string, v: string | undefined): boolean {
  if (v === undefined) return true;
  if (portFlag(flag, v) === 0) return false;
  throw new UsageError(`--${flag}: only 0 (off) is accepted: every process of a local cluster gets its own free port, listed in cluster.json`);
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir !== '' && existsSync(path.join(dir, command)));
}

/**
 * Processes of an earlier supervisor that was SIGKILLed may still hold the ports and data dirs
 * (etcd does not notice its parent going; the roles do within a second). Those still alive whose
 * command line names this data dir (so a reused pid is never hit) are killed before we start.
 */
function stopLeftovers(previous: ClusterFile, dataDir: string, log: Logger): void {
  for (const p of previous.processes) {
    if (!p.pid || !isAlive(p.pid)) continue;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (!cmdline.includes(dataDir)) continue;
    log.warn({ id: p.id, pid: p.pid }, 'stopping a process left by an earlier supervisor');
    process.kill(p.pid, 'SIGKILL');
  }
}

/** A line-JSON request/response server on a Unix socket only the owner may open (0600). */
function serveControl(file: string, log: Logger, handle: (req: Record<string, unknown>) => Promise<unknown>): net.Server {
  rmSync(file, { force: true });
  const server = net.createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      buf = '';
      void (async () => {
        try {
          const result = await handle(JSON.parse(line) as Record<string, unknown>);
          sock.end(`${JSON.stringify({ ok: true, result })}\n`);
        } catch (err) {
          sock.end(`${JSON.stringify({ ok: false, error: (err as Error).message })}\n`);
        }
      })();
    });
    sock.on('error', () => {});
  });
  server.on('error', (err) => log.error({ err: err.message }, 'supervisor control socket failed'));
  server.listen(file, () => chmodSync(file, 0o600));
  return server;
}

async function request(dataDir: string, req: Record<string, unknown>): Promise<unknown> {
  const file = path.join(dataDir, SOCKET);
  return new Promise((resolve, reject) => {
    const sock = net.connect(file);
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${JSON.stringify(req)}\n`));
    sock.on('data', (d: string) => (buf += d));
    sock.on('error', (err) => reject(new UsageError(`--data-dir: no running cluster supervisor in ${dataDir} (${(err as NodeJS.ErrnoException).code ?? err.message})`)));
    sock.on('end', () => {
      try {
        const res = JSON.parse(buf) as { ok: boolean; result?: unknown; error?: string };
        if (res.ok) resolve(res.result);
        else reject(new UsageError(`cluster scale: ${res.error}`));
      } catch {
        reject(new Error('cluster supervisor sent no answer'));
      }
    });
  });
}

async function scale(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { frontends: { type: 'string' }, partitions: { type: 'string' }, 'data-dir': { type: 'string', default: 'data' } }, strict: true });
  const n = intFlag('frontends', values.frontends, 1, 64);
  const p = intFlag('partitions', values.partitions, 1, 64);
  if (n === undefined && p === undefined) throw new UsageError('--frontends or --partitions: required (the new number of front ends or partitions)');
  const result = await request(path.resolve(values['data-dir']!), { op: 'scale', ...(n !== undefined ? { frontends: n } : {}), ...(p !== undefined ? { partitions: p } : {}) });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

/** cluster.json with the map from etcd (`map: null` and `mapError` when etcd does not answer). */
async function status(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { 'data-dir': { type: 'string', default: 'data' } }, strict: true });
  const dataDir = path.resolve(values['data-dir']!);
  const file = readClusterFile(dataDir);
  if (!file) throw new UsageError(`--data-dir: no ${CLUSTER_FILE} in ${dataDir} (was \`edgemq cluster\` started there?)`);
  const running = file.supervisor.running && isAlive(file.supervisor.pid);
  const etcd = file.etcd as { endpoints: string[]; prefix?: string };
  let map: ClusterMap | null = null;
  let leader: string | null = null;
  let mapError: string | undefined;
  const store = new EtcdStore({ endpoints: etcd.endpoints, ...(etcd.prefix ? { prefix: etcd.prefix } : {}) });
  try {
    [map, leader] = await Promise.all([store.readMap().then((m) => m?.value ?? null), store.leader()]);
    if (!map) mapError = 'no map yet (the coordinator has not written one)';
  } catch (err) {
    mapError = (err as Error).message;
  } finally {
    await store.close();
  }
  const out = { ...file, supervisor: { ...file.supervisor, running }, leader, map, ...(mapError ? { mapError } : {}) };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}
