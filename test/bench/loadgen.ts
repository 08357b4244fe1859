/**
 * Load generator process (spawned by run.ts; never in the broker's process).
 *
 * Protocol with the orchestrator: one JSON RunSpec per line on stdin, one line
 * `RESULT <json RunResult>` per spec on stdout. Diagnostics go to stderr.
 * On start it prints `READY {"nofile": <soft fd limit>}`.
 *
 * Design notes (why it should not be the bottleneck):
 * - raw `net` sockets, a hand parser (wire.ts) that does not allocate a packet
 *   object per message, pre-encoded PUBLISH templates patched in place;
 * - all PUBLISHes a publisher may send in one event-loop turn go out as ONE
 *   buffer (one write syscall); PUBACKs for one received chunk go out as one
 *   buffer;
 * - flow control is recomputed at most once per event-loop turn (setImmediate
 *   "pump"), not per message;
 * - timestamps: one performance.now() per batch (send side) / per received
 *   chunk (receive side).
 * The latency workload (open loop, one publisher, one subscriber) runs in
 * latency.ts, each side on a thread of its own (latworker.ts says why).
 *
 * Closed-loop flow control (so runs measure sustained throughput, not queue
 * growth inside the broker):
 * - QoS 1: at most `window` unacknowledged PUBLISH per publisher;
 * - QoS 0 and QoS 1: at most `e2eWindow` messages per publisher that were
 *   published but not yet seen by the slowest receiver of that publisher
 *   (the generator owns both ends, so it knows). If a publisher is blocked on
 *   this window without progress for 500 ms (e.g. QoS 0 tail loss) its credit
 *   is reset and a "stall" is counted;
 * - never more than 256 KiB queued in a publisher socket's userland buffer.
 */
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { PublisherSet, openConn, type PublisherPlan } from './publishers.js';
import { createInterface } from 'node:readline';
import { Conn, PublishTemplate, connectPacket, disconnectPacket, subscribePacket, type WireHandler } from './wire.js';
import { Measure, latencySummary, procSample, runTag, type RunResult, type RunSpec } from './common.js';
import { runLatency } from './latency.js';

/** Drain: missing messages count as lost after this long without any delivery (--drain-patience). */
const DRAIN_PATIENCE_MS = 10_000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function fdLimit(): number {
  try {
    const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : 1024;
  } catch {
    return 1024;
  }
}

const noopHandler: WireHandler = {
  onPuback() {},
  onPublish() {},
  onPublishBatchEnd() {},
  onClose() {},
};


function subscribe(conn: Conn, filter: string, qos: 0 | 1, timeoutMs = 10000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`SUBACK timeout (${filter})`)), timeoutMs);
    conn.waiter = (code) => {
      clearTimeout(timer);
      if (code >= 0 && code < 0x80) resolve();
      else reject(new Error(`SUBSCRIBE ${filter} refused (code ${code})`));
    };
    conn.write(subscribePacket(filter, qos, 1, conn.version));
  });
}

/** Worker threads do not inherit the tsx loader: the worker registers it, then loads its TypeScript entry. */
const PUBWORKER = new URL('./pubworker.ts', import.meta.url).href;
const PUBWORKER_BOOT = `const { workerData } = require('node:worker_threads');
import('tsx/esm/api').then((tsx) => { tsx.register(); return import(workerData.entry); });`;

function workerReply(w: Worker, cmd: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { cmd: string; message?: string }) => {
      if (m.cmd === cmd) {
        w.off('message', onMessage);
        resolve(m);
      } else if (m.cmd === 'error') {
        w.off('message', onMessage);
        reject(new Error(m.message));
      }
    };
    w.on('message', onMessage);
    w.once('error', reject);
  });
}

async function closeAll(conns: Conn[]): Promise<void> {
  const dc = disconnectPacket();
  const waits: Promise<void>[] = [];
  for (const c of conns) {
    if (c.closed) continue;
    waits.push(new Promise((r) => c.sock.once('close', () => r())));
    c.sock.end(dc);
  }
  await Promise.race([Promise.all(waits), sleep(2000)]);
  for (const c of conns) if (!c.closed) c.sock.destroy();
}

function emptyResult(spec: RunSpec): RunResult {
  return {
    id: spec.id,
    ok: true,
    measuredMs: 0,
    sent: 0,
    delivered: 0,
    pubRate: 0,
    deliveredRate: 0,
    expected: 0,
    unique: 0,
    lost: 0,
    dups: 0,
    reordered: 0,
    stalls: 0,
    brokerCpuPct: NaN,
    brokerRssMb: NaN,
    brokerHwmMb: NaN,
    genCpuPct: NaN,
  };
}

