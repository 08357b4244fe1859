/** Types and helpers shared by the orchestrator (run.ts) and the load generator (loadgen.ts). */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';

export type Kind = 'fanin' | 'fanout' | 'p2p' | 'shared' | 'latency' | 'connrate' | 'memory';

export interface RunSpec {
  id: string;
  host: string;
  port: number;
  brokerPid: number;
  protocol: 4 | 5;
  kind: Kind;
  qos: 0 | 1;
  payload: number;
  pubs: number;
  subs: number;
  /** QoS 1: max unacknowledged PUBLISH per publisher */
  window: number;
  /** max published-but-not-yet-received (by the slowest receiver) messages per publisher */
  e2eWindow: number;
  /** open-loop publish rate (msg/s) for the latency workload */
  rate: number;
  warmupMs: number;
  durationMs: number;
  /** connrate: concurrent connect attempts; memory: number of idle connections */
  conns: number;
  /** memory: how long the connections stay idle before RSS is read (the figure), ms */
  idleMs?: number;
  concurrency: number;
  /** Worker threads that run the publishers (0: on the generator's main thread, with the receivers). */
  genWorkers?: number;
  /** Drain: what has not arrived after this long without any delivery counts as lost (ms). */
  drainPatienceMs?: number;
  /** latency: the generator, C (latgen.c, the default where a C compiler works) or Node (latworker.ts). */
  latGen?: 'c' | 'node';
}

export interface ProcSample {
  cpuMs: number; // utime+stime
  rssKb: number;
  hwmKb: number;
}

export interface RunResult {
  id: string;
  ok: boolean;
  error?: string;
  note?: string;
  measuredMs: number;
  sent: number; // messages published in the measured window
  delivered: number; // deliveries received in the measured window (all subscribers)
  pubRate: number;
  deliveredRate: number;
  expected: number; // over the whole run (warmup + measure), after drain
  unique: number;
  lost: number;
  /** Drain: the longest time without any delivery while messages were still expected (ms). */
  drainGapMs?: number;
  dups: number;
  reordered: number;
  stalls: number;
  /** ms; `over1`/`over2`: the share of messages slower than 1 and 2 ms (whether a p99 is a few stalls or the body). */
  latency?: { n: number; p50: number; p90: number; p99: number; p999: number; max: number; over1: number; over2: number };
  /** latency: how late the open-loop scheduler was at worst (ms) */
  schedLagMaxMs?: number;
  /**
   * latency: how late the publisher thread woke for its send slots (ms). A generator thread woken
   * by its socket waits for a CPU as long, so a p99 near this is the machine's, not the broker's.
   */
  genWake?: { p50: number; p99: number; max: number };
  /** latency: GC pauses in the generator's publisher and subscriber threads during the window */
  genGcMs?: number;
  genGcCount?: number;
  /** latency: send slots skipped because the publisher woke more than one interval late */
  skippedSlots?: number;
  brokerCpuPct: number; // % of one core during the measured window
  brokerRssMb: number; // at end of measured window
  brokerHwmMb: number;
  genCpuPct: number; // load generator, % of one core during the measured window (user+system)
  genSysPct?: number; // ... of which system (kernel) time
  /** Event-loop utilization (0..1) of the generator's busiest thread: near 1, the generator was the limit. */
  genBusiestThread?: number;
  genThreads?: number;
  /** CPU used by everything else on the machine during the window (% of one core): noise indicator */
  otherCpuPct?: number;
  // connrate
  connectRate?: number;
  connectFailures?: number;
  // memory
  conns?: number;
  rssBeforeMb?: number;
  rssAfterMb?: number;
  /** memory: (RSS after the idle wait - RSS before connecting) / connections */
  kbPerConn?: number;
  /** memory: the same 1.5 s after the last CONNACK, with the connect burst's garbage still in the heap */
  kbPerConnBurst?: number;
  rssBurstMb?: number;
  connectSeconds?: number;
}

