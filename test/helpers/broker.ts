/**
 * Starts a real broker process for a test and stops it afterwards.
 * Default target: edgemq (`src/cli/main.ts serve` through tsx). `EDGEMQ_TEST_TARGET=mosquitto` runs the
 * same tests against Debian's Mosquitto, which is how tests are checked against a reference broker;
 * tests that depend on edgemq-only configuration call `onlyEdgemq()` to skip there.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const target = process.env.EDGEMQ_TEST_TARGET ?? 'edgemq';
export const isEdgemq = target === 'edgemq';

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

export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 15000): Promise<void> {
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
