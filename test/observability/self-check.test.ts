/**
 * The self-check probe against a real in-process core: a passing round reports every step and one
 * publish-to-delivery observation; a round against storage that refuses writes fails, is counted
 * as failed and logged with the reason.
 */
import path from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { LocalBrokerCore } from '../../src/core/local-core.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { SelfCheck } from '../../src/observability/self-check.js';
import { Partition } from '../../src/partition/partition.js';
import { openPartitionStore } from '../../src/storage/open-store.js';
import { recoverPartition } from '../../src/storage/recover.js';
import { tempDir } from '../security/helpers.js';

const limits = { queueLength: 10, queueStrategy: 'None' as const, sharedStrategy: 'round-robin' as const };

async function read(metrics: ReturnType<typeof createMetrics>, name: string, labels: Record<string, string> = {}): Promise<number> {
  const family = parsePrometheusTextFormat(await metrics.scrape()).find((f) => f.name === name);
  const sample = family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  if (!sample) throw new Error(`no ${name}`);
  return Number(sample.value ?? sample.buckets?.['+Inf']);
}

describe('self-check', () => {
  it('a round over durable storage passes: every step timed, one delivery observed, the session gone after', async () => {
    const store = openPartitionStore(path.join(tempDir(), 'partition-0'), { sync: false });
    const { partition, executor } = await recoverPartition(store, limits, {});
    const core = new LocalBrokerCore(partition, executor);
    const metrics = createMetrics({ stats: () => core.stats() });
    const lines: string[] = [];
    const probe = new SelfCheck({ core, intervalSeconds: 300, timeoutSeconds: 5, metrics: metrics.selfCheck, log: pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }), node: 'n1' });
    try {
      const r = await probe.run();
      expect(r.ok).toBe(true);
      expect(Object.keys(r.latencyMs).sort()).toEqual(['connect', 'publish', 'subscribe', 'unsubscribe']);
      expect(await read(metrics, 'edgemq_selfcheck_rounds', { result: 'ok' })).toBe(1);
      expect(await read(metrics, 'edgemq_publish_delivery_latency_seconds')).toBe(1);
      expect(partition.sessions.has('$edgemq/selfcheck')).toBe(false);
      expect(partition.routes.count).toBe(0);
      expect(lines.join('')).toMatch(/"selfCheck":1.*self-check passed/);
    } finally {
      probe.stop();
      await core.close();
    }
  });

  it('a round against storage that refuses writes fails, counted and logged with the reason', async () => {
    const store = openPartitionStore(path.join(tempDir(), 'partition-0'), { sync: false });
    const { partition, executor } = await recoverPartition(store, limits, {});
    const core = new LocalBrokerCore(partition, executor);
    await core.close(); // the executor now refuses every durable command
    const metrics = createMetrics({ stats: () => core.stats() });
    const lines: string[] = [];
    const probe = new SelfCheck({ core, intervalSeconds: 300, timeoutSeconds: 5, metrics: metrics.selfCheck, log: pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) }), node: 'n1' });
    const r = await probe.run();
    probe.stop();
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/storage/);
    expect(await read(metrics, 'edgemq_selfcheck_rounds', { result: 'failed' })).toBe(1);
    expect(await read(metrics, 'edgemq_selfcheck_rounds', { result: 'ok' })).toBe(0);
    expect(lines.join('')).toMatch(/self-check failed/);
  });

  it('wildcard subscribers of the same partition never receive the probe', async () => {
    const partition = new Partition(limits);
    const core = new LocalBrokerCore(partition);
    const seen: string[] = [];
    const sink = { deliver: (d: { message: { topic: string } }) => void seen.push(d.message.topic), release() {}, kick() {} };
    await core.connect({ clientId: 'watcher', connectionId: 77, protocolVersion: 5, cleanStart: true, sessionExpirySeconds: 0, receiveMaximum: 10 }, sink);
    await core.subscribe('watcher', 77, ['#', '+/#', 'azedge/#', 'azedge/dmqtt/+/#'].map((filter) => ({ filter, qos: 1 as const, noLocal: false, retainAsPublished: false, retainHandling: 0 as const, subscriptionId: 0 })));
    const probe = new SelfCheck({ core, intervalSeconds: 300, timeoutSeconds: 5, log: pino({ level: 'silent' }), node: 'n1' });
    expect((await probe.run()).ok).toBe(true);
    probe.stop();
    expect(seen).toEqual([]);
    await core.close();
  });
});
