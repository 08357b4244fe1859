/**
 * A real etcd (Debian's etcd-server, `etcd` on PATH) on free loopback ports for one test file.
 * `kill()` is SIGKILL; `restart()` brings it back on the same ports and data, as the supervisor does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { localEtcdArgs, localEtcdEndpoint } from '../../src/cluster/local-etcd.js';
import { freePort, waitForPort } from './broker.js';

export interface TestEtcd {
  endpoint: string;
  clientPort: number;
  pid(): number | undefined;
  output(): string;
  kill(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startEtcd(dir?: string): Promise<TestEtcd> {
  const root = dir ?? mkdtempSync(path.join(os.tmpdir(), 'edgemq-etcd-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const args = localEtcdArgs({ dataDir: path.join(root, 'etcd'), clientPort, peerPort });
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let out = '';
  const launch = async () => {
    const c = spawn('etcd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout?.on('data', (d) => (out += d));
    c.stderr?.on('data', (d) => (out += d));
    exited = new Promise((r) => c.once('exit', () => r()));
    await Promise.race([
      waitForPort(clientPort),
      exited.then(() => {
        throw new Error(`etcd exited during start-up:\n${out}`);
      }),
    ]);
  };
  const kill = async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  await launch();
  return {
    endpoint: localEtcdEndpoint({ clientPort }),
    clientPort,
    pid: () => child?.pid,
    output: () => out,
    kill,
    restart: launch,
    stop: async () => {
      await kill();
      if (!dir) rmSync(root, { recursive: true, force: true });
    },
  };
}
