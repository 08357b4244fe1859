/**
 * Broker launchers for the benchmark. Every broker is its own OS process,
 * started through `bash -c 'ulimit -n <hard limit, max 65536>; exec ...'` so
 * the pid we get is the broker itself (used for /proc CPU/RSS sampling) and
 * it can hold 10k+ sockets.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * `edgemq` runs the default durability (`os`); `edgemq-memory` and `edgemq-fsync` the other modes;
 * `edgemq-base` another build of edgemq (`EDGEMQ_BENCH_BASELINE=<its dist/cli/main.js>`) in the
 * default mode, for before/after figures taken in one alternating run; `edgemq-cluster`: one front
 * end and one partition as separate processes (cluster-server.ts); `edgemq-cluster22`: F = 2, P = 2;
 * `edgemq-cluster-r2` and `edgemq-cluster22-r2`: the same with every partition a chain of R = 2;
 * `edgemq-cluster-base` (`-base-r2`: R = 2): F = 1, P = 1 of another source tree (`EDGEMQ_BENCH_CLUSTER_BASELINE=<its root>`,
 * e.g. `git archive <commit>` unpacked with node_modules linked), for before/after figures in one run.
 */
export type BrokerName = 'mosquitto' | 'aedes' | 'edgemq' | 'edgemq-memory' | 'edgemq-fsync' | 'edgemq-base' | 'edgemq-cluster' | 'edgemq-cluster22' | 'edgemq-cluster-r2' | 'edgemq-cluster22-r2' | 'edgemq-cluster-base' | 'edgemq-cluster-base-r2';
export const ALL_BROKERS: BrokerName[] = ['mosquitto', 'aedes', 'edgemq'];
export const KNOWN_BROKERS: BrokerName[] = ['mosquitto', 'aedes', 'edgemq', 'edgemq-memory', 'edgemq-fsync', 'edgemq-base', 'edgemq-cluster', 'edgemq-cluster22', 'edgemq-cluster-r2', 'edgemq-cluster22-r2', 'edgemq-cluster-base', 'edgemq-cluster-base-r2'];

export const MOSQUITTO_BIN = '/usr/sbin/mosquitto';

export interface BrokerHandle {
  name: BrokerName;
  pid: number;
  port: number;
  child: ChildProcess;
  alive(): boolean;
  stop(): Promise<void>;
  stderrTail(): string;
}

export interface StartOpts {
  repoRoot: string;
  protocol: 4 | 5;
  /** CPU list for taskset (e.g. "0"), or undefined for no pinning */
  cpus?: string;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address() as net.AddressInfo;
      srv.close(() => resolve(a.port));
    });
  });
}

const ULIMIT_WRAP =
  'h=$(ulimit -Hn); if [ "$h" = unlimited ] || [ "$h" -gt 65536 ]; then h=65536; fi; ulimit -n "$h" 2>/dev/null; exec "$@"';

/** Node options on a script's `#!/usr/bin/env -S node ...` line. */
export function shebangFlags(script: string): string[] {
  const first = readFileSync(script, 'utf8').split('\n', 1)[0];
  const m = /^#!.*\bnode\b(.*)$/.exec(first);
  return m ? m[1].trim().split(/\s+/).filter(Boolean) : [];
}

