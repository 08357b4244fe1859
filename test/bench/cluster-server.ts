/**
 * `edgemq-cluster` for the bench: back ends (P partitions on them, each a chain of R replicas on
 * different back ends) and F front ends as separate
 * processes on a fixed map (test/cluster/fixtures/role.ts, no etcd), started with the same V8 flags
 * as `edgemq serve`. The bench measures against front end 0's port (`--port`). This process only
 * supervises: it stops the roles on SIGTERM and exits when one of them dies.
 *
 *   node --import tsx test/bench/cluster-server.ts --port P --data-dir DIR [--frontends F] [--partitions N] [--redundancy R]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { evenSlots, type ClusterMap } from '../../src/cluster/map.js';
import { freePort } from './brokers.js';

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
const shebang = /^#!.*\bnode\b(.*)$/.exec(readFileSync(path.join(root, 'src/cli/main.ts'), 'utf8').split('\n', 1)[0]);
const flags = [...(shebang ? shebang[1].trim().split(/\s+/).filter(Boolean) : []), ...(process.env.EDGEMQ_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)];
const children: ChildProcess[] = [];
const env = { ...process.env, EDGEMQ_CLUSTER_TOKEN: 'bench-cluster-token-0123456789' };

function start(role: string, id: string, port: number): Promise<void> {
  const roleFlags = (process.env[`EDGEMQ_BENCH_NODE_ARGS_${role.toUpperCase()}`] ?? '').split(' ').filter(Boolean);
  const c = spawn(process.execPath, [...flags, ...roleFlags, '--import', 'tsx', path.join(root, 'test/cluster/fixtures/role.ts'), role, id, mapFile, path.join(dir, id), String(port), ...(process.env.EDGEMQ_BENCH_CLUSTER_CONFIG ? [process.env.EDGEMQ_BENCH_CLUSTER_CONFIG] : [])], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(c);
  c.once('exit', () => stop(1));
  return new Promise((resolve) => {
    let out = '';
    c.stdout!.on('data', (d: Buffer) => {
      process.stdout.write(d); // the bench keeps the tail (EDGEMQ_BENCH_BROKER_LOG: all of it)
      if (out.length < 4096) out += d;
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