/** Per (receiver group, publisher) sequence tracker: exact loss / dup / reorder counting. */
class SeqTracker {
  bits = new Uint8Array(8192);
  unique = 0;
  dups = 0;
  reordered = 0;
  maxSeq = -1;
  see(seq: number): void {
    const byte = seq >>> 3;
    if (byte >= this.bits.length) {
      let n = this.bits.length * 2;
      while (n <= byte) n *= 2;
      const nb = new Uint8Array(n);
      nb.set(this.bits);
      this.bits = nb;
    }
    const mask = 1 << (seq & 7);
    if (this.bits[byte]! & mask) {
      this.dups++;
      return;
    }
    this.bits[byte]! |= mask;
    this.unique++;
    if (seq > this.maxSeq) this.maxSeq = seq;
    else this.reordered++;
  }
}

class FloatList {
  a = new Float64Array(1 << 16);
  n = 0;
  push(x: number): void {
    if (this.n === this.a.length) {
      const nb = new Float64Array(this.a.length * 2);
      nb.set(this.a);
      this.a = nb;
    }
    this.a[this.n++] = x;
  }
  sorted(): Float64Array {
    return this.a.subarray(0, this.n).sort();
  }
}

/** fanin / fanout / p2p / shared / latency */
async function runMessaging(spec: RunSpec): Promise<RunResult> {
  const r = emptyResult(spec);
  const P = spec.pubs;
  const S = spec.subs;
  const tag = runTag(spec);
  // --- topology
  const pubTopic: string[] = [];
  const subFilter: string[] = [];
  const subGroup: number[] = [];
  const pubGroups: number[][] = [];
  let G = 0;
  switch (spec.kind) {
    case 'fanin': {
      const base = 'bench/fanin';
      for (let p = 0; p < P; p++) pubTopic.push(`${base}/${p}`), pubGroups.push([0]);
      for (let s = 0; s < S; s++) subFilter.push(`${base}/#`), subGroup.push(s);
      G = S;
      for (let p = 0; p < P; p++) pubGroups[p] = [...Array(S).keys()];
      break;
    }
    case 'fanout':
      for (let p = 0; p < P; p++) pubTopic.push('bench/fanout');
      for (let s = 0; s < S; s++) subFilter.push('bench/fanout'), subGroup.push(s);
      G = S;
      for (let p = 0; p < P; p++) pubGroups.push([...Array(S).keys()]);
      break;
    case 'p2p':
      for (let p = 0; p < P; p++) {
        pubTopic.push(`bench/p2p/${p}`);
        subFilter.push(`bench/p2p/${p}`);
        subGroup.push(p);
        pubGroups.push([p]);
      }
      G = P;
      break;
    case 'shared':
      for (let p = 0; p < P; p++) pubTopic.push(`bench/shared/${p}`), pubGroups.push([0]);
      for (let s = 0; s < S; s++) subFilter.push('$share/g/bench/shared/#'), subGroup.push(0);
      G = 1;
      break;
    default:
      throw new Error(`not a messaging workload: ${spec.kind}`);
  }
  const trackers: SeqTracker[] = [];
  for (let i = 0; i < G * P; i++) trackers.push(new SeqTracker());

  let measuring = false;
  let publishing = false;
  let deliveredMeasured = 0;
  let deliveredTotal = 0;
  let stray = 0;
  const lat = new FloatList();
  const recordLatency = true;
  const all: Conn[] = [];

  const recvShared = new Int32Array(new SharedArrayBuffer(4 * P));
  const sentShared = new Int32Array(new SharedArrayBuffer(4 * P));
  const minRecvOf = (p: number): number => {
    let m = 0x7fffffff;
    for (const g of pubGroups[p]!) {
      const t = trackers[g * P + p]!;
      if (t.maxSeq + 1 < m) m = t.maxSeq + 1;
    }
    return m;
  };

  const handler: WireHandler = {
    onPuback() {},
    onPublish(conn, pubIdx, seq, sentAt, now) {
      const t = pubIdx < P ? trackers[subGroup[conn.tag]! * P + pubIdx] : undefined;
      if (!t) {
        stray++;
        return;
      }
      t.see(seq);
      deliveredTotal++;
      if (measuring) {
        deliveredMeasured++;
        if (recordLatency) lat.push(now - sentAt);
      }
    },
    onPublishBatchEnd() {
      // Receiver progress for the closed-loop window of every publisher (publishers.ts reads it).
      for (let p = 0; p < P; p++) recvShared[p] = minRecvOf(p);
    },
    onClose() {},
  };

  let inThread: PublisherSet | undefined;
  const workers: Worker[] = [];
  try {
    // --- connect subscribers first, then publishers
    for (let s = 0; s < S; s++) {
      const c = await openConn(spec, `bs-${tag}-${s}`, handler, true);
      c.tag = s;
      all.push(c);
      await subscribe(c, subFilter[s]!, spec.qos);
    }
    {
      const plan = (indices: number[]): PublisherPlan => ({ spec, indices, topics: pubTopic, tag });
      const W = Math.min(spec.genWorkers ?? 0, P);
      if (W === 0) {
        inThread = new PublisherSet(plan([...Array(P).keys()]), recvShared, sentShared, () => performance.now());
        await inThread.connect();
        all.push(...inThread.connections);
      } else {
        for (let w = 0; w < W; w++) {
          const indices = [...Array(P).keys()].filter((p) => p % W === w);
          const worker = new Worker(PUBWORKER_BOOT, {
            eval: true,
            workerData: { plan: plan(indices), recv: recvShared.buffer, sent: sentShared.buffer, origin: performance.timeOrigin, entry: PUBWORKER },
          });
          workers.push(worker);
          await workerReply(worker, 'connected');
        }
      }
    }
    await sleep(100);

    // --- run
    publishing = true;
    if (inThread) inThread.start();
    for (const w of workers) w.postMessage({ cmd: 'start' });

    await sleep(spec.warmupMs);
    const sentNow = (): number => sentShared.reduce((a, n) => a + n, 0);
    const sent0 = sentNow();
    measuring = true;
    for (const w of workers) w.postMessage({ cmd: 'measure' });
    const m = new Measure(spec.brokerPid);
    await sleep(spec.durationMs);
    measuring = false;
    const ms = m.finish(r);
    const sent1 = sentNow();
    publishing = false;
    inThread?.stop();
    for (const w of workers) {
      w.postMessage({ cmd: 'stop' });
      const reply = (await workerReply(w, 'stopped')) as { elu: number; stalls: number };
      r.genBusiestThread = Math.max(r.genBusiestThread ?? 0, reply.elu);
      r.stalls += reply.stalls;
    }
    if (inThread) r.stalls += inThread.stalls;
    r.genThreads = 1 + workers.length;

    r.sent = sent1 - sent0;
    r.delivered = deliveredMeasured;
    r.pubRate = (r.sent / ms) * 1000;
    r.deliveredRate = (deliveredMeasured / ms) * 1000;

    // --- drain: wait until everything expected arrived or no progress for 2 s (max 60 s). Without
    // an end-to-end window a broker that pushes back leaves the backlog in the publishers' TCP
    // buffers, and a broker that does not holds it in its own queues: either drains steadily.
    let expected = 0;
    for (let p = 0; p < P; p++) expected += sentShared[p]! * pubGroups[p]!.length;
    const uniqueNow = (): number => trackers.reduce((a, t) => a + t.unique, 0);
    // A late message is not a lost one: the longest pause in deliveries is reported on its own
    // (drainGapMs), and only what is still missing after `drainPatienceMs` without progress is lost.
    const patienceMs = spec.drainPatienceMs ?? DRAIN_PATIENCE_MS;
    const drainStart = performance.now();
    let last = -1;
    let lastAt = drainStart;
    let gap = 0;
    for (;;) {
      const u = uniqueNow();
      const now = performance.now();
      if (u >= expected || now - drainStart > 60_000) break;
      if (u !== last) {
        last = u;
        lastAt = now;
      } else if (now - lastAt > patienceMs) break;
      gap = Math.max(gap, now - lastAt);
      await sleep(20);
    }
    r.drainGapMs = Math.round(gap);
    r.expected = expected;
    r.unique = uniqueNow();
    r.lost = Math.max(0, expected - r.unique);
    r.dups = trackers.reduce((a, t) => a + t.dups, 0);
    r.reordered = trackers.reduce((a, t) => a + t.reordered, 0);
    if (stray) r.note = `${stray} unexpected messages`;
    if (spec.kind === 'shared' && deliveredTotal === 0) {
      r.ok = false;
      r.error = 'no deliveries via $share (shared subscriptions unsupported?)';
    }
    r.latency = latencySummary(lat.sorted());
  } finally {
    publishing = false;
    inThread?.stop();
    for (const w of workers) {
      w.postMessage({ cmd: 'close' });
      await Promise.race([workerReply(w, 'closed').catch(() => {}), sleep(2000)]);
      await w.terminate();
    }
    await closeAll(all);
  }
  return r;
}

