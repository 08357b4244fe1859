/**
 * `edgemq-cluster` for the bench: back ends (P partitions on them, each a chain of R replicas on
 * different back ends) and F front ends as separate
 * processes on a fixed map (`edgemq frontend|backend --map`, no etcd), started with the Node flags
 * `edgemq cluster` gives its roles (src/cluster/role-flags.ts). The bench measures against front
 * end 0's port (`--port`). This process only
 * supervises: it stops the roles on SIGTERM and exits when one of them dies.
 *
 *   node --import tsx test/bench/cluster-server.ts --port P --data-dir DIR [--frontends F] [--partitions N] [--redundancy R]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { evenSlots, type ClusterMap } from '../../src/cluster/map.js';
import { roleNodeFlags } from '../../src/cluster/role-flags.js';
import { freePort, shebangFlags } from './brokers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values } = parseArgs({
  options: { port: { type: 'string' }, 'data-dir': { type: 'string' }, frontends: { type: 'string', default: '1' }, partitions: { type: 'string', default: '1' }, redundancy: { type: 'string', default: '1' } },
});
const F = Number(values.frontends);
const P = Number(values.partitions);
const R = Number(values.redundancy);
const dir = values['data-dir']!;
const firstPort = Number(values.port);
const map: ClusterMap = { epoch: 1, slots: evenSlots(P), partitions: [], nodes: {} };
// Two back ends at most (a 2-core machine), but at least R: a chain's replicas sit on different back ends.
const backends = Math.max(Math.min(P, 2), R);
for (let b = 0; b < backends; b++) map.nodes[`backend-${b}`] = { id: `backend-${b}`, role: 'backend', host: '127.0.0.1', internalPort: await freePort() };
for (let p = 0; p < P; p++) map.partitions.push({ id: p, chain: Array.from({ length: R }, (_, r) => `backend-${(p + r) % backends}`) });
const mapFile = path.join(dir, 'map.json');
writeFileSync(mapFile, JSON.stringify(map));
// As `edgemq cluster` starts the roles: the shebang's flags with a role's young generation (role-flags.ts).
const flags = [...roleNodeFlags(shebangFlags(path.join(root, 'src/cli/main.ts')), { processes: F + backends, cpus: availableParallelism() }), ...(process.env.EDGEMQ_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)];
const children: ChildProcess[] = [];
const env = { ...process.env, EDGEMQ_CLUSTER_TOKEN: 'bench-cluster-token-0123456789' };

/**
 * The roles run as users run them, `edgemq frontend|backend --map FILE` of the build (`npm run bench`
 * builds dist/ first), ready once their /readyz answers 200. Without a build (or with
 * EDGEMQ_BENCH_CLUSTER_TSX=1) the test fixture runs the sources through tsx, whose module loader is
 * a thread of its own in every role (it collects garbage beside the broker's threads).
 */
const cli = path.join(root, 'dist/cli/main.js');
const useBuild = existsSync(cli) && process.env.EDGEMQ_BENCH_CLUSTER_TSX !== '1';

function start(role: string, id: string, port: number): Promise<void> {
  const roleFlags = (process.env[`EDGEMQ_BENCH_NODE_ARGS_${role.toUpperCase()}`] ?? '').split(' ').filter(Boolean);
  const config = process.env.EDGEMQ_BENCH_CLUSTER_CONFIG;
  return useBuild ? startBuilt(role, id, port, roleFlags, config) : startFixture(role, id, port, roleFlags, config);
}

function watch(c: ChildProcess): void {
  children.push(c);
  c.once('exit', () => stop(1));
  // The bench keeps the tail of a broker's output (EDGEMQ_BENCH_BROKER_LOG: all of it).
  c.stdout!.on('data', (d: Buffer) => process.stdout.write(d));
}

async function startBuilt(role: string, id: string, port: number, roleFlags: string[], config: string | undefined): Promise<void> {
  const metricsPort = await freePort();
  const args = [...flags, ...roleFlags, cli, role, '--id', id, '--map', mapFile, '--data-dir', path.join(dir, id), '--log-level', 'warn', '--metrics-port', String(metricsPort), ...(config ? ['--config', config] : [])];
  if (role === 'backend') args.push('--internal-port', String(map.nodes[id].internalPort));
  else args.push('--port', String(port), '--admin-port', '0');
  const c = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] });
  watch(c);
  for (;;) {
    if (c.exitCode !== null) return;
    const ok = await fetch(`http://127.0.0.1:${metricsPort}/readyz`).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function startFixture(role: string, id: string, port: number, roleFlags: string[], config: string | undefined): Promise<void> {
  const c = spawn(process.execPath, [...flags, ...roleFlags, '--import', 'tsx', path.join(root, 'test/cluster/fixtures/role.ts'), role, id, mapFile, path.join(dir, id), String(port), ...(config ? [config] : [])], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] });
  watch(c);
  return new Promise((resolve) => {
    let out = '';
    c.stdout!.on('data', (d: Buffer) => {
      out = (out + d).slice(-4096); // the tail: V8 traces (--trace-gc) may come before the line
      if (out.includes('ROLE READY')) resolve();
    });
  });
}

let stopping = false;
/** A signal is passed on (SIGTERM lets a profiled role write its profile); a dead role takes the rest down. */
function stop(code: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill(signal);
  const t = setTimeout(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    process.exit(code);
  }, 3000);
  void Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined))).then(() => {
    clearTimeout(t);
    process.exit(code);
  });
}
process.on('SIGTERM', () => stop(0, 'SIGTERM'));
process.on('SIGINT', () => stop(0, 'SIGINT'));

await Promise.all(Object.keys(map.nodes).map((id) => start('backend', id, 0)));
for (let i = 0; i < F; i++) await start('frontend', `frontend-${i}`, i === 0 ? firstPort : await freePort());
