/**
 * The latency workload: one publisher, one subscriber, QoS 1, open loop at `spec.rate` msg/s. It
 * runs on the C generator (latency-c.ts, latgen.c) where a C compiler works; this file is the Node
 * generator, the fallback and `--lat-gen node`. The publisher and the subscriber each run on a
 * worker thread of their own (latworker.ts, which says how the generator keeps its own jitter
 * out); this thread only starts them, samples CPU over the measured window and computes the
 * percentiles.
 *
 * Times are on this thread's clock (the workers add the difference of time origins). The measured
 * window selects messages by their send time; the broker's CPU is sampled over the same window.
 */
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { Measure, latencySummary, runTag, type RunResult, type RunSpec } from './common.js';
import type { LatCommand, LatWorkerData, PubReport, SubReport } from './latworker.js';
import { latgenBinary, runLatencyC } from './latency-c.js';

const LATWORKER = new URL('./latworker.ts', import.meta.url).href;
/** Worker threads do not inherit the tsx loader: the worker registers it, then loads its TypeScript entry. */
const BOOT = `const { workerData } = require('node:worker_threads');
import('tsx/esm/api').then((tsx) => { tsx.register(); return import(workerData.entry); });`;
const DRAIN_PATIENCE_MS = 10_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function reply<T>(w: Worker, cmd: string, timeoutMs = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`latency worker: no '${cmd}' after ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (m: { cmd: string; message?: string }): void => {
      if (m.cmd === cmd) done(undefined, m as T);
      else if (m.cmd === 'error') done(new Error(m.message));
    };
    const onError = (e: Error): void => done(e);
    const done = (e: Error | undefined, v?: T): void => {
      clearTimeout(timer);
      w.off('message', onMessage);
      w.off('error', onError);
      if (e) reject(e);
      else resolve(v as T);
    };
    w.on('message', onMessage);
    w.on('error', onError);
  });
}

export async function runLatency(spec: RunSpec, r: RunResult): Promise<RunResult> {
  if (spec.latGen !== 'node') {
    const c = latgenBinary();
    if (c.path) return runLatencyC(spec, r, c.path);
    r.note = `Node generator: ${c.why}`;
  }
  const tag = runTag(spec);
  const topic = `bench/lat/${tag}`;
  const counters = new Int32Array(new SharedArrayBuffer(8));
  // Every message of the run (warm-up, window, some margin) gets a sample slot.
  const capacity = Math.ceil((spec.rate * (spec.warmupMs + spec.durationMs + 2000)) / 1000) + 1024;
  const data = (role: 'pub' | 'sub'): LatWorkerData => ({
    role,
    host: spec.host,
    port: spec.port,
    protocol: spec.protocol,
    clientId: `bl${role}-${tag}`,
    topic,
    payload: spec.payload,
    rate: spec.rate,
    origin: performance.timeOrigin,
    capacity,
    counters: counters.buffer as SharedArrayBuffer,
  });
  const start = (role: 'pub' | 'sub'): Worker => new Worker(BOOT, { eval: true, workerData: { ...data(role), entry: LATWORKER } });
  const workers: Worker[] = [];
  try {
    const sub = start('sub');
    workers.push(sub);
    await reply(sub, 'ready');
    const pub = start('pub');
    workers.push(pub);
    await reply(pub, 'ready');
    await sleep(100);

    const t0 = performance.now() + 5;
    const from = t0 + spec.warmupMs;
    const to = from + spec.durationMs;
    const go: LatCommand = { cmd: 'start', t0, from, to };
    sub.postMessage(go);
    pub.postMessage(go);
    await sleep(Math.max(0, from - performance.now()));
    const m = new Measure(spec.brokerPid);
    await sleep(Math.max(0, to - performance.now()));
    const ms = m.finish(r);
    pub.postMessage({ cmd: 'stop' } satisfies LatCommand);
    const p = await reply<PubReport>(pub, 'stopped');

    // Drain: everything sent arrives, or nothing arrives for the patience.
    const patience = spec.drainPatienceMs ?? DRAIN_PATIENCE_MS;
    let last = -1;
    let lastAt = performance.now();
    let gap = 0;
    for (;;) {
      const got = Atomics.load(counters, 1);
      const now = performance.now();
      if (got >= p.total) break;
      if (got !== last) {
        last = got;
        lastAt = now;
      } else if (now - lastAt > patience) break;
      gap = Math.max(gap, now - lastAt);
      await sleep(20);
    }
    sub.postMessage({ cmd: 'report' } satisfies LatCommand);
    const s = await reply<SubReport>(sub, 'report');

    r.sent = p.sentInWindow;
    r.pubRate = (p.sentInWindow / ms) * 1000;
    r.delivered = s.latencies.length;
    r.deliveredRate = (s.latencies.length / ms) * 1000;
    r.expected = p.total;
    r.unique = s.unique;
    r.lost = Math.max(0, p.total - s.unique);
    r.dups = s.dups;
    r.reordered = s.reordered;
    r.drainGapMs = Math.round(gap);
    r.genThreads = 3;
    r.genBusiestThread = s.elu;
    r.genWake = p.wake;
    r.genGcMs = p.gcMs + s.gcMs;
    r.genGcCount = p.gcCount + s.gcCount;
    r.skippedSlots = p.skipped;
    const sorted = s.latencies.sort();
    r.latency = latencySummary(sorted);
    return r;
  } finally {
    for (const w of workers) {
      w.postMessage({ cmd: 'close' } satisfies LatCommand);
      await Promise.race([reply(w, 'closed').catch(() => {}), sleep(2500)]);
      await w.terminate();
    }
  }
}
