/**
 * The checker (issue #15), short form: a real `edgemq cluster` (F = 2, P = 2, R = 2) under QoS 1
 * and QoS 2 streams with persistent sessions spread over both front ends, while a nemesis SIGKILLs
 * a random back end (a head, or a tail), front end or coordinator every few seconds and, when this
 * runs as root, cuts a back end off the network (its own network namespace) for 1-3.5 s (1-6 s in the long form). Afterwards,
 * per QoS: acknowledged messages never delivered, duplicates, deliveries out of per-publisher
 * order, deliveries never published, and the publish stall after each fault (p99 and longest).
 *
 * Long form: `EDGEMQ_CHECKER_SECONDS=600 npm run checker` (also kills etcd and scales the
 * partitions live between 2 and 3; report written to EDGEMQ_CHECKER_REPORT when set).
 * `EDGEMQ_CHECKER_SCALE=1` adds the scale steps to a short run, `=0` takes them out of a long one.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterMap } from '../../src/cluster/map.js';
import type { ProcessRole } from '../../src/cluster/supervisor.js';
import { startCluster, until, type TestCluster } from '../helpers/cluster.js';
import { Nemesis, type Fault } from './checker/nemesis.js';
import { prepareNetwork, type Network } from './checker/network.js';
import { Stream, type Endpoint } from './checker/workload.js';

const seconds = Number(process.env.EDGEMQ_CHECKER_SECONDS ?? 35);
const long = seconds > 60;
const scaling = process.env.EDGEMQ_CHECKER_SCALE !== undefined ? process.env.EDGEMQ_CHECKER_SCALE === '1' : long;
let cluster: TestCluster;
let network: Network | undefined;

const endpoints = (): Endpoint[] => cluster.file().processes.filter((p) => p.role === 'frontend').map((p) => ({ host: '127.0.0.1', port: p.clientPorts![0]! }));
const full = (m: ClusterMap | null) => m !== null && m.partitions.every((p) => p.chain.length === 2) && m;

beforeAll(async () => {
  // max(P, R) = 2 back ends, each in a network namespace of its own when we may make them.
  const net = prepareNetwork(2);
  if (typeof net === 'string') console.warn(`checker: no network cuts in this run: ${net}`);
  else network = net;
  try {
    cluster = await startCluster({ frontends: 2, partitions: 2, args: ['--redundancy', '2'], ...(network ? { env: { EDGEMQ_CLUSTER_NETNS: network.env } } : {}) });
    await until('chains of two', async () => full(await cluster.map()), 30_000);
  } catch (err) {
    await cluster?.stop();
    network?.destroy();
    throw err;
  }
}, 120_000);
afterAll(async () => {
  if (process.env.EDGEMQ_TEST_OUTPUT && cluster) writeFileSync(process.env.EDGEMQ_TEST_OUTPUT, cluster.output());
  try {
    await cluster?.stop();
  } finally {
    network?.destroy();
  }
}, 30_000);

/** Nearest-rank percentile. */
function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Publish stalls after the faults, per QoS: p99 and longest over all faults, over head kills, and over cuts. */
function stalls(faults: Fault[], streams: Stream[]) {
  const groups: Record<string, (f: Fault) => boolean> = {
    all: () => true,
    headKilled: (f) => f.kind === 'kill' && f.positions.includes('head'),
    cut: (f) => f.kind === 'cut',
    scale: (f) => f.kind === 'scale',
  };
  return streams.map((s) => {
    const per = faults.map((f) => ({ f, ms: s.stallAfter(f.at, f.at + f.recoveredMs) }));
    const out: Record<string, { faults: number; p99Ms: number; longestMs: number }> = {};
    for (const [name, pick] of Object.entries(groups)) {
      const ms = per.filter((x) => pick(x.f)).map((x) => x.ms);
      out[name] = { faults: ms.length, p99Ms: percentile(ms, 99), longestMs: Math.max(0, ...ms) };
    }
    return { topic: s.topic, ...out, perFault: per.map((x) => x.ms) };
  });
}

describe('checker: publishers and subscribers under a nemesis', () => {
  it(`${seconds} s of SIGKILLs and network cuts: 0 acknowledged lost, 0 QoS 2 duplicates, 0 order violations, 0 phantoms`, async () => {
    const run = `k${Date.now().toString(36)}`;
    const q1 = new Stream(run, { qos: 1, publishers: 2, subscribers: 2, window: 4, intervalMs: 25 }, endpoints);
    const q2 = new Stream(run, { qos: 2, publishers: 2, subscribers: 2, window: 1, intervalMs: 25 }, endpoints);
    await q1.start();
    await q2.start();
    const roles: ProcessRole[] = ['backend', 'backend', 'frontend', 'coordinator', ...(long ? (['etcd'] as ProcessRole[]) : [])];
    const nemesis = new Nemesis(cluster, { roles, pauseMs: long ? 5000 : 3000, redundancy: 2, ...(network ? { cuts: { network, share: 0.25, first: true, ms: long ? [1000, 6000] : [1000, 3500] } } : {}), ...(scaling ? { scale: { base: 2, share: 0.2 } } : {}) });
    try {
      nemesis.start();
      await new Promise((r) => setTimeout(r, seconds * 1000));
      await nemesis.stop();
      await Promise.all([q1.drain(30_000), q2.drain(30_000)]);
      const counts = [q1.counts(), q2.counts()];
      const report = { seconds, networkCuts: network ? 'on' : 'off (not root or no netns)', scaling, nemesisFailure: nemesis.failure ?? null, faults: nemesis.faults, counts, stalls: stalls(nemesis.faults, [q1, q2]) };
      console.log('checker report', JSON.stringify(report));
      if (process.env.EDGEMQ_CHECKER_REPORT) writeFileSync(process.env.EDGEMQ_CHECKER_REPORT, JSON.stringify(report, null, 2));
      expect(nemesis.failure).toBeUndefined();
      expect(nemesis.faults.length).toBeGreaterThan(0);
      for (const c of counts) {
        expect(c.acknowledged).toBeGreaterThan(0);
        expect({ qos: c.qos, lost: c.lost, samples: c.lostSamples, phantoms: c.phantoms, orderViolations: c.orderViolations }).toEqual({ qos: c.qos, lost: 0, samples: [], phantoms: 0, orderViolations: 0 });
      }
      // The samples date each second delivery, to be matched against the faults in the report.
      expect({ duplicates: counts[1]!.duplicates, samples: counts[1]!.duplicateSamples }).toEqual({ duplicates: 0, samples: [] });
    } finally {
      await nemesis.stop();
      await q1.stop();
      await q2.stop();
    }
  }, (seconds + 120) * 1000);
});
