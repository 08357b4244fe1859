/**
 * `edgemq cluster` as a supervisor of real processes: cluster.json, the token file, `cluster status`
 * with the map from etcd, SIGKILL of the coordinator and of etcd (restarted, logged, cluster.json
 * rewritten, the map survives), `cluster scale`, and refusing a second cluster on the same data dir.
 */
import { execFile } from 'node:child_process';
import { statSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evenSlots } from '../../src/cluster/map.js';
import { edgemqCommand, repoRoot, waitForPort } from '../helpers/broker.js';
import { dataPlaneBuilt, startCluster, until, type TestCluster } from '../helpers/cluster.js';

describe('edgemq cluster supervisor', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await startCluster({ frontends: 2, partitions: 2, waitReady: dataPlaneBuilt });
  }, 90_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 30_000);

  it('writes cluster.json with every process and a 0600 token', () => {
    const f = cluster.file();
    expect(f.supervisor.running).toBe(true);
    expect(f.processes.map((p) => p.id).sort()).toEqual(['backend-0', 'backend-1', 'coordinator-0', 'etcd', 'frontend-0', 'frontend-1']);
    for (const p of f.processes) expect(p.pid).toBeGreaterThan(0);
    const fe = f.processes.filter((p) => p.role === 'frontend').map((p) => p.clientPorts![0]);
    expect(new Set(fe).size).toBe(2);
    const token = path.join(cluster.dataDir, 'cluster.token');
    expect(statSync(token).mode & 0o777).toBe(0o600);
    expect(readFileSync(token, 'utf8').trim()).toMatch(/^[0-9a-f]{64}$/);
  });

  it("starts the roles with a role's young generation, and GC on one thread when its processes fill the CPUs", () => {
    // F2 P2 with a local etcd: 2 + 2 + coordinator + etcd = 6 processes (role-flags.ts).
    const single = 6 >= availableParallelism();
    for (const p of cluster.file().processes.filter((x) => x.role === 'frontend' || x.role === 'backend')) {
      const argv = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0');
      expect(argv, p.id).toContain('--max-semi-space-size=32');
      expect(argv.includes('--single-threaded-gc'), p.id).toBe(single);
    }
  });

  it('cluster status prints cluster.json with the map from etcd; back ends list their partitions', async () => {
    await until('a map in etcd', () => cluster.map(), 60_000);
    const s = await cluster.status();
    const map = s.map as { epoch: number; slots: unknown; partitions: unknown };
    expect(map.epoch).toBeGreaterThanOrEqual(1);
    expect(map.slots).toEqual(evenSlots(2));
    expect(map.partitions).toEqual([
      { id: 0, chain: ['backend-0'] },
      { id: 1, chain: ['backend-1'] },
    ]);
    await until('partitions in cluster.json', () => cluster.entry('backend', 1).partitions?.[0] === 1);
    expect(cluster.entry('backend', 0).partitions).toEqual([0]);
    expect((s.processes as unknown[]).length).toBe(6);
    expect(s.leader).toBe('coordinator-0');
  });

  it('a SIGKILLed coordinator is restarted, logged, and cluster.json rewritten', async () => {
    const old = await cluster.kill('coordinator', 0);
    const e = await cluster.waitRestarted('coordinator', 0, old);
    expect(e.restarts).toBeGreaterThanOrEqual(1);
    await until('the restart log line', () => /coordinator-0.*process exited; restarting|process exited; restarting.*coordinator-0/.test(cluster.output()));
  });

  it('a SIGKILLed etcd comes back with its data: the map is still there', async () => {
    const before = (await cluster.map())!;
    const old = await cluster.kill('etcd', 0);
    expect(await cluster.map()).toBeNull();
    await cluster.waitRestarted('etcd', 0, old);
    const after = await until('the map after the etcd restart', () => cluster.map(), 30_000);
    expect(after.epoch).toBeGreaterThanOrEqual(before.epoch);
    expect(after.partitions).toEqual(before.partitions);
  });

  it('cluster scale adds and removes front ends', async () => {
    const up = JSON.parse(await cluster.cli('cluster', 'scale', '--frontends', '3', '--data-dir', cluster.dataDir)) as { processes: Array<{ id: string }> };
    expect(up.processes.filter((p) => p.id.startsWith('frontend-')).length).toBe(3);
    const third = cluster.entry('frontend', 2);
    expect(third.pid).toBeGreaterThan(0);
    if (dataPlaneBuilt) await waitForPort(third.clientPorts![0]!, '127.0.0.1', 30_000);
    const down = JSON.parse(await cluster.cli('cluster', 'scale', '--frontends', '1', '--data-dir', cluster.dataDir)) as { processes: Array<{ id: string }> };
    expect(down.processes.filter((p) => p.id.startsWith('frontend-')).map((p) => p.id)).toEqual(['frontend-0']);
    expect(cluster.file().frontends).toBe(1);
  }, 60_000);

  it('refuses a second cluster on the same data dir, naming the flag', async () => {
    const c = edgemqCommand(['cluster', '--data-dir', cluster.dataDir, '--port', '0']);
    const err = await promisify(execFile)(c.cmd, c.args, { cwd: repoRoot }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(2);
    expect(err?.stderr).toMatch(/--data-dir: a cluster is already running/);
  });
});
