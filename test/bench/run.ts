/**
 * edgemq broker benchmark: Mosquitto vs Aedes vs edgemq on loopback.
 *
 *   npm run bench -- [--brokers mosquitto,aedes,edgemq] [--only fanin,fanout,...]
 *                    [--reps 3] [--duration 5] [--warmup 0.5] [--settle 30] [--quick]
 *                    [--protocol 4|5] [--window 64] [--e2e-window 256]
 *                    [--rate 5000] [--conns 10000] [--pin] [--fresh] [--list]
 *
 * Choices (see test/bench/README.md for more):
 * - Three processes kinds: this orchestrator (idle while runs execute), one
 *   long-lived load generator process (loadgen.ts, raw sockets + pre-encoded
 *   packets, single thread => at most ~1 core) and the broker processes.
 *   Broker CPU is read from /proc/<pid>/stat (utime+stime, all threads) and
 *   RSS/HWM from /proc/<pid>/status, sampled by the generator exactly at the
 *   start/end of the measured window; generator CPU from process.cpuUsage().
 * - Alternation: for each workload variant, fresh brokers are started, then
 *   runs go A B C A B C ... (reps times) so slow drifts (thermal, noisy
 *   neighbours) hit every broker equally. connrate/memory start a fresh broker
 *   for every single run (RSS baseline must be clean); `--fresh` does that for
 *   every workload.
 * - Closed-loop throughput: bounded PUBACK window (QoS 1) and bounded
 *   end-to-end window (published but not yet received, both QoS) per
 *   publisher, so the broker's queues cannot grow without bound and delivered
 *   msg/s is a sustained rate. Loss/dups are counted exactly per publisher
 *   sequence number at every receiver after a drain phase.
 * - Latency: open loop at a fixed rate (default 5k msg/s, QoS 1), send time in
 *   the payload, receive time on arrival, same process/clock. Before a
 *   broker's first repetition the same load runs unmeasured for `--settle`
 *   seconds: the figure is the broker's steady state, not its JIT warm-up.
 * - MQTT 3.1.1 by default because Aedes speaks only 3.1.1; `--protocol 5`
 *   drops Aedes and benchmarks mosquitto/edgemq with MQTT 5 packets.
 * - Medians over reps; ratios edgemq/mosquitto and edgemq/aedes of medians.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { ALL_BROKERS, KNOWN_BROKERS, mosquittoVersion, startBroker, type BrokerHandle, type BrokerName } from './brokers.js';
import { median, type Kind, type RunResult, type RunSpec } from './common.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// ------------------------------------------------------------------ options
interface Opts {
  brokers: BrokerName[];
  only: string[] | null;
  reps: number;
  duration: number;
  warmup: number;
  /**
   * latency: seconds of the same open-loop load, unmeasured, before a broker's first measured
   * window. A Node broker compiles its hot code with TurboFan on helper threads for its first
   * ~30 s at 5k msg/s, and those threads take the cores from the event loops (README, Performance).
   */
  settle: number;
  quick: boolean;
  protocol: 4 | 5;
  window: number;
  e2eWindow: number;
  rate: number;
  conns: number;
  /** memory: seconds the connections stay idle before the figure is read */
  idle: number;
  pin: boolean;
  fresh: boolean;
  list: boolean;
  /** Worker threads of the generator that run the publishers. */
  genWorkers: number;
  /** Drain: seconds without any delivery after which what is missing counts as lost. */
  drainPatience: number;
  /** latency: the generator (C where a compiler works, else Node; `node` forces the Node one). */
  latGen: 'c' | 'node';
  /** Options given on the command line (fan-in defaults yield to them). */
  given: Set<string>;
}