/** CONNECT+CONNACK (then DISCONNECT) per second, `concurrency` attempts in flight. */
async function runConnRate(spec: RunSpec): Promise<RunResult> {
  const r = emptyResult(spec);
  const tag = runTag(spec);
  let running = true;
  let measuring = false;
  let ok = 0;
  let fail = 0;
  let seq = 0;
  let active = 0;
  const dc = disconnectPacket();
  const one = (): void => {
    if (!running) return;
    active++;
    const id = `cr-${tag}-${seq++}`;
    const sock = net.connect({ host: spec.host, port: spec.port });
    const conn = new Conn(sock, spec.protocol, noopHandler, false);
    let got = false;
    conn.waiter = (code) => {
      if (code === 0) {
        got = true;
        if (measuring) ok++;
        sock.end(dc); // server closes after DISCONNECT -> TIME_WAIT lands on the server side
      } else {
        sock.destroy();
      }
    };
    sock.on('connect', () => sock.write(connectPacket(id, spec.protocol)));
    sock.on('close', () => {
      active--;
      if (!got && measuring) fail++;
      one();
    });
  };
  for (let i = 0; i < spec.concurrency; i++) one();
  await sleep(spec.warmupMs);
  measuring = true;
  const m = new Measure(spec.brokerPid);
  await sleep(spec.durationMs);
  measuring = false;
  const ms = m.finish(r);
  running = false;
  const t = performance.now();
  while (active > 0 && performance.now() - t < 3000) await sleep(20);
  r.connectRate = (ok / ms) * 1000;
  r.connectFailures = fail;
  r.deliveredRate = r.connectRate;
  return r;
}

