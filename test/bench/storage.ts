/**
 * Storage engine benchmark for the durable partition log (issue 3): classic-level (LevelDB, the
 * engine in use) against better-sqlite3 12, on the broker's workload: group commits of K records
 * (K = 1, 16, 256) of 200 B–1 KiB (random, incompressible), appended with increasing keys, in
 *   - os mode:    LevelDB sync:false          | SQLite WAL + synchronous=OFF
 *   - fsync mode: LevelDB sync:true           | SQLite WAL + synchronous=FULL
 * Measured per run: commits/s, records/s, MB/s, median commit latency, and the event-loop cost:
 * time spent synchronously inside the engine call (blocked %, i.e. time no connection is served)
 * and the event-loop delay seen by a timer (perf_hooks.monitorEventLoopDelay, p99 and max).
 *
 *   node --import tsx test/bench/storage.ts [--seconds 1.5] [--k 1,16,256] [--modes os,fsync]
 *
 * better-sqlite3 is not a project dependency: it is loaded from BETTER_SQLITE3_PATH (a package
 * directory), else /tmp/sqlbench/node_modules/better-sqlite3; without it the SQLite rows are skipped
 * with a note. (Install: `mkdir /tmp/sqlbench && cd /tmp/sqlbench && npm i better-sqlite3@12`.)
 */
import { ClassicLevel } from 'classic-level';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '1.5' },
    k: { type: 'string', default: '1,16,256' },
    modes: { type: 'string', default: 'os,fsync' },
  },
});
const SECONDS = Number(values.seconds);
const KS = values.k!.split(',').map(Number);
const MODES = values.modes!.split(',') as Array<'os' | 'fsync'>;

// ---- the optional engine ------------------------------------------------------------------------------

interface SqliteStatement {
  run(...args: unknown[]): unknown;
}
interface SqliteDb {
  pragma(s: string): unknown;
  exec(s: string): void;
  prepare(s: string): SqliteStatement;
  transaction<A extends unknown[]>(fn: (...a: A) => void): (...a: A) => void;
  close(): void;
}
type SqliteCtor = new (file: string) => SqliteDb;

function loadSqlite(): { Database?: SqliteCtor; note: string } {
  const dir = process.env.BETTER_SQLITE3_PATH ?? '/tmp/sqlbench/node_modules/better-sqlite3';
  if (!existsSync(dir)) return { note: `better-sqlite3 not found at ${dir} (set BETTER_SQLITE3_PATH)` };
  try {
    const req = createRequire(path.join(process.cwd(), 'noop.js'));
    const Database = req(path.resolve(dir)) as SqliteCtor;
    const version = (req(path.join(path.resolve(dir), 'package.json')) as { version: string }).version;
    return { Database, note: `better-sqlite3 ${version} from ${dir}` };
  } catch (err) {
    return { note: `better-sqlite3 at ${dir} does not load (${(err as Error).message.split('\n')[0]}); try \`npm rebuild better-sqlite3\` there` };
  }
}

// ---- workload -----------------------------------------------------------------------------------------

/** 4096 random records of 200..1024 bytes, reused round-robin (generation is not measured). */
const POOL = Array.from({ length: 4096 }, () => randomBytes(200 + Math.floor(Math.random() * 825)));

interface Engine {
  name: string;
  /** Appends K records; may return a promise (asynchronous engine). */
  commit(firstSeq: number, records: Buffer[]): void | Promise<void>;
  close(): Promise<void> | void;
}

interface Result {
  engine: string;
  mode: string;
  k: number;
  commits: number;
  seconds: number;
  bytes: number;
  latencies: number[];
  blockedMs: number;
  eldP99: number;
  eldMax: number;
}

function key(seq: number): Buffer {
  const b = Buffer.allocUnsafe(9);
  b[0] = 0x4c;
  b.writeBigUInt64BE(BigInt(seq), 1);
  return b;
}