/** spawn a command with raised fd limit (optionally pinned); the returned pid is the exec'd command */
export function spawnWrapped(cmd: string, args: string[], opts: { cwd: string; cpus?: string; env?: NodeJS.ProcessEnv }): ChildProcess {
  const full = opts.cpus ? ['taskset', '-c', opts.cpus, cmd, ...args] : [cmd, ...args];
  return spawn('bash', ['-c', ULIMIT_WRAP, 'bash', ...full], {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function mosquittoVersion(): string {
  try {
    const out = execFileSync(MOSQUITTO_BIN, ['-h'], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    return /version\s+(\S+)/.exec(out)?.[1] ?? 'unknown';
  } catch (e) {
    const out = String((e as { stdout?: Buffer }).stdout ?? '');
    return /version\s+(\S+)/.exec(out)?.[1] ?? 'unknown';
  }
}

function waitListening(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      if (child.exitCode !== null || child.signalCode !== null) {
        reject(new Error(`exited (code ${child.exitCode ?? child.signalCode}) before listening`));
        return;
      }
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() - t0 > timeoutMs) reject(new Error(`not listening on ${port} after ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

export async function startBroker(name: BrokerName, o: StartOpts): Promise<BrokerHandle> {
  const port = await freePort();
  const tmp = mkdtempSync(path.join(os.tmpdir(), `edgemq-bench-${name}-`));
  let cmd: string;
  let args: string[];
  if (name === 'mosquitto') {
    if (!existsSync(MOSQUITTO_BIN)) throw new Error(`${MOSQUITTO_BIN} not found (apt-get install -y mosquitto)`);
    const conf = path.join(tmp, 'mosquitto.conf');
    writeFileSync(
      conf,
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence false',
        // never drop because of per-client queue limits; the generator bounds queues itself
        'max_queued_messages 1000000',
        'max_queued_bytes 0',
        'max_connections -1',
        'set_tcp_nodelay true',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        '',
      ].join('\n'),
    );
    cmd = MOSQUITTO_BIN;
    args = ['-c', conf];
  } else if (name === 'aedes') {
    if (o.protocol === 5) throw new Error('aedes does not support MQTT 5');
    cmd = process.execPath;
    args = ['--import', 'tsx', path.join(o.repoRoot, 'test/bench/aedes-server.ts'), '--port', String(port)];
  } else if (name.startsWith('edgemq-cluster')) {
    const fp = name.startsWith('edgemq-cluster22') ? '2' : '1';
    const shape = ['--frontends', fp, '--partitions', fp, ...(name.endsWith('-r2') ? ['--redundancy', '2'] : [])];
    const baseline = process.env.EDGEMQ_BENCH_CLUSTER_BASELINE;
    const base = name.startsWith('edgemq-cluster-base');
    if (base && !baseline) throw new Error(`${name} needs EDGEMQ_BENCH_CLUSTER_BASELINE=<root of the other source tree>`);
    const root = base ? path.resolve(baseline!) : o.repoRoot;
    cmd = process.execPath;
    args = ['--import', 'tsx', path.join(root, 'test/bench/cluster-server.ts'), '--port', String(port), '--data-dir', tmp, ...shape];
  } else {
    const baseline = process.env.EDGEMQ_BENCH_BASELINE;
    if (name === 'edgemq-base' && !baseline) throw new Error('edgemq-base needs EDGEMQ_BENCH_BASELINE=<dist/cli/main.js of the other build>');
    const dist = name === 'edgemq-base' ? path.resolve(baseline!) : path.join(o.repoRoot, 'dist/cli/main.js');
    const src = path.join(o.repoRoot, 'src/cli/main.ts');
    cmd = process.execPath;
    // EDGEMQ_BENCH_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the broker under the same load.
    const nodeArgs = (process.env.EDGEMQ_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
    // The V8 flags users get come from the edgemq command's shebang (`#!/usr/bin/env -S node <flags>`).
    if (name === 'edgemq-base' && !existsSync(dist)) throw new Error(`EDGEMQ_BENCH_BASELINE: ${dist} does not exist`);
    if (existsSync(dist)) args = [...shebangFlags(dist), ...nodeArgs, dist];
    else if (existsSync(src)) args = [...shebangFlags(src), ...nodeArgs, '--import', 'tsx', src];
    else throw new Error('neither dist/cli/main.js nor src/cli/main.ts exists');
    // warn level: same log volume as the mosquitto config (errors/warnings only)
    args.push('serve', '--data-dir', tmp, '--log-level', 'warn');
    // No metrics or admin port: the bench measures the broker, and a baseline build may not know the flags.
    if (name !== 'edgemq-base') args.push('--metrics-port', '0', '--admin-port', '0');
    if (name === 'edgemq' || name === 'edgemq-base') {
      args.push('--port', String(port));
    } else {
      const durability = name === 'edgemq-memory' ? 'memory' : 'fsync';
      const conf = path.join(tmp, 'edgemq.yaml');
      writeFileSync(
        conf,
        [
          'apiVersion: mq.edgemq.io/v1beta1',
          'kind: Broker',
          'metadata: {name: default}',
          `spec: {edgemq: {durability: ${durability}}}`,
          '---',
          'apiVersion: mq.edgemq.io/v1beta1',
          'kind: BrokerListener',
          'metadata: {name: bench}',
          `spec: {brokerRef: default, port: ${port}}`,
          '',
        ].join('\n'),
      );
      args.push('--config', conf);
    }
  }
  const child = spawnWrapped(cmd, args, { cwd: o.repoRoot, cpus: o.cpus });
  let errTail = '';
  const keep = (d: Buffer): void => {
    errTail = (errTail + d.toString()).slice(-2000);
  };
  child.stderr?.on('data', keep);
  child.stdout?.on('data', keep); // drained so a chatty broker never blocks on a full pipe
  // EDGEMQ_BENCH_BROKER_LOG=<dir> keeps every broker's full output (e.g. with --trace-gc) in <dir>/<name>-<pid>.log.
  const logDir = process.env.EDGEMQ_BENCH_BROKER_LOG;
  if (logDir) {
    const log = createWriteStream(path.join(logDir, `${name}-${child.pid}.log`));
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
  }
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const stop = async (): Promise<void> => {
    if (alive()) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      // A cluster's supervisor stops its roles first (and SIGKILLs them after 3 s): killed itself
      // before that, it would leave them running, orphaned, taking CPU from the next runs.
      const t = setTimeout(() => alive() && child.kill('SIGKILL'), name.startsWith('edgemq-cluster') ? 10000 : 3000);
      await exited;
      clearTimeout(t);
    }
    rmSync(tmp, { recursive: true, force: true });
  };
  try {
    // A cluster compiles and starts several processes (tsx): on a busy 2-core machine that takes longer.
    await waitListening(port, child, name.startsWith('edgemq-cluster') ? 60000 : 15000);
  } catch (e) {
    await stop();
    const tail = errTail.trim().split('\n').slice(-3).join(' | ');
    throw new Error(`${(e as Error).message}${tail ? `; stderr: ${tail}` : ''}`);
  }
  return { name, pid: child.pid!, port, child, alive, stop, stderrTail: () => errTail };
}