/** RSS per idle connection. */
async function runMemory(spec: RunSpec): Promise<RunResult> {
  const r = emptyResult(spec);
  const tag = runTag(spec);
  // warm the broker's connection path once, then baseline
  const warm = await openConn(spec, `mw-${tag}`, noopHandler, false);
  await closeAll([warm]);
  await sleep(500);
  const before = procSample(spec.brokerPid);
  const conns: Conn[] = [];
  let failed = 0;
  let next = 0;
  const m = new Measure(spec.brokerPid);
  const worker = async (): Promise<void> => {
    while (next < spec.conns) {
      const i = next++;
      try {
        conns.push(await openConn(spec, `mi-${tag}-${i}`, noopHandler, false, 30000));
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: spec.concurrency }, worker));
  const connectMs = performance.now() - m.t0;
  await sleep(1500);
  m.finish(r);
  const burst = procSample(spec.brokerPid);
  // The figure is read after the connections have been idle a while: a garbage-collected runtime
  // returns the connect burst's garbage only when it sees the process idle (V8's memory reducer
  // runs ~8 s after allocation stops, then again), and what an idle connection costs is what stays.
  const idleMs = spec.idleMs ?? 0;
  if (idleMs > 1500) await sleep(idleMs - 1500);
  const after = procSample(spec.brokerPid);
  r.conns = conns.length;
  r.connectSeconds = connectMs / 1000;
  r.connectRate = (conns.length / connectMs) * 1000;
  r.connectFailures = failed;
  if (before && after && conns.length > 0) {
    r.rssBeforeMb = before.rssKb / 1024;
    r.rssAfterMb = after.rssKb / 1024;
    r.kbPerConn = (after.rssKb - before.rssKb) / conns.length;
    if (burst) {
      r.rssBurstMb = burst.rssKb / 1024;
      r.kbPerConnBurst = (burst.rssKb - before.rssKb) / conns.length;
    }
  }
  if (failed) r.note = `${failed} connections failed`;
  for (const c of conns) c.sock.destroy();
  await sleep(300);
  return r;
}

async function runSpec(spec: RunSpec): Promise<RunResult> {
  try {
    if (spec.kind === 'connrate') return await runConnRate(spec);
    if (spec.kind === 'memory') return await runMemory(spec);
    if (spec.kind === 'latency') return await runLatency(spec, emptyResult(spec));
    return await runMessaging(spec);
  } catch (e) {
    const r = emptyResult(spec);
    r.ok = false;
    r.error = (e as Error).message;
    return r;
  }
}

async function main(): Promise<void> {
  process.stdout.write(`READY ${JSON.stringify({ nofile: fdLimit() })}\n`);
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    const spec = JSON.parse(line) as RunSpec;
    const res = await runSpec(spec);
    process.stdout.write(`RESULT ${JSON.stringify(res)}\n`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
