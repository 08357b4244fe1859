/**
 * Operations of a real `edgemq cluster` (F = 1, P = 2, separate processes): every role process
 * serves /metrics, /healthz and /readyz on its own port (listed in cluster.json), the series carry
 * `role`/`node` labels and, on back ends, `partition`; the counts match the traffic the test makes
 * (on the front end and on the partition's back end, none on the other partition). The front end's
 * admin API answers from the partitions. Its /readyz names a killed back end's partition and is
 * ready again once the supervisor has restarted it.
 */
import net from 'node:net';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf, type ClusterMap } from '../../src/cluster/map.js';
import type { ProcessEntry } from '../../src/cluster/supervisor.js';
import type { StatusDocument } from '../../src/admin/status-document.js';
import { pinnablePort } from '../../src/util/free-port.js';
import { close, collect, connect, publish, subscribe, uid } from '../conformance/helpers/clients.js';
import { startCluster, until, type TestCluster } from '../helpers/cluster.js';
import { histogramCount, scrape, value } from '../helpers/prometheus.js';

const N = 12;
let cluster: TestCluster;
let map: ClusterMap;
const clients: MqttClient[] = [];

beforeAll(async () => {
  const port = await pinnablePort();
  cluster = await startCluster({
    frontends: 1,
    partitions: 2,
    // No self-check and no $SYS: every counted message is one of the test's.
    config: `apiVersion: mq.edgemq.io/v1beta1
kind: Broker
metadata: {name: ops}
spec:
  diagnostics: {selfCheck: {mode: Disabled}}
  edgemq: {durability: os, sysIntervalSeconds: 0}
---
apiVersion: mq.edgemq.io/v1beta1
kind: BrokerListener
metadata: {name: plain}
spec: {brokerRef: ops, port: ${port}}
`,
  });
  map = await until('the first map', () => cluster.map(), 30_000);
}, 120_000);
afterAll(async () => {
  for (const c of clients.splice(0)) await close(c, true);
  await cluster?.stop();
}, 30_000);

const metricsUrl = (e: ProcessEntry) => `http://127.0.0.1:${e.metricsPort}`;
const backendOf = (partition: number): ProcessEntry => cluster.file().processes.find((p) => p.id === map.partitions.find((x) => x.id === partition)!.chain[0])!;
const readyz = async (e: ProcessEntry) => {
  const res = await fetch(`${metricsUrl(e)}/readyz`);
  return { status: res.status, body: await res.text() };
};

function idIn(partition: number, prefix: string): string {
  for (;;) {
    const id = uid(prefix);
    if (partitionOf(map, id) === partition) return id;
  }
}