function parseArgs(argv: string[]): Opts {
  const o: Opts = {
    brokers: [...ALL_BROKERS],
    only: null,
    reps: 3,
    duration: 5,
    warmup: 0.5,
    settle: 30,
    quick: false,
    protocol: 4,
    window: 64,
    e2eWindow: 256,
    rate: 5000,
    conns: 10000,
    idle: 25,
    pin: false,
    fresh: false,
    list: false,
    genWorkers: 2,
    drainPatience: 10,
    latGen: 'c',
    given: new Set<string>(),
  };
  const set = o.given;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [k, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const val = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${k} needs a value`);
      return v;
    };
    set.add(k);
    switch (k) {
      case '--brokers':
        o.brokers = val().split(',').map((s) => s.trim()).filter(Boolean) as BrokerName[];
        for (const b of o.brokers) if (!KNOWN_BROKERS.includes(b)) throw new Error(`unknown broker ${b} (one of ${KNOWN_BROKERS.join(", ")})`);
        break;
      case '--only':
        o.only = val().split(',').map((s) => s.trim()).filter(Boolean);
        break;
      case '--reps':
        o.reps = Number(val());
        break;
      case '--duration':
        o.duration = Number(val());
        break;
      case '--warmup':
        o.warmup = Number(val());
        break;
      case '--settle':
        o.settle = Number(val());
        if (!(o.settle >= 0)) throw new Error(`--settle: seconds >= 0, got ${inline ?? argv[i]}`);
        break;
      case '--quick':
        o.quick = true;
        break;
      case '--protocol':
        o.protocol = Number(val()) === 5 ? 5 : 4;
        break;
      case '--window':
        o.window = Number(val());
        break;
      case '--e2e-window':
        o.e2eWindow = Number(val());
        break;
      case '--rate':
        o.rate = Number(val());
        break;
      case '--conns':
        o.conns = Number(val());
        break;
      case '--idle':
        o.idle = Number(val());
        break;
      case '--pin':
        o.pin = true;
        break;
      case '--fresh':
        o.fresh = true;
        break;
      case '--list':
        o.list = true;
        break;
      case '--gen-workers':
        o.genWorkers = Number(val());
        break;
      case '--drain-patience':
        o.drainPatience = Number(val());
        break;
      case '--lat-gen': {
        const g = val();
        if (g !== 'c' && g !== 'node') throw new Error(`--lat-gen ${g}: one of c, node`);
        o.latGen = g;
        break;
      }
      case '--help':
      case '-h':
        console.log(readmeHint);
        process.exit(0);
      // eslint-disable-next-line no-fallthrough
      default:
        throw new Error(`unknown option ${a} (see test/bench/README.md)`);
    }
  }
  if (o.quick) {
    if (!set.has('--reps')) o.reps = 1;
    if (!set.has('--duration')) o.duration = 1.5;
    if (!set.has('--warmup')) o.warmup = 0.3;
    if (!set.has('--settle')) o.settle = 2;
    if (!set.has('--conns')) o.conns = 2000;
    if (!set.has('--idle')) o.idle = 5;
  }
  if (o.protocol === 5 && o.brokers.includes('aedes')) {
    o.brokers = o.brokers.filter((b) => b !== 'aedes');
    console.log('note: --protocol 5: aedes (MQTT 3.1.1 only) removed from the broker list');
  }
  return o;
}

const readmeHint = `usage: npm run bench -- [--brokers mosquitto,aedes,edgemq] [--only fanin,fanout,p2p,shared,latency,connrate,memory]
  [--reps N=3] [--duration SECONDS=5] [--warmup SECONDS=0.5] [--settle SECONDS=30] [--quick] [--protocol 4|5]
  [--window 64] [--e2e-window 256] [--rate 5000] [--conns 10000] [--idle 25] [--pin] [--fresh] [--list]
  [--gen-workers 2] [--drain-patience SECONDS=10] [--lat-gen c|node]
See test/bench/README.md.`;

// ------------------------------------------------------------------ workloads
/** PUBACK window of a fan-in publisher (devices keep many unacknowledged); no end-to-end window. */
const FANIN_WINDOW = 1000;
const UNLIMITED = 1e9;

interface Variant {
  name: string;
  kind: Kind;
  qos: 0 | 1;
  payload: number;
  pubs: number;
  subs: number;
  concurrency: number;
  desc: string;
}

function variants(o: Opts): Variant[] {
  const v: Variant[] = [];
  const payloads = o.quick ? [64] : [64, 1024];
  const shapes: Array<[Kind, number, number, string]> = [
    ['fanin', 10, 1, '10 pub -> 1 sub on bench/fanin/#'],
    ['fanout', 1, 20, '1 pub -> 20 subs on bench/fanout'],
    ['p2p', 10, 10, '10 pairs bench/p2p/<i>'],
    ['shared', 10, 4, '10 pub -> $share/g/bench/shared/# x4'],
  ];
  for (const [kind, pubs, subs, desc] of shapes)
    for (const qos of [0, 1] as const)
      for (const payload of payloads)
        v.push({ name: `${kind}-q${qos}-${payload === 1024 ? '1k' : payload}`, kind, qos, payload, pubs, subs, concurrency: 0, desc });
  v.push({ name: 'latency-q1-64', kind: 'latency', qos: 1, payload: 64, pubs: 1, subs: 1, concurrency: 0, desc: `open loop ${o.rate} msg/s, 1 pub -> 1 sub` });
  v.push({ name: 'connrate', kind: 'connrate', qos: 0, payload: 0, pubs: 0, subs: 0, concurrency: 32, desc: 'CONNECT+CONNACK+DISCONNECT, 32 in flight' });
  v.push({ name: 'memory', kind: 'memory', qos: 0, payload: 0, pubs: 0, subs: 0, concurrency: 100, desc: `${o.conns} idle connections` });
  if (!o.only) return v;
  return v.filter((x) => o.only!.some((f) => x.kind === f || x.name === f || x.name.startsWith(f + '-')));
}

// ------------------------------------------------------------------ load generator process
class LoadGen {
  private child: ChildProcess | null = null;
  private waiting: ((line: string) => void) | null = null;
  nofile = 0;

  async start(cpus?: string): Promise<void> {
    const c = spawn(
      'bash',
      [
        '-c',
        'h=$(ulimit -Hn); if [ "$h" = unlimited ] || [ "$h" -gt 65536 ]; then h=65536; fi; ulimit -n "$h" 2>/dev/null; exec "$@"',
        'bash',
        ...(cpus ? ['taskset', '-c', cpus] : []),
        process.execPath,
        '--import',
        'tsx',
        path.join(repoRoot, 'test/bench/loadgen.ts'),
      ],
      { cwd: repoRoot, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    this.child = c;
    const rl = createInterface({ input: c.stdout! });
    rl.on('line', (line) => {
      const w = this.waiting;
      if ((line.startsWith('RESULT ') || line.startsWith('READY ')) && w) {
        this.waiting = null;
        w(line);
      } else if (line.trim()) process.stderr.write(`[loadgen] ${line}\n`);
    });
    c.on('exit', () => {
      this.child = null;
      const w = this.waiting;
      this.waiting = null;
      if (w) w('EXIT');
    });
    const ready = await new Promise<string>((r) => (this.waiting = r));
    if (!ready.startsWith('READY ')) throw new Error('load generator failed to start');
    this.nofile = JSON.parse(ready.slice(6)).nofile;
  }

  async run(spec: RunSpec, timeoutMs: number): Promise<RunResult> {
    if (!this.child) throw new Error('load generator not running');
    const line = await new Promise<string>((resolve) => {
      const t = setTimeout(() => {
        this.waiting = null;
        resolve('TIMEOUT');
      }, timeoutMs);
      this.waiting = (l) => {
        clearTimeout(t);
        resolve(l);
      };
      this.child!.stdin!.write(JSON.stringify(spec) + '\n');
    });
    if (line.startsWith('RESULT ')) return JSON.parse(line.slice(7)) as RunResult;
    // generator hung or died: restart it so the next run gets a clean one
    await this.stop();
    throw new Error(line === 'TIMEOUT' ? `load generator timed out after ${timeoutMs} ms` : 'load generator exited');
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.stdin!.end();
    const t = setTimeout(() => c.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  }
}

// ------------------------------------------------------------------ formatting
const fmtN = (x: number | undefined, d = 0): string =>
  x === undefined || !Number.isFinite(x) ? '-' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

function table(rows: string[][], header: string[]): string {
  const all = [header, ...rows];
  const w = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => (i < 2 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(header), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

interface Summary {
  variant: string;
  kind: Kind;
  broker: BrokerName;
  runs: number;
  okRuns: number;
  /** headline metric: delivered msg/s, connects/s, or KB per connection */
  metric: number;
  metricName: string;
  pubRate: number;
  lost: number;
  dups: number;
  stalls: number;
  p50: number;
  p99: number;
  brokerCpuPct: number;
  brokerRssMb: number;
  brokerHwmMb: number;
  genCpuPct: number;
  genSysPct: number;
  genBusiest: number;
  otherCpuPct: number;
  /** latency: how late the generator's publisher thread woke for its slots, p99 (ms) */
  genWakeP99: number;
  errors: string[];
  notes: string[];
}

function headline(kind: Kind, r: RunResult): number {
  if (kind === 'memory') return r.kbPerConn ?? NaN;
  if (kind === 'connrate') return r.connectRate ?? NaN;
  if (kind === 'latency') return r.latency?.p99 ?? NaN;
  return r.deliveredRate;
}
const metricName = (k: Kind): string =>
  k === 'memory' ? 'KB/conn' : k === 'connrate' ? 'conn/s' : k === 'latency' ? 'p99 ms' : 'deliv msg/s';
const lowerIsBetter = (k: Kind): boolean => k === 'memory' || k === 'latency';

/** A pause in deliveries at least this long while messages were still expected is shown (the old give-up point). */
const LATE_GAP_MS = 2000;
const maxDrainGap = (rs: RunResult[]): number => rs.reduce((a, r) => Math.max(a, r.drainGapMs ?? 0), 0);
const drainGapText = (r: RunResult): string => ((r.drainGapMs ?? 0) >= LATE_GAP_MS ? `  drain paused ${fmtN((r.drainGapMs ?? 0) / 1000, 1)} s` : '');

function summarize(v: Variant, broker: BrokerName, rs: RunResult[]): Summary {
  // A run that lost messages failed, but its rates are still shown.
  const ok = rs.filter((r) => r.ok || r.error?.startsWith('lost '));
  const med = (f: (r: RunResult) => number | undefined): number => median(ok.map((r) => f(r) ?? NaN));
  return {
    variant: v.name,
    kind: v.kind,
    broker,
    runs: rs.length,
    okRuns: ok.length,
    metric: med((r) => headline(v.kind, r)),
    metricName: metricName(v.kind),
    pubRate: med((r) => r.pubRate),
    lost: rs.reduce((a, r) => a + (r.lost ?? 0), 0),
    dups: ok.reduce((a, r) => a + r.dups, 0),
    stalls: ok.reduce((a, r) => a + r.stalls, 0),
    p50: med((r) => r.latency?.p50),
    p99: med((r) => r.latency?.p99),
    brokerCpuPct: med((r) => r.brokerCpuPct),
    brokerRssMb: med((r) => (v.kind === 'memory' ? r.rssAfterMb : r.brokerRssMb)),
    brokerHwmMb: med((r) => r.brokerHwmMb),
    genCpuPct: med((r) => r.genCpuPct),
    genSysPct: med((r) => r.genSysPct),
    genBusiest: med((r) => r.genBusiestThread),
    otherCpuPct: med((r) => r.otherCpuPct),
    genWakeP99: med((r) => r.genWake?.p99),
    errors: [...new Set(rs.filter((r) => !r.ok).map((r) => r.error ?? 'failed'))],
    notes: [
      ...(v.kind === 'memory' ? [`${fmtN(med((r) => r.kbPerConnBurst), 2)} KB/conn right after the connect burst`] : []),
      ...new Set(rs.map((r) => r.note).filter((n): n is string => !!n)),
      ...(v.kind === 'latency'
        ? [
            `p90 ${fmtN(med((r) => r.latency?.p90), 2)} ms, p99.9 ${fmtN(med((r) => r.latency?.p999), 2)} ms, over 1 ms ${fmtN(100 * med((r) => r.latency?.over1), 2)} %, over 2 ms ${fmtN(100 * med((r) => r.latency?.over2), 2)} %`,
            // Per message, the broker's CPU is what a message may queue behind at this rate.
            `broker CPU ${fmtN(med((r) => (r.brokerCpuPct * 1e4) / r.pubRate), 0)} µs per message`,
            `generator wake-up p99 ${fmtN(med((r) => r.genWake?.p99), 3)} ms, GC in window ${fmtN(med((r) => r.genGcMs), 1)} ms, skipped slots ${fmtN(med((r) => r.skippedSlots))}`,
          ]
        : []),
      ...(maxDrainGap(rs) >= LATE_GAP_MS ? [`deliveries paused up to ${fmtN(maxDrainGap(rs) / 1000, 1)} s in the drain (late, not lost)`] : []),
    ],
  };
}

// ------------------------------------------------------------------ main
async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const vs = variants(o);
  if (o.list) {
    for (const v of vs) console.log(`${v.name.padEnd(16)} ${v.desc}`);
    return;
  }
  if (vs.length === 0) throw new Error('no workload matches --only');
  const cpus = o.pin ? { broker: '0', gen: '1' } : { broker: undefined, gen: undefined };
  const gen = new LoadGen();
  await gen.start(cpus.gen);

  let memConns = o.conns;
  const notes: string[] = [];
  // generator needs conns + a few fds; brokers are raised to their own hard limit by the wrapper
  if (vs.some((v) => v.kind === 'memory') && gen.nofile < memConns + 200) {
    memConns = Math.max(100, gen.nofile - 200);
    notes.push(`memory: fd limit ${gen.nofile} -> N reduced from ${o.conns} to ${memConns} (raise the hard limit: ulimit -Hn)`);
  }
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    host: os.hostname(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    mosquitto: mosquittoVersion(),
    options: { ...o, memConns },
    notes,
  };
  console.log(`edgemq bench: brokers=${o.brokers.join(',')} reps=${o.reps} duration=${o.duration}s warmup=${o.warmup}s settle=${o.settle}s ` +
    `protocol=${o.protocol === 5 ? '5.0' : '3.1.1'} window=${o.window} e2e-window=${o.e2eWindow} ` +
    `(${os.cpus().length} cpus, node ${process.version}, mosquitto ${meta.mosquitto}, generator fd limit ${gen.nofile})`);
  for (const n of notes) console.log(`note: ${n}`);

  const skipped = new Map<BrokerName, string>();
  const results: Array<{ variant: string; broker: BrokerName; rep: number; result: RunResult }> = [];
  const totalRuns = vs.length * o.reps * o.brokers.length;
  let runNo = 0;
  const t0 = Date.now();

  const tryStart = async (b: BrokerName): Promise<BrokerHandle | null> => {
    if (skipped.has(b)) return null;
    // Ports are picked free and bound a moment later by another process: one taken meanwhile (a
    // cluster has several) is a reason to pick again, not to drop the broker from the run.
    for (let attempt = 1; ; attempt++) {
      try {
        return await startBroker(b, { repoRoot, protocol: o.protocol, cpus: cpus.broker });
      } catch (e) {
        const msg = (e as Error).message;
        if (/EADDRINUSE/.test(msg) && attempt < 3) {
          console.log(`  .. ${b}: a port was taken before it was bound, starting again (${msg.slice(0, 120)})`);
          continue;
        }
        skipped.set(b, msg);
        console.log(`  !! ${b} failed to start -> skipped for the rest of this run: ${msg}`);
        return null;
      }
    }
  };

  for (const v of vs) {
    console.log(`\n== ${v.name}: ${v.desc}`);
    const perRun = o.fresh || v.kind === 'memory' || v.kind === 'connrate';
    const live = new Map<BrokerName, BrokerHandle>();
    /** latency: brokers that ran the settle load already (a restarted or fresh one is cold again). */
    const settled = new WeakSet<BrokerHandle>();
    if (!perRun) for (const b of o.brokers) {
      const h = await tryStart(b);
      if (h) live.set(b, h);
    }
    for (let rep = 1; rep <= o.reps; rep++) {
      for (const b of o.brokers) {
        runNo++;
        if (skipped.has(b) && !live.has(b)) continue;
        let h = perRun ? await tryStart(b) : live.get(b);
        if (h && !h.alive()) {
          console.log(`  !! ${b} died (${h.stderrTail().trim().split('\n').slice(-1)[0] ?? ''}); restarting`);
          await h.stop();
          h = (await tryStart(b)) ?? undefined;
          if (h) live.set(b, h);
        }
        if (!h) continue;
        const settle = v.kind === 'latency' && !settled.has(h) ? o.settle : 0;
        settled.add(h);
        const spec: RunSpec = {
          id: `${v.name}-${b}-${rep}-${Date.now()}`,
          host: '127.0.0.1',
          port: h.port,
          brokerPid: h.pid,
          protocol: o.protocol,
          kind: v.kind,
          qos: v.qos,
          payload: v.payload,
          pubs: v.pubs,
          subs: v.subs,
          // Fan-in publishers behave like devices: up to FANIN_WINDOW unacknowledged, no end-to-end window.
          window: v.kind === 'fanin' && !o.given.has('--window') && v.qos === 1 ? FANIN_WINDOW : o.window,
          e2eWindow: v.kind === 'fanin' && !o.given.has('--e2e-window') ? UNLIMITED : o.e2eWindow,
          genWorkers: o.genWorkers,
          drainPatienceMs: o.drainPatience * 1000,
          latGen: o.latGen,
          rate: o.rate,
          warmupMs: (settle || o.warmup) * 1000,
          durationMs: o.duration * 1000,
          conns: memConns,
          idleMs: o.idle * 1000,
          concurrency: v.concurrency,
        };
        let r: RunResult;
        try {
          r = await gen.run(spec, spec.warmupMs + (o.duration + o.idle) * 1000 + 90000);
        } catch (e) {
          r = { id: spec.id, ok: false, error: (e as Error).message } as RunResult;
          await gen.stop();
          await gen.start(cpus.gen);
        }
        if (r.ok && !h.alive()) {
          r.ok = false;
          r.error = 'broker process died during the run';
        }
        if (r.ok && r.lost > 0 && v.kind !== 'connrate' && v.kind !== 'memory') {
          r.ok = false; // any loss fails the run
          r.error = `lost ${r.lost} of ${r.expected} messages`;
        }
        results.push({ variant: v.name, broker: b, rep, result: r });
        const el = ((Date.now() - t0) / 1000).toFixed(0);
        const tagLine = `  [${runNo}/${totalRuns} ${el}s] rep${rep} ${b.padEnd(9)}`;
        if (!r.ok) console.log(`${tagLine} FAILED: ${r.error}${r.deliveredRate ? ` (${fmtN(r.deliveredRate)} deliv/s, p50 ${fmtN(r.latency?.p50, 2)} p99 ${fmtN(r.latency?.p99, 2)} ms)` : ''}${drainGapText(r)}`);
        else if (v.kind === 'memory')
          console.log(
            `${tagLine} ${fmtN(r.kbPerConn, 2)} KB/conn after ${o.idle} s idle (${fmtN(r.kbPerConnBurst, 2)} KB 1.5 s after the connect burst; ${r.conns} conns in ${fmtN(r.connectSeconds, 1)} s, RSS ${fmtN(r.rssBeforeMb, 1)} -> ${fmtN(r.rssBurstMb, 1)} -> ${fmtN(r.rssAfterMb, 1)} MB)${r.note ? ' ' + r.note : ''}`,
          );
        else if (v.kind === 'connrate')
          console.log(`${tagLine} ${fmtN(r.connectRate)} conn/s  fail ${r.connectFailures}  brokerCPU ${fmtN(r.brokerCpuPct)}%  genCPU ${fmtN(r.genCpuPct)}%`);
        else
          console.log(
            `${tagLine} ${fmtN(r.deliveredRate).padStart(9)} deliv/s  pub ${fmtN(r.pubRate)}/s  lost ${r.lost} dup ${r.dups}` +
              `${r.stalls ? ` stalls ${r.stalls}` : ''}  p50 ${fmtN(r.latency?.p50, 2)} p99 ${fmtN(r.latency?.p99, 2)} ms` +
              `  brokerCPU ${fmtN(r.brokerCpuPct)}% RSS ${fmtN(r.brokerRssMb)} MB  genCPU ${fmtN(r.genCpuPct)}% (${r.genThreads ?? 1} threads, busiest ${fmtN((r.genBusiestThread ?? NaN) * 100)}%)` +
              ` other ${fmtN(r.otherCpuPct)}%${(r.genBusiestThread ?? 0) >= 0.9 ? '  GEN-BOUND' : ''}` +
              `${r.genWake ? `  genWake p50/p99 ${fmtN(r.genWake.p50, 3)}/${fmtN(r.genWake.p99, 3)} ms gc ${fmtN(r.genGcMs, 1)} ms skipped ${r.skippedSlots ?? 0}${r.genWake.p99 >= (r.latency?.p99 ?? Infinity) / 2 ? ' GEN-JITTER' : ''}` : ''}${drainGapText(r)}${r.note ? '  ' + r.note : ''}`,
          );
        if (perRun) await h.stop();
        await new Promise((res) => setTimeout(res, 150));
      }
    }
    for (const h of live.values()) await h.stop();
  }
  await gen.stop();

  // ---------------------------------------------------------------- summary
  const summaries: Summary[] = [];
  for (const v of vs)
    for (const b of o.brokers) {
      const rs = results.filter((x) => x.variant === v.name && x.broker === b).map((x) => x.result);
      if (rs.length) summaries.push(summarize(v, b, rs));
    }
  const rows = summaries.map((s) => {
    const flags: string[] = [];
    if (s.genBusiest >= 0.9 || (!Number.isFinite(s.genBusiest) && s.genCpuPct >= 90)) flags.push('GEN-BOUND');
    if (s.otherCpuPct >= 25) flags.push('NOISY');
    // The generator's threads wait for a CPU as long as this when woken: a p99 near it is the machine's.
    if (s.kind === 'latency' && s.genWakeP99 >= s.p99 / 2) flags.push('GEN-JITTER');
    if (s.okRuns < s.runs) flags.push(`${s.runs - s.okRuns} failed: ${s.errors.join('; ')}`);
    if (s.stalls) flags.push(`${s.stalls} stalls`);
    return [
      s.variant,
      s.broker,
      `${fmtN(s.metric, s.kind === 'latency' || s.kind === 'memory' ? 2 : 0)}`,
      s.metricName,
      s.kind === 'connrate' || s.kind === 'memory' ? '-' : fmtN(s.pubRate),
      String(s.lost),
      String(s.dups),
      fmtN(s.p50, 2),
      fmtN(s.p99, 2),
      fmtN(s.brokerCpuPct),
      fmtN(s.brokerRssMb, 1),
      fmtN(s.genCpuPct),
      fmtN(s.genBusiest * 100),
      fmtN(s.otherCpuPct),
      `${s.okRuns}/${s.runs}`,
      [flags.join(' '), s.notes.join('; ')].filter(Boolean).join(' '),
    ];
  });
  console.log(`\n=== medians over ${o.reps} rep(s) (lost/dup: sums over reps; CPU % of one core; RSS at end of window)`);
  console.log(
    table(rows, ['workload', 'broker', 'metric', 'unit', 'pub msg/s', 'lost', 'dup', 'p50 ms', 'p99 ms', 'brkCPU%', 'brkRSS MB', 'genCPU%', 'genBusiest%', 'other%', 'ok', 'notes']),
  );

  const ratios: Array<Record<string, unknown>> = [];
  if (o.brokers.includes('edgemq')) {
    const rrows: string[][] = [];
    for (const v of vs) {
      const get = (b: BrokerName): Summary | undefined => summaries.find((s) => s.variant === v.name && s.broker === b && s.okRuns > 0);
      const e = get('edgemq');
      if (!e) continue;
      const m = get('mosquitto');
      const a = get('aedes');
      const rm = m ? e.metric / m.metric : NaN;
      const ra = a ? e.metric / a.metric : NaN;
      // throughput per broker-CPU relative to mosquitto (only meaningful for higher-is-better metrics)
      const cpuM = m && !lowerIsBetter(v.kind) ? e.metric / e.brokerCpuPct / (m.metric / m.brokerCpuPct) : NaN;
      ratios.push({ variant: v.name, metric: e.metricName, edgemqOverMosquitto: rm, edgemqOverAedes: ra, lowerIsBetter: lowerIsBetter(v.kind), perCpuVsMosquitto: cpuM });
      rrows.push([v.name, e.metricName, fmtN(rm, 2), fmtN(ra, 2), lowerIsBetter(v.kind) ? 'lower' : 'higher', fmtN(cpuM, 2)]);
    }
    if (rrows.length) {
      console.log('\n=== ratios of medians (edgemq / other)');
      console.log(table(rrows, ['workload', 'metric', 'edgemq/mosq', 'edgemq/aedes', 'better', 'per-CPU vs mosq']));
    }
  }
  for (const [b, why] of skipped) console.log(`\nnote: ${b} was skipped: ${why}`);

  const outDir = path.join(repoRoot, '.bench-results');
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${meta.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ meta, skipped: Object.fromEntries(skipped), summaries, ratios, runs: results }, null, 2));
  console.log(`\nresults: ${path.relative(process.cwd(), file)}  (total ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  if (!existsSync(path.join(repoRoot, '.gitignore'))) console.log('warning: no .gitignore; .bench-results/ should be ignored');
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
