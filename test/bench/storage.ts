/**
 * Storage engine benchmark for the durable partition log (issue 3): the two PartitionStore
 * implementations the broker has, driven through the same interface the DurableExecutor uses —
 * SqliteStore (the engine of new data directories: the log in segment files written on the event
 * loop, the snapshot in SQLite on a worker thread) and LevelStore (classic-level, kept for
 * directories written before) — on the broker's workload: group commits of one record of S bytes
 * (random, incompressible), appended with increasing sequence numbers, with W commits in flight (the
 * executor allows LevelDB up to 4, and hands SqliteStore every commit at once), in
 *   - os mode:    segment file writev                                    | LevelDB sync:false
 *   - fsync mode: segment file writev + fdatasync shared by what waits   | LevelDB sync:true
 * A snapshot (truncating the log) every 64 MiB of log, as the executor does by default.
 * Each record is a fresh copy made before the clock starts for that commit (the store takes its
 * memory); the copy runs on the same thread, so commits/s includes it and blocked % does not.
 * Measured per run: commits/s, MB/s, median commit latency, and the event-loop cost: time spent
 * synchronously inside append() (blocked %, i.e. time no connection is served) and the event-loop
 * delay seen by a timer (perf_hooks.monitorEventLoopDelay, p99).
 *
 *   npm run build && node --import tsx test/bench/storage.ts [--seconds 2] [--sizes 16,128,512] [--inflight 1,4] [--modes os,fsync]
 *                                                           [--sqlite-journal wal|rollback]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { LevelStore } from '../../src/storage/level-store.js';
import type { PartitionStore } from '../../src/storage/partition-store.js';
import { SqliteStore } from '../../src/storage/sqlite-store.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '2' },
    sizes: { type: 'string', default: '16,128,512' },
    inflight: { type: 'string', default: '1,4' },
    modes: { type: 'string', default: 'os,fsync' },
    // The journal of SqliteStore's database (which holds its snapshots; the log is in segment files)
    // in both modes, instead of the broker's choice per mode: to compare them.
    'sqlite-journal': { type: 'string' },
  },
});
const JOURNAL = values['sqlite-journal'] as 'wal' | 'rollback' | undefined;
if (JOURNAL !== undefined && JOURNAL !== 'wal' && JOURNAL !== 'rollback') throw new Error(`--sqlite-journal: expected wal or rollback, got ${JOURNAL}`);
const SECONDS = Number(values.seconds);
const SIZES_KIB = values.sizes!.split(',').map(Number);
const INFLIGHT = values.inflight!.split(',').map(Number);
const MODES = values.modes!.split(',') as Array<'os' | 'fsync'>;
const SNAPSHOT_EVERY_BYTES = 64 * 1024 * 1024;
const SNAPSHOT = randomBytes(64 * 1024);

interface Result {
  engine: string;
  mode: string;
  sizeKib: number;
  inflight: number;
  commits: number;
  seconds: number;
  bytes: number;
  latencies: number[];
  blockedMs: number;
  eldP99: number;
}

async function measure(engine: string, store: PartitionStore, mode: 'os' | 'fsync', sizeKib: number, inflight: number): Promise<Result> {
  const sync = mode === 'fsync';
  const pool = Array.from({ length: 8 }, () => randomBytes(sizeKib * 1024));
  await store.open();
  const eld = monitorEventLoopDelay({ resolution: 1 });
  // A timer that wants to run every millisecond stands in for the connections the loop should serve.
  const ticker = setInterval(() => {}, 1);
  const latencies: number[] = [];
  let seq = 1;
  let commits = 0;
  let bytes = 0;
  let sinceSnapshot = 0;
  let blockedMs = 0;
  eld.enable();
  const start = performance.now();
  const end = start + SECONDS * 1000;
  const writer = async (): Promise<void> => {
    while (performance.now() < end) {
      // A copy of its own, as the executor's encoder makes: the store takes the record's memory.
      const record = Buffer.from(pool[commits % pool.length]!);
      const t0 = performance.now();
      let p: Promise<void>;
      if (sinceSnapshot >= SNAPSHOT_EVERY_BYTES) {
        p = store.writeSnapshot(seq - 1, Buffer.from(SNAPSHOT), sync);
        sinceSnapshot = 0;
      } else {
        bytes += record.length;
        sinceSnapshot += record.length;
        p = store.append([{ seq, count: 1, record }], sync);
        seq++;
      }
      blockedMs += performance.now() - t0; // synchronous part: the loop serves nobody meanwhile
      await p;
      latencies.push(performance.now() - t0);
      commits++;
    }
  };
  await Promise.all(Array.from({ length: inflight }, writer));
  const seconds = (performance.now() - start) / 1000;
  eld.disable();
  clearInterval(ticker);
  await store.close();
  return { engine, mode, sizeKib, inflight, commits, seconds, bytes, latencies, blockedMs, eldP99: eld.percentile(99) / 1e6 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

async function main(): Promise<void> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'edgemq-storage-bench-'));
  const results: Result[] = [];
  const engines: Array<[string, (dir: string, mode: 'os' | 'fsync') => PartitionStore]> = [
    ['SqliteStore (segment files; snapshot in SQLite)', (dir, mode) => new SqliteStore(dir, { sync: mode === 'fsync', journal: JOURNAL })],
    ['LevelStore (classic-level)', (dir) => new LevelStore(dir)],
  ];
  try {
    for (const mode of MODES) {
      for (const size of SIZES_KIB) {
        for (const w of INFLIGHT) {
          for (const [name, make] of engines) {
            const dir = path.join(mkdtempSync(path.join(root, 'p-')), 'partition-0');
            results.push(await measure(name, make(dir, mode), mode, size, w));
          }
        }
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }

  console.log(`storage bench: node ${process.version}, ${os.cpus().length} CPU (${os.cpus()[0]?.model.trim()}), ${os.tmpdir()}, ${SECONDS} s per run`);
  console.log('');
  console.log('| engine | mode | commit KiB | in flight | commits/s | MB/s | median commit ms | blocked % | loop delay p99 ms |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    console.log(
      `| ${r.engine} | ${r.mode} | ${r.sizeKib} | ${r.inflight} | ${Math.round(r.commits / r.seconds)} | ${(r.bytes / r.seconds / 1e6).toFixed(1)} | ${median(r.latencies).toFixed(3)} | ${((r.blockedMs / (r.seconds * 1000)) * 100).toFixed(1)} | ${r.eldP99.toFixed(2)} |`,
    );
  }
}

await main();