describe('operations of a cluster', () => {
  it('gives every role process its own metrics port, and front ends an admin port, in cluster.json and cluster status', async () => {
    const procs = cluster.file().processes.filter((p) => p.role !== 'etcd');
    expect(procs.map((p) => p.role).sort()).toEqual(['backend', 'backend', 'coordinator', 'frontend']);
    const ports = procs.map((p) => p.metricsPort);
    for (const p of ports) expect(p).toBeGreaterThan(0);
    const fe = cluster.entry('frontend', 0);
    expect(fe.adminPort).toBeGreaterThan(0);
    expect(new Set([...ports, fe.adminPort, ...fe.clientPorts!]).size).toBe(ports.length + 1 + fe.clientPorts!.length);
    const status = (await cluster.status()) as unknown as { processes: ProcessEntry[] };
    expect(status.processes.find((p) => p.id === 'frontend-0')?.adminPort).toBe(fe.adminPort);
    for (const p of procs) {
      await until(`${p.id} ready`, async () => (await readyz(p)).status === 200, 30_000);
      expect((await fetch(`${metricsUrl(p)}/healthz`)).status).toBe(200);
    }
    const coordinator = await scrape(`${metricsUrl(cluster.entry('coordinator', 0))}/metrics`);
    expect(value(coordinator, 'edgemq_coordinator_leader', { role: 'coordinator', node: 'coordinator-0' })).toBe(1);
  });

  it('counts the traffic on the front end and on the partition that holds the subscriber, with role, node and partition labels', async () => {
    const fe = cluster.entry('frontend', 0);
    const feUrl = `${metricsUrl(fe)}/metrics`;
    const be0 = backendOf(0);
    const beUrl = (e: ProcessEntry) => `${metricsUrl(e)}/metrics`;
    const received = (s: Awaited<ReturnType<typeof scrape>>, e: ProcessEntry, partition: number) =>
      value(s, 'aio_broker_publishes_received', { role: 'backend', node: e.id, partition: String(partition) });
    const before = { fe: await scrape(feUrl), be0: await scrape(beUrl(be0)), be1: await scrape(beUrl(backendOf(1))) };

    const topic = `ops/${uid('t')}`;
    const url = `mqtt://127.0.0.1:${fe.clientPorts![0]}`;
    const sub = await connect(url, { clientId: idIn(0, 'sub'), protocolVersion: 5 });
    clients.push(sub);
    const got = collect(sub);
    await subscribe(sub, topic, { qos: 1 });
    const pub = await connect(url, { clientId: idIn(0, 'pub'), protocolVersion: 5 });
    clients.push(pub);
    for (let i = 0; i < N; i++) await publish(pub, topic, `m${i}`, { qos: 1 });
    await until(`${N} deliveries`, () => got.messages.length >= N);

    const after = { fe: await scrape(feUrl), be0: await scrape(beUrl(be0)), be1: await scrape(beUrl(backendOf(1))) };
    const feLabels = { role: 'frontend', node: 'frontend-0' };
    expect(value(after.fe, 'aio_broker_publishes_received', feLabels) - value(before.fe, 'aio_broker_publishes_received', feLabels)).toBe(N);
    expect(value(after.fe, 'aio_broker_publishes_sent', feLabels) - value(before.fe, 'aio_broker_publishes_sent', feLabels)).toBe(N);
    expect(value(after.fe, 'edgemq_connections', feLabels)).toBe(2);
    // The two clients, besides the in-process state-store responder's session.
    expect(value(after.fe, 'aio_broker_connected_sessions', feLabels) - value(before.fe, 'aio_broker_connected_sessions', feLabels)).toBe(2);
    expect(value(after.fe, 'aio_broker_authentication_successes', feLabels) - value(before.fe, 'aio_broker_authentication_successes', feLabels)).toBe(2);
    // Sessions and subscriptions are the partitions' series, not the front end's.
    expect(after.fe.has('aio_broker_total_sessions')).toBe(false);

    expect(received(after.be0, be0, 0) - received(before.be0, be0, 0)).toBe(N);
    const be1 = backendOf(1);
    if (be1.id !== be0.id) expect(received(after.be1, be1, 1) - received(before.be1, be1, 1)).toBe(0);
    const p0 = { role: 'backend', node: be0.id, partition: '0' };
    expect(value(after.be0, 'aio_broker_total_sessions', p0)).toBeGreaterThanOrEqual(2);
    expect(value(after.be0, 'aio_broker_total_subscriptions', p0)).toBeGreaterThanOrEqual(1);
    expect(value(after.be0, 'edgemq_partition_chain_position', p0)).toBe(0);
    expect(value(after.be0, 'edgemq_partition_ready', p0)).toBe(1);
    expect(histogramCount(after.be0, 'edgemq_log_write_duration_seconds')).toBeGreaterThan(histogramCount(before.be0, 'edgemq_log_write_duration_seconds'));

    // The admin API of the front end, answered by the partitions.
    const admin = `http://127.0.0.1:${fe.adminPort}/api/v1`;
    const sessions = (await (await fetch(`${admin}/sessions`)).json()) as Array<{ clientId: string; subscriptions: Array<{ filter: string }> }>;
    expect(sessions.find((s) => s.clientId === sub.options.clientId)?.subscriptions.map((s) => s.filter)).toEqual([topic]);
    const status = (await (await fetch(`${admin}/status`)).json()) as StatusDocument;
    expect(status.ready).toBe(true);
    expect(status.listeners.map((l) => [l.port, l.open])).toEqual([[fe.clientPorts![0], true]]);
  });

  it('counts QoS 0 the front end wrote to its own subscribers without any partition, on the front end and in the cluster-wide counts', async () => {
    const fe = cluster.entry('frontend', 0);
    const feUrl = `${metricsUrl(fe)}/metrics`;
    const feLabels = { role: 'frontend', node: 'frontend-0' };
    const admin = `http://127.0.0.1:${fe.adminPort}/api/v1`;
    const clusterStats = async () => ((await (await fetch(`${admin}/status`)).json()) as StatusDocument).stats;
    const topic = `ops/${uid('q0')}`;
    const url = `mqtt://127.0.0.1:${fe.clientPorts![0]}`;
    const sub = await connect(url, { clientId: idIn(1, 'q0sub'), protocolVersion: 5 });
    clients.push(sub);
    const got = collect(sub);
    await subscribe(sub, topic, { qos: 0 });
    const pub = await connect(url, { clientId: idIn(0, 'q0pub'), protocolVersion: 5 });
    clients.push(pub);
    // Settled: the counts of the traffic before are in (a stats poll a second).
    await new Promise((r) => setTimeout(r, 1500));
    const before = { fe: await scrape(feUrl), stats: await clusterStats() };
    for (let i = 0; i < N; i++) await publish(pub, topic, `z${i}`, { qos: 0 });
    await until(`${N} deliveries`, () => got.messages.length >= N);
    const after = await scrape(feUrl);
    expect(value(after, 'aio_broker_publishes_sent', feLabels) - value(before.fe, 'aio_broker_publishes_sent', feLabels)).toBe(N);
    expect(value(after, 'edgemq_qos0_direct_deliveries', feLabels) - value(before.fe, 'edgemq_qos0_direct_deliveries', feLabels)).toBe(N);
    expect(value(after, 'edgemq_qos0_local_only_publishes', feLabels) - value(before.fe, 'edgemq_qos0_local_only_publishes', feLabels)).toBe(N);
    // No partition saw them: the front end reports them with its stats request, and every front end's /status sums them in.
    await until('cluster-wide counts with the front end\'s own QoS 0', async () => {
      const s = await clusterStats();
      return s.messagesReceived - before.stats.messagesReceived === N && s.messagesSent - before.stats.messagesSent === N;
    });
  });

  it("the front end's /readyz names the partition of a killed back end, and is ready again after its restart", async () => {
    const fe = cluster.entry('frontend', 0);
    const victim = backendOf(1);
    const i = cluster.file().processes.filter((p) => p.role === 'backend').findIndex((p) => p.id === victim.id);
    const pid = await cluster.kill('backend', i);
    const down = await until('front end not ready', async () => {
      const r = await readyz(fe);
      return r.status === 503 && r;
    });
    expect(down.body).toContain(`partitions reachable: partition 1 (${victim.id})`);
    const back = await cluster.waitRestarted('backend', i, pid);
    await until('the restarted back end ready', async () => (await readyz(back).catch(() => ({ status: 0 }))).status === 200, 30_000);
    await until('front end ready again', async () => (await readyz(fe)).status === 200, 30_000);
  });

  it('a back end whose metrics port another program took while it was down comes back on a new one, and serves its partitions again', async () => {
    const fe = cluster.entry('frontend', 0);
    const taken = cluster.entry('backend', 0).metricsPort!;
    const pid = await cluster.kill('backend', 0);
    // Taken before the supervisor's restart (at least 200 ms after the exit): the back end exits
    // with OPS_PORT_IN_USE_EXIT, and used to be restarted on the same port for as long as it stayed taken.
    const squatter = net.createServer();
    await until('the metrics port taken', () => new Promise<boolean>((resolve) => {
      squatter.once('error', () => resolve(false));
      squatter.listen(taken, '127.0.0.1', () => resolve(true));
    }), 5_000);
    try {
      const back = await until('the back end on a new metrics port', () => {
        const e = cluster.entry('backend', 0);
        return e.pid !== null && e.pid !== pid && e.metricsPort !== taken && e;
      }, 30_000);
      await until('the restarted back end ready', async () => (await readyz(back).catch(() => ({ status: 0 }))).status === 200, 30_000);
      await until('front end ready again', async () => (await readyz(fe)).status === 200, 30_000);
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
  });
});
