/**
 * Chain replication with real processes (`edgemq cluster --redundancy 2`: F = 2, P = 2, two back
 * ends, each partition a chain over both) and SIGKILL, under a QoS 1 stream with persistent
 * sessions: kill a head, wait for the restarted process to rejoin at the tail (state transfer),
 * kill a tail, and count: no acknowledged message may be lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterMap } from '../../src/cluster/map.js';
import { startCluster, until, type TestCluster } from '../helpers/cluster.js';
import { Stream, type Endpoint } from './checker/workload.js';

let cluster: TestCluster;

const endpoints = (): Endpoint[] => cluster.file().processes.filter((p) => p.role === 'frontend').map((p) => ({ host: '127.0.0.1', port: p.clientPorts![0]! }));
const full = (m: ClusterMap | null) => m !== null && m.partitions.every((p) => p.chain.length === 2) && m;
const backendIndex = (id: string) => Number(id.replace(/\D/g, ''));

beforeAll(async () => {
  cluster = await startCluster({ frontends: 2, partitions: 2, args: ['--redundancy', '2'] });
  await until('chains of two', async () => full(await cluster.map()), 30_000);
}, 120_000);
afterAll(async () => {
  if (process.env.EDGEMQ_TEST_OUTPUT) (await import('node:fs')).writeFileSync(process.env.EDGEMQ_TEST_OUTPUT, cluster.output());
  await cluster?.stop();
}, 30_000);

describe('chain replication, R = 2', () => {
  it('the first map places every partition on both back ends, heads spread', async () => {
    const m = (await cluster.map())!;
    expect(m.partitions.map((p) => p.chain)).toEqual([
      ['backend-0', 'backend-1'],
      ['backend-1', 'backend-0'],
    ]);
  });

  it('QoS 1 stream: head killed, restarted process rejoins at the tail, tail killed: 0 acknowledged messages lost', async () => {
    const stream = new Stream(`chain${Date.now().toString(36)}`, { qos: 1, publishers: 2, subscribers: 2, window: 4, intervalMs: 20 }, endpoints);
    await stream.start();
    try {
      await new Promise((r) => setTimeout(r, 1500));
      let m = (await cluster.map())!;
      const head = m.partitions[0]!.chain[0]!;
      const epochBefore = m.epoch;
      const pid = await cluster.kill('backend', backendIndex(head));
      // The successor becomes head, then the restarted process is appended at the tail.
      m = await until('partition 0 headed by the survivor', async () => {
        const x = await cluster.map();
        return x && x.epoch > epochBefore && x.partitions[0]!.chain[0] !== head && x;
      }, 20_000);
      const headBack = await cluster.waitRestarted('backend', backendIndex(head), pid);
      m = await until('chains of two again', async () => {
        const x = await cluster.map();
        return x && x.nodes[head]?.pid === headBack.pid && full(x);
      }, 30_000);
      expect(m.partitions[0]!.chain).toEqual([m.partitions[0]!.chain[0], head]);
      await new Promise((r) => setTimeout(r, 1500));

      const tail = m.partitions[0]!.chain[1]!;
      const pid2 = await cluster.kill('backend', backendIndex(tail));
      const back = await cluster.waitRestarted('backend', backendIndex(tail), pid2);
      // One map change when the restart registered before the lease expired (a new pid), two otherwise.
      await until('chains of two after the tail came back', async () => {
        const x = await cluster.map();
        return x && x.epoch > m.epoch && x.nodes[tail]?.pid === back.pid && full(x);
      }, 30_000);
      // Each restarted replica reports its installed transfers in its membership record; the map then stops marking it joining.
      const marked = await until('no replica marked joining', async () => {
        const x = await cluster.map();
        return x && full(x) && x.partitions.every((p) => p.joining === undefined) && x;
      }, 30_000);
      expect(marked.nodes[tail]?.installed).toBeDefined();
      await new Promise((r) => setTimeout(r, 1500));
      await stream.drain(20_000);
      const c = stream.counts();
      console.log('chain test counts', JSON.stringify(c), stream.summary());
      expect(c.acknowledged).toBeGreaterThan(50);
      expect(c.lostSamples).toEqual([]);
      expect(c.lost).toBe(0);
      expect(c.phantoms).toBe(0);
      expect(c.orderViolations).toBe(0);
    } finally {
      await stream.stop();
    }
  }, 120_000);
});
