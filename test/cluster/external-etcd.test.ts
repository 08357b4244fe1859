/**
 * `edgemq cluster --etcd URLS --etcd-prefix P` on an etcd it did not start (as a deployment with its
 * own etcd runs), at the smallest shape (F = 1, P = 1): no etcd child, the map under the prefix
 * only, and messages flow through the balancer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdStore } from '../../src/cluster/store/etcd-store.js';
import { close, collect, connectWithAck, publish, subscribe, uid } from '../conformance/helpers/clients.js';
import { startCluster, until, type TestCluster } from '../helpers/cluster.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

describe('cluster on an external etcd', () => {
  let etcd: TestEtcd;
  let cluster: TestCluster;
  beforeAll(async () => {
    etcd = await startEtcd();
    cluster = await startCluster({ frontends: 1, partitions: 1, args: ['--etcd', etcd.endpoint, '--etcd-prefix', '/site-a/'] });
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
    await etcd?.stop();
  }, 30_000);

  it('starts no etcd of its own and keeps its keys under its prefix', async () => {
    const f = cluster.file();
    expect(f.etcd).toEqual({ endpoints: [etcd.endpoint], prefix: '/site-a/', managed: false });
    expect(f.processes.map((p) => p.role).sort()).toEqual(['backend', 'coordinator', 'frontend']);
    const mine = new EtcdStore({ endpoints: [etcd.endpoint], prefix: '/site-a/' });
    const other = new EtcdStore({ endpoints: [etcd.endpoint] });
    try {
      const map = await until('the map under /site-a/', async () => (await mine.readMap())?.value, 30_000);
      expect(map.partitions).toEqual([{ id: 0, chain: ['backend-0'] }]);
      expect(await other.readMap()).toBeNull();
    } finally {
      await mine.close();
      await other.close();
    }
  });

  it('serves clients through the balancer', async () => {
    const topic = `ext/${uid()}`;
    const sub = (await connectWithAck(cluster.url)).client;
    const got = collect(sub);
    await subscribe(sub, topic, { qos: 1 });
    const pub = (await connectWithAck(cluster.url)).client;
    await publish(pub, topic, 'hello', { qos: 1 });
    expect((await got.waitFor(1, 10_000))[0]!.payload).toBe('hello');
    await close(sub);
    await close(pub);
  });
});
