/**
 * The latency workload through the C generator (latgen.c says why and how it measures): built
 * once per version of its source with the machine's C compiler (`$CC`, else `cc`), run as a child
 * of the load generator. Without a working compiler the bench falls back to the Node generator
 * (latency.ts) and says so in the run's note.
 */
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { Measure, latencySummary, runTag, type RunResult, type RunSpec } from './common.js';

const SOURCE = new URL('./latgen.c', import.meta.url);
/** The built generator and each run's latencies file. */
const DIR = path.join(os.tmpdir(), 'edgemq-bench');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface LatgenReport {
  error?: string;
  total: number;
  sentInWindow: number;
  skipped: number;
  unique: number;
  dups: number;
  reordered: number;
  n: number;
  wakeP50: number;
  wakeP99: number;
  wakeMax: number;
  cpuMs: number;
  windowMs: number;
  drainGapMs: number;
}

let built: { path?: string; why?: string } | undefined;

/** The generator's binary, or why there is none (no C compiler, a build error). */
export function latgenBinary(): { path?: string; why?: string } {
  if (built) return built;
  const source = readFileSync(SOURCE);
  const bin = path.join(DIR, `latgen-${createHash('sha256').update(source).digest('hex').slice(0, 12)}`);
  if (existsSync(bin)) return (built = { path: bin });
  const cc = process.env.CC || 'cc';
  const tmp = `${bin}.${process.pid}`;
  try {
    mkdirSync(DIR, { recursive: true });
    execFileSync(cc, ['-O2', '-o', tmp, SOURCE.pathname], { stdio: ['ignore', 'ignore', 'pipe'] });
    renameSync(tmp, bin);
    return (built = { path: bin });
  } catch (e) {
    rmSync(tmp, { force: true });
    const err = e as Error & { stderr?: Buffer };
    const why = (err.stderr?.toString().trim().split('\n')[0] || err.message).slice(0, 200);
    return (built = { why: `no C generator (${cc}: ${why})` });
  }
}

export async function runLatencyC(spec: RunSpec, r: RunResult, bin: string): Promise<RunResult> {
  const tag = runTag(spec);
  const out = path.join(DIR, `lat-${process.pid}-${tag}.f64`);
  const patience = spec.drainPatienceMs ?? 10_000;
  const args = [spec.host, spec.port, spec.protocol, `blc-${tag}`, `bench/latc/${tag}`, spec.payload, spec.rate, spec.warmupMs, spec.durationMs, patience, out];
  const child = spawn(bin, args.map(String), { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // Lines are queued as they come: the report may arrive (and the child exit) while nobody waits yet.
  const lines: string[] = [];
  let wake: (() => void) | undefined;
  createInterface({ input: child.stdout }).on('line', (l) => {
    lines.push(l);
    wake?.();
  });
  child.on('exit', () => wake?.());
  const next = async (timeoutMs: number, what: string): Promise<string> => {
    const deadline = performance.now() + timeoutMs;
    while (lines.length === 0) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`C generator exited (${child.exitCode ?? child.signalCode}) before ${what}: ${stderr.trim().slice(0, 200)}`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`C generator: no ${what} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = undefined;
    }
    return lines.shift()!;
  };
  const parse = (line: string): LatgenReport => {
    if (!line.startsWith('{')) throw new Error(`C generator: unexpected output ${line.slice(0, 100)}`);
    const rep = JSON.parse(line) as LatgenReport;
    if (rep.error) throw new Error(`C generator: ${rep.error}`);
    return rep;
  };
  try {
    const ready = await next(30_000, "'ready'");
    if (ready !== 'ready') parse(ready); // an error report
    child.stdin.write('go\n');
    const from = performance.now() + 5 + spec.warmupMs;
    await sleep(Math.max(0, from - performance.now()));
    const m = new Measure(spec.brokerPid);
    await sleep(Math.max(0, from + spec.durationMs - performance.now()));
    const ms = m.finish(r);
    const rep = parse(await next(patience + 30_000, 'its report'));
    const latencies = new Float64Array(new Uint8Array(readFileSync(out)).buffer).sort();

    r.sent = rep.sentInWindow;
    r.pubRate = (rep.sentInWindow / ms) * 1000;
    r.delivered = latencies.length;
    r.deliveredRate = (latencies.length / ms) * 1000;
    r.expected = rep.total;
    r.unique = rep.unique;
    r.lost = Math.max(0, rep.total - rep.unique);
    r.dups = rep.dups;
    r.reordered = rep.reordered;
    r.drainGapMs = rep.drainGapMs;
    // The generator is this child: its CPU in the window, counted as the generator's, not as "other".
    const childPct = (rep.cpuMs / rep.windowMs) * 100;
    r.genCpuPct += childPct;
    if (r.otherCpuPct !== undefined) r.otherCpuPct = Math.max(0, r.otherCpuPct - childPct);
    r.genThreads = 1;
    r.genBusiestThread = rep.cpuMs / rep.windowMs;
    r.genWake = { p50: rep.wakeP50, p99: rep.wakeP99, max: rep.wakeMax };
    r.genGcMs = 0;
    r.genGcCount = 0;
    r.skippedSlots = rep.skipped;
    r.note = 'C generator';
    r.latency = latencySummary(latencies);
    return r;
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(out, { force: true });
  }
}
