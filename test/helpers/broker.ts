/**
 * Starts a real broker process for a test and stops it afterwards.
 * Default target: edgemq (`src/cli/main.ts serve` through tsx). `EDGEMQ_TEST_TARGET=mosquitto` runs the
 * same tests against Debian's Mosquitto, which is how tests are checked against a reference broker;
 * tests that depend on edgemq-only configuration call `onlyEdgemq()` to skip there.
 * `EDGEMQ_TEST_TARGET=cluster` runs them against a local cluster (`edgemq cluster`, F = 2, P = 2),
 * reached through its balancer, which hands successive connections to alternating front ends, so
 * the clients of one test are spread across both.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const target = process.env.EDGEMQ_TEST_TARGET ?? 'edgemq';
export const isCluster = target === 'cluster';
export const isEdgemq = target === 'edgemq' || isCluster;

export interface BrokerOptions {
  /** YAML resources (Broker, BrokerListener...) written to a file and passed with --config. */
  config?: string;
  /** Extra CLI flags for `edgemq serve`. */
  args?: string[];
  /** Reuse a data directory (restart tests). */
  dataDir?: string;
  /** Fixed port (needed when the config names the listener port); default: a free port. */
  port?: number;
  env?: Record<string, string>;
  /** Extra lines for the generated Mosquitto config (when the target is Mosquitto). */
  mosquittoConf?: string[];
}

export interface RunningBroker {
  port: number;
  host: string;
  url: string;
  dataDir: string;
  process: ChildProcess;
  /** Everything the broker printed, for assertions on logs and errors. */
  output(): string;
  stop(): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, host);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`broker did not listen on ${host}:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function edgemqCommand(args: string[]): { cmd: string; args: string[] } {
  return { cmd: process.execPath, args: ['--import', 'tsx', path.join(repoRoot, 'src/cli/main.ts'), ...args] };
}

export async function startBroker(opts: BrokerOptions = {}): Promise<RunningBroker> {
  if (isCluster) return startClusterBroker(opts);
  const port = opts.port ?? (await freePort());
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'edgemq-test-'));
  let out = '';
  let child: ChildProcess;
  if (isEdgemq) {
    const args = ['serve', '--data-dir', dataDir, '--log-level', process.env.EDGEMQ_TEST_LOG ?? 'warn'];
    if (opts.config) {
      const file = path.join(dataDir, `config-${port}.yaml`);
      writeFileSync(file, opts.config);
      args.push('--config', file);
    } else {
      args.push('--port', String(port));
    }
    // Metrics and admin ports default to 9600/9601; test brokers run side by side, so they are off
    // unless a test asks for them (with free ports).
    const extra = opts.args ?? [];
    if (!extra.includes('--metrics-port')) args.push('--metrics-port', '0');
    if (!extra.includes('--admin-port')) args.push('--admin-port', '0');
    args.push(...extra);
    const c = edgemqCommand(args);
    child = spawn(c.cmd, c.args, { cwd: repoRoot, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  } else {
    const conf = path.join(dataDir, 'mosquitto.conf');
    writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'max_queued_messages 100000', ...(opts.mosquittoConf ?? []), ''].join('\n'));
    child = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  }
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await Promise.race([
      waitForPort(port),
      exited.then(() => {
        throw new Error(`broker exited during start-up:\n${out}`);
      }),
    ]);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    port,
    host: '127.0.0.1',
    url: `mqtt://127.0.0.1:${port}`,
    dataDir,
    process: child,
    output: () => out,
    kill,
    stop: async () => {
      await kill('SIGTERM');
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The cluster target: the balancer takes the port the test expects; the front ends listen elsewhere. */
async function startClusterBroker(opts: BrokerOptions): Promise<RunningBroker> {
  const shared = opts.config || opts.dataDir || opts.args || opts.env ? null : await sharedCluster();
  if (shared) {
    // The project's one cluster (test/helpers/cluster-global.ts): stopping it is the teardown's job.
    return {
      port: shared.port,
      host: '127.0.0.1',
      url: `mqtt://127.0.0.1:${shared.port}`,
      dataDir: shared.dataDir,
      process: undefined as unknown as ChildProcess,
      output: () => '',
      kill: async () => {
        throw new Error('the shared test cluster cannot be killed by one test file; start your own with test/helpers/cluster.ts');
      },
      stop: async () => {},
    };
  }
  const { startCluster } = await import('./cluster.js');
  const port = opts.port ?? (await freePort());
  let config = opts.config;
  if (config && opts.port !== undefined) {
    // Configured listener ports are shifted by i per front end; move them off the balancer's port,
    // below Linux's ephemeral range (32768+), where concurrent clusters' `--port 0` front ends and
    // freePort() land: two free ports from there could be taken between our check and the bind.
    let base = 20_000 + Math.floor(Math.random() * 12_000);
    while (!(await isFree(base)) || !(await isFree(base + 1))) base = 20_000 + Math.floor(Math.random() * 12_000);
    config = config.replace(new RegExp(`(\\bport"?\\s*:\\s*)${opts.port}\\b`, 'g'), `$1${base}`);
  }
  const cluster = await startCluster({
    frontends: 2,
    partitions: 2,
    balancePort: port,
    ...(config ? { config } : {}),
    ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
    ...(opts.args ? { args: opts.args } : {}),
    ...(opts.env ? { env: opts.env } : {}),
  });
  return {
    port,
    host: '127.0.0.1',
    url: `mqtt://127.0.0.1:${port}`,
    dataDir: cluster.dataDir,
    process: cluster.supervisor,
    output: () => cluster.output(),
    kill: async (signal: NodeJS.Signals = 'SIGKILL') => (signal === 'SIGKILL' ? cluster.killAll() : cluster.stop()),
    stop: () => cluster.stop(),
  };
}

async function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

async function sharedCluster(): Promise<{ port: number; dataDir: string } | null> {
  const { inject } = await import('vitest');
  return (inject('edgemqCluster') as { port: number; dataDir: string } | undefined) ?? null;
}