let clkTck = 0;
export function clockTicks(): number {
  if (!clkTck) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/**
 * CPU time (utime+stime, all threads) and RSS of a process from /proc, summed over the processes it
 * started: a cluster broker (cluster-server.ts) is a supervisor whose front ends and back ends do the work.
 */
export function procSample(pid: number): ProcSample | null {
  const own = oneProcSample(pid);
  if (!own) return null;
  for (const child of childrenOf(pid)) {
    const c = procSample(child);
    if (!c) continue;
    own.cpuMs += c.cpuMs;
    own.rssKb += c.rssKb;
    own.hwmKb += c.hwmKb;
  }
  return own;
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function oneProcSample(pid: number): ProcSample | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // after ")": f[0]=state(3) ... utime is field 14 -> f[11], stime 15 -> f[12]
    const ticks = Number(f[11]) + Number(f[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /VmRSS:\s+(\d+)/.exec(status);
    const hwm = /VmHWM:\s+(\d+)/.exec(status);
    return {
      cpuMs: (ticks * 1000) / clockTicks(),
      rssKb: rss ? Number(rss[1]) : 0,
      hwmKb: hwm ? Number(hwm[1]) : 0,
    };
  } catch {
    return null;
  }
}

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** A short, name-safe tag of a run (its client ids, topics and files carry it). */
export function runTag(spec: RunSpec): string {
  return spec.id.replace(/[^A-Za-z0-9]/g, '').slice(-12);
}

/** The latency figures of a run from its sorted samples (ms); undefined when there are none. */
export function latencySummary(sorted: ArrayLike<number>): RunResult['latency'] {
  if (sorted.length === 0) return undefined;
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
    max: sorted[sorted.length - 1]!,
    over1: shareAbove(sorted, 1),
    over2: shareAbove(sorted, 2),
  };
}

/** The fraction of sorted samples above `x`. */
function shareAbove(sorted: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return (sorted.length - lo) / sorted.length;
}

export function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

/** machine-wide busy CPU time in ms (all cores, without irq/softirq) from /proc/stat */
export function machineBusyMs(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: count user+nice+system+steal.
    // irq/softirq are left out: on loopback they are mostly our own traffic.
    const busy = (v[0] ?? 0) + (v[1] ?? 0) + (v[2] ?? 0) + (v[7] ?? 0);
    return (busy * 1000) / clockTicks();
  } catch {
    return NaN;
  }
}

/** CPU of the generator (all threads), the broker and the machine over a measured window. */
export class Measure {
  cpu0 = process.cpuUsage();
  elu0 = performance.eventLoopUtilization();
  t0 = performance.now();
  b0: ProcSample | null;
  busy0 = machineBusyMs();
  constructor(readonly pid: number) {
    this.b0 = procSample(pid);
  }
  finish(r: RunResult): number {
    const ms = performance.now() - this.t0;
    const cpu = process.cpuUsage(this.cpu0);
    const b1 = procSample(this.pid);
    const busy = ((machineBusyMs() - this.busy0) / ms) * 100;
    r.measuredMs = ms;
    // process.cpuUsage covers every thread of the generator; the busiest thread's event-loop
    // utilization tells whether one of them was the limit.
    r.genCpuPct = ((cpu.user + cpu.system) / 1000 / ms) * 100;
    r.genBusiestThread = performance.eventLoopUtilization(this.elu0).utilization;
    r.genSysPct = (cpu.system / 1000 / ms) * 100;
    if (this.b0 && b1) {
      r.brokerCpuPct = ((b1.cpuMs - this.b0.cpuMs) / ms) * 100;
      r.brokerRssMb = b1.rssKb / 1024;
      r.brokerHwmMb = b1.hwmKb / 1024;
      r.otherCpuPct = Math.max(0, busy - r.brokerCpuPct - r.genCpuPct);
    }
    return ms;
  }
}
