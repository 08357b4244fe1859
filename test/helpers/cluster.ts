/**
 * A real local cluster for a test: `edgemq cluster` (supervisor, etcd, coordinator, P back ends,
 * F front ends as separate OS processes) on free ports in a temporary data dir, with its
 * balancer as the single client address. Tests read pids and ports from cluster.json, SIGKILL
 * single processes with `kill(role, i)` and wait for the supervisor to restart them.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ClusterMap } from '../../src/cluster/map.js';
import { EtcdStore } from '../../src/cluster/store/etcd-store.js';
import type { ClusterFile, ProcessEntry, ProcessRole } from '../../src/cluster/supervisor.js';
import { edgemqCommand, repoRoot, waitForPort } from './broker.js';

export interface ClusterOptions {
  frontends?: number;
  partitions?: number;
  /** YAML resources passed with --config. */
  config?: string;
  args?: string[];
  /** Wait until every front end and the balancer accept connections (needs the data plane). */
  waitReady?: boolean;
  dataDir?: string;
  /** Port of the balancer (default: a free one). */
  balancePort?: number;
  env?: Record<string, string>;
}

export interface TestCluster {
  dataDir: string;
  /** The balancer: one address for all front ends (connections handed out in turn). */
  port: number;
  url: string;
  frontendUrls(): string[];
  supervisor: ChildProcess;
  file(): ClusterFile;
  entry(role: ProcessRole, i: number): ProcessEntry;
  /** SIGKILL the i-th process of a role; returns its pid. */
  kill(role: ProcessRole, i: number): Promise<number>;
  /** Waits until the supervisor has restarted it (a new pid, listening again for front ends). */
  waitRestarted(role: ProcessRole, i: number, oldPid: number): Promise<ProcessEntry>;
  status(): Promise<Record<string, unknown> & { map: unknown }>;
  /** The map as etcd holds it now (in-process read; null when etcd does not answer). */
  map(): Promise<ClusterMap | null>;
  cli(...args: string[]): Promise<string>;
  output(): string;
  /** SIGKILL the whole process group (supervisor and children). */
  killAll(): Promise<void>;
  stop(): Promise<void>;
}

export async function until<T>(what: string, f: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

export async function startCluster(opts: ClusterOptions = {}): Promise<TestCluster> {
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'edgemq-cluster-'));
  const args = ['cluster', '--data-dir', dataDir, '--port', '0', '--balance-port', String(opts.balancePort ?? 0), '--frontends', String(opts.frontends ?? 2), '--partitions', String(opts.partitions ?? 2), '--log-level', process.env.EDGEMQ_TEST_LOG ?? 'warn'];
  if (opts.config) {
    const file = path.join(dataDir, 'config.yaml');
    writeFileSync(file, opts.config);
    args.push('--config', file);
  }
  args.push(...(opts.args ?? []));
  const c = edgemqCommand(args);
  // Its own process group, so killAll reaches the children even after the supervisor is gone.
  const supervisor = spawn(c.cmd, c.args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, ...opts.env } });
  // Whatever happens to the test (a hook timing out leaves this promise running), the cluster dies with the worker.
  const reap = () => {
    try {
      process.kill(-supervisor.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  process.once('exit', reap);
  let out = '';
  supervisor.stdout!.on('data', (d) => (out += d));
  supervisor.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => supervisor.once('exit', () => r()));
  const clusterJson = path.join(dataDir, 'cluster.json');
  const file = (): ClusterFile => JSON.parse(readFileSync(clusterJson, 'utf8')) as ClusterFile;
  const entry = (role: ProcessRole, i: number): ProcessEntry => {
    const e = file().processes.filter((p) => p.role === role)[i];
    if (!e) throw new Error(`no ${role} #${i} in cluster.json`);
    return e;
  };
  const killAll = async () => {
    try {
      process.kill(-supervisor.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
    // Children restarted into the group are in it too; stragglers outside it are killed by pid.
    if (existsSync(clusterJson)) for (const p of file().processes) if (p.pid && alive(p.pid)) process.kill(p.pid, 'SIGKILL');
    await exited;
  };
  // cluster.json is rewritten as processes start: wait for the balancer and every front end in it.
  const started = await until('cluster.json with a balancer and every front end', () => {
    if (!existsSync(clusterJson)) return undefined;
    const f = file() as ClusterFile & { balancer?: { port: number }; frontends?: number };
    return f.processes.filter((p) => p.role === 'frontend').length === f.frontends && f.balancer?.port;
  }, 30_000).catch(async (e: Error) => {
    await killAll();
    throw new Error(`${e.message}\n${out}`);
  });
  const port = started;
  const frontendUrls = () => file().processes.filter((p) => p.role === 'frontend').map((p) => `mqtt://127.0.0.1:${p.clientPorts![0]}`);
  if (opts.waitReady !== false) {
    try {
      for (const p of file().processes.filter((x) => x.role === 'frontend')) await waitForPort(p.clientPorts![0]!, '127.0.0.1', 60_000);
    } catch (e) {
      await killAll();
      throw new Error(`${(e as Error).message}\n${out}`);
    }
  }
  const cli = async (...a: string[]) => {
    const x = edgemqCommand(a);
    const { stdout } = await promisify(execFile)(x.cmd, x.args, { cwd: repoRoot });
    return stdout;
  };
  return {
    dataDir,
    port,
    url: `mqtt://127.0.0.1:${port}`,
    frontendUrls,
    supervisor,
    file,
    entry,
    async kill(role, i) {
      const e = entry(role, i);
      if (!e.pid) throw new Error(`${e.id} is not running`);
      process.kill(e.pid, 'SIGKILL');
      return e.pid;
    },
    async waitRestarted(role, i, oldPid) {
      const e = await until(`${role} #${i} restarted`, () => {
        const x = entry(role, i);
        return x.pid !== null && x.pid !== oldPid && x;
      });
      if (role === 'frontend') await waitForPort(e.clientPorts![0]!, '127.0.0.1', 60_000);
      if (role === 'etcd') await waitForPort(e.clientPorts![0]!, '127.0.0.1', 30_000);
      return e;
    },
    async status() {
      return JSON.parse(await cli('cluster', 'status', '--data-dir', dataDir)) as Record<string, unknown> & { map: unknown };
    },
    async map() {
      const store = new EtcdStore({ endpoints: (file().etcd as { endpoints: string[] }).endpoints });
      try {
        return (await store.readMap())?.value ?? null;
      } catch {
        return null;
      } finally {
        await store.close();
      }
    },
    cli,
    output: () => out,
    killAll,
    async stop() {
      if (supervisor.exitCode === null && supervisor.signalCode === null) {
        supervisor.kill('SIGTERM');
        const t = setTimeout(() => void killAll(), 20_000);
        await exited;
        clearTimeout(t);
      }
      // Anything the supervisor could not stop (it was SIGKILLed) goes now.
      if (existsSync(clusterJson)) for (const p of file().processes) if (p.pid && alive(p.pid)) process.kill(p.pid, 'SIGKILL');
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** True once the data plane (runFrontend/runBackend) is in the tree; cluster tests that need it skip before. */
export const dataPlaneBuilt = existsSync(path.join(repoRoot, 'src/cluster/frontend-role.ts')) && existsSync(path.join(repoRoot, 'src/cluster/backend-role.ts'));