async function openLevel(dir: string, sync: boolean): Promise<Engine> {
  const db = new ClassicLevel<Buffer, Buffer>(path.join(dir, 'level'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  return {
    name: 'classic-level',
    commit: (first, records) => db.batch(records.map((value, i) => ({ type: 'put' as const, key: key(first + i), value })), { sync }),
    close: () => db.close(),
  };
}

function openSqlite(Database: SqliteCtor, dir: string, sync: boolean): Engine {
  const db = new Database(path.join(dir, 'log.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${sync ? 'FULL' : 'OFF'}`);
  db.exec('CREATE TABLE log (seq INTEGER PRIMARY KEY, data BLOB NOT NULL)');
  const insert = db.prepare('INSERT INTO log (seq, data) VALUES (?, ?)');
  const tx = db.transaction((first: number, records: Buffer[]) => {
    for (let i = 0; i < records.length; i++) insert.run(first + i, records[i]);
  });
  return { name: 'better-sqlite3', commit: (first, records) => tx(first, records), close: () => db.close() };
}

async function measure(engine: Engine, mode: string, k: number): Promise<Result> {
  const eld = monitorEventLoopDelay({ resolution: 1 });
  // A timer that wants to run every millisecond stands in for the connections the loop should serve.
  const ticker = setInterval(() => {}, 1);
  const latencies: number[] = [];
  let seq = 1;
  let commits = 0;
  let bytes = 0;
  let blockedMs = 0;
  let p = 0;
  // Warm-up (file creation, first compaction of an empty tree) is not measured.
  for (let i = 0; i < 20; i++) await engine.commit(seq++, [POOL[i]!]);
  eld.enable();
  const start = performance.now();
  const end = start + SECONDS * 1000;
  while (performance.now() < end) {
    const records: Buffer[] = [];
    for (let i = 0; i < k; i++) {
      const r = POOL[p++ % POOL.length]!;
      records.push(r);
      bytes += r.length;
    }
    const t0 = performance.now();
    const ret = engine.commit(seq, records);
    blockedMs += performance.now() - t0; // synchronous part: the loop serves nobody meanwhile
    if (ret) await ret;
    // Even a synchronous engine yields between commits, as the broker does between event-loop turns.
    else await new Promise((r) => setImmediate(r));
    latencies.push(performance.now() - t0);
    seq += k;
    commits++;
  }
  const seconds = (performance.now() - start) / 1000;
  eld.disable();
  clearInterval(ticker);
  return { engine: engine.name, mode, k, commits, seconds, bytes, latencies, blockedMs, eldP99: eld.percentile(99) / 1e6, eldMax: eld.max / 1e6 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

async function main(): Promise<void> {
  const sqlite = loadSqlite();
  const root = mkdtempSync(path.join(os.tmpdir(), 'edgemq-storage-bench-'));
  const results: Result[] = [];
  try {
    for (const mode of MODES) {
      for (const k of KS) {
        const sync = mode === 'fsync';
        {
          const dir = mkdtempSync(path.join(root, 'l-'));
          const e = await openLevel(dir, sync);
          results.push(await measure(e, mode, k));
          await e.close();
        }
        if (sqlite.Database) {
          const dir = mkdtempSync(path.join(root, 's-'));
          const e = openSqlite(sqlite.Database, dir, sync);
          results.push(await measure(e, mode, k));
          await e.close();
        }
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }

  console.log(`storage bench: node ${process.version}, ${os.cpus().length} CPU (${os.cpus()[0]?.model.trim()}), ${os.tmpdir()}, ${SECONDS} s per run`);
  console.log(`classic-level (LevelDB); ${sqlite.note}`);
  console.log('');
  console.log('| engine | mode | K | commits/s | records/s | MB/s | median commit ms | blocked % | loop delay p99 ms | loop delay max ms |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    const cps = r.commits / r.seconds;
    console.log(
      `| ${r.engine} | ${r.mode} | ${r.k} | ${Math.round(cps)} | ${Math.round(cps * r.k)} | ${(r.bytes / r.seconds / 1e6).toFixed(1)} | ${median(r.latencies).toFixed(3)} | ${((r.blockedMs / (r.seconds * 1000)) * 100).toFixed(0)} | ${r.eldP99.toFixed(2)} | ${r.eldMax.toFixed(2)} |`,
    );
  }
  if (!sqlite.Database) console.log(`\nSQLite skipped: ${sqlite.note}`);
}

await main();
