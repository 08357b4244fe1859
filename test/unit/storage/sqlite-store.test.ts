/**
 * SqliteStore: the log in segment files, the snapshot in SQLite. Appends are answered in order
 * around snapshots, what is read back after reopening is exactly what was appended after the last
 * snapshot, and every state a crash can leave behind (a torn last frame, segments a stored snapshot
 * covers, a directory an older edgemq wrote with its log in the database) reads back without a gap.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { appendFileSync, copyFileSync, mkdtempSync, readdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import Database from 'better-sqlite3';
import os from 'node:os';
import path from 'node:path';
import { SqliteStore } from '../../../src/storage/sqlite-store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function location(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edgemq-unit-sqlite-'));
  dirs.push(dir);
  return path.join(dir, 'partition-0');
}

const segments = (loc: string): string[] => readdirSync(loc).filter((f) => f.startsWith('log-')).sort();

/** Record n: n bytes of (n & 0xff), so a record read back names itself. */
const record = (n: number) => Buffer.alloc(n, n & 0xff);

/** Appends `from`..`to` one after another (os mode), one command each, record(100 + seq). */
async function appendEach(store: SqliteStore, from: number, to: number): Promise<void> {
  for (let s = from; s <= to; s++) await store.append([{ seq: s, count: 1, record: record(100 + s) }], false);
}

async function readBack(loc: string, journal: 'wal' | 'rollback'): Promise<{ snapshotSeq: number; snapshot?: string; records: Array<[number, number, number]> }> {
  const store = new SqliteStore(loc, { journal });
  const r = await store.open();
  const records: Array<[number, number, number]> = [];
  for await (const rec of r.records) {
    expect(rec.record.equals(record(rec.record.length))).toBe(true);
    records.push([rec.seq, rec.count, rec.record.length]);
  }
  await store.close();
  return { snapshotSeq: r.snapshotSeq, snapshot: r.snapshot?.toString(), records };
}

describe('SqliteStore', () => {
  it('answers every append in order, around a snapshot, and reads back what follows the snapshot', async () => {
    const loc = location();
    const store = new SqliteStore(loc);
    await store.open();
    const answered: number[] = [];
    const pending: Array<Promise<void>> = [];
    const expected: Array<[number, number, number]> = [];
    let seq = 1;
    // One event-loop turn, some records far bigger than the rest, a snapshot in the middle.
    for (let i = 0; i < 200; i++) {
      const size = i % 50 === 7 ? 100_000 : 1000 + ((i * 37) % 3000);
      const s = seq;
      pending.push(store.append([{ seq: s, count: 2, record: record(size) }], false).then(() => void answered.push(s)));
      expected.push([s, 2, size]);
      seq += 2;
      if (i === 120) {
        const at = seq - 1;
        pending.push(store.writeSnapshot(at, Buffer.from(`snapshot at ${at}`), false).then(() => void answered.push(-at)));
        expected.length = 0; // the snapshot drops the log up to it
      }
    }
    await Promise.all(pending);
    const order = answered.map(Math.abs);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(answered.length).toBe(201);
    await store.close();
    // The appends after the snapshot went into a segment of their own; the one before it is gone.
    expect(segments(loc)).toEqual(['log-00000000000000000243']);

    const back = await readBack(loc, 'rollback');
    expect(back.snapshotSeq).toBe(242);
    expect(back.snapshot).toBe('snapshot at 242');
    expect(back.records).toEqual(expected);
  });

  it('keeps the log when a data directory switches between WAL (fsync mode) and the rollback journal (os mode)', async () => {
    const loc = location();
    let seq = 1;
    for (const journal of ['wal', 'rollback', 'wal', 'rollback'] as const) {
      const store = new SqliteStore(loc, { journal });
      const r = await store.open();
      for await (const rec of r.records) seq = rec.seq + rec.count;
      for (let i = 0; i < 20; i++, seq++) await store.append([{ seq, count: 1, record: record(500 + i) }], journal === 'wal');
      await store.close();
    }
    const back = await readBack(loc, 'rollback');
    expect(back.records.map(([s]) => s)).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));
    // Closed cleanly in rollback mode: no WAL left behind, only the database and its (empty) journal.
    expect(readdirSync(loc).filter((f) => f.endsWith('-wal'))).toEqual([]);
  });

  it('answers fsync appends that come while an fdatasync runs, in call order, with os appends among them', async () => {
    const loc = location();
    const store = new SqliteStore(loc, { sync: true });
    await store.open();
    const answered: number[] = [];
    const pending: Array<Promise<void>> = [];
    for (let s = 1; s <= 60; s++) {
      pending.push(store.append([{ seq: s, count: 1, record: record(300 + s) }], s % 3 !== 0).then(() => void answered.push(s)));
      if (s % 7 === 0) await new Promise((r) => setImmediate(r));
    }
    await Promise.all(pending);
    expect(answered).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    await store.close();
    expect((await readBack(loc, 'wal')).records.map(([s]) => s)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
  });

  it('cuts off a torn last frame (a crash in the middle of a write) and appends after the last whole record', async () => {
    const loc = location();
    const store = new SqliteStore(loc);
    await store.open();
    await appendEach(store, 1, 10);
    await store.close();
    const [seg] = segments(loc);
    const file = path.join(loc, seg!);
    const whole = statSync(file).size;
    truncateSync(file, whole - 50); // record 10 loses its end
    appendFileSync(file, Buffer.alloc(7, 0xee)); // and something that is not a frame follows

    const again = new SqliteStore(loc);
    const r = await again.open();
    const seqs: number[] = [];
    for await (const rec of r.records) seqs.push(rec.seq);
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(r.repaired).toEqual([expect.stringMatching(new RegExp(`^cut 87 bytes .* off ${seg} \\(after 9 whole frames\\)$`))]);
    await again.append([{ seq: 10, count: 1, record: record(210) }], false);
    await again.close();
    const back = await readBack(loc, 'rollback');
    expect(back.records.map(([s, , n]) => [s, n])).toEqual([...Array.from({ length: 9 }, (_, i) => [i + 1, 101 + i]), [10, 210]]);
  });

  it('skips records of a segment that a stored snapshot covers (a crash before the segment was deleted)', async () => {
    const loc = location();
    const store = new SqliteStore(loc);
    await store.open();
    await appendEach(store, 1, 5);
    const [old] = segments(loc);
    const kept = path.join(path.dirname(loc), 'kept');
    copyFileSync(path.join(loc, old!), kept);
    await store.writeSnapshot(5, Buffer.from('snapshot at 5'), false);
    await appendEach(store, 6, 8);
    await store.close();
    copyFileSync(kept, path.join(loc, old!));

    const back = await readBack(loc, 'rollback');
    expect(back.snapshotSeq).toBe(5);
    expect(back.records.map(([s]) => s)).toEqual([6, 7, 8]);
  });

  it('reads a directory an older edgemq wrote (log rows in partition.sqlite, format /4), re-marks it, and goes on in segment files', async () => {
    const loc = location();
    const store = new SqliteStore(loc);
    await store.open();
    await store.close();
    const db = new Database(path.join(loc, 'partition.sqlite'));
    db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run('format', Buffer.from('edgemq.partition-store/4'));
    const insert = db.prepare('INSERT INTO log (seq, count, record) VALUES (?, ?, ?)');
    insert.run(1, 2, record(40));
    insert.run(3, 1, record(41));
    db.close();
    for (const f of segments(loc)) rmSync(path.join(loc, f));

    const again = new SqliteStore(loc);
    const r = await again.open();
    const seen: number[] = [];
    for await (const rec of r.records) seen.push(rec.seq);
    expect(seen).toEqual([1, 3]);
    await again.append([{ seq: 4, count: 1, record: record(42) }], false);
    await again.close();
    expect(segments(loc)).toEqual(['log-00000000000000000004']);
    const check = new Database(path.join(loc, 'partition.sqlite'), { readonly: true });
    expect(String((check.prepare('SELECT value FROM meta WHERE key = ?').get('format') as { value: Buffer }).value)).toBe('edgemq.partition-store/5');
    check.close();
    expect((await readBack(loc, 'rollback')).records).toEqual([
      [1, 2, 40],
      [3, 1, 41],
      [4, 1, 42],
    ]);
  });

  it('close waits for a snapshot in progress and the one queued behind it, and loses no append between them', async () => {
    const loc = location();
    const store = new SqliteStore(loc);
    await store.open();
    const settled: string[] = [];
    const big = Buffer.alloc(8 * 1024 * 1024, 1); // long enough to be in progress when close is called
    const first = store.writeSnapshot(10, big, false).then(() => void settled.push('snapshot 10'));
    const append = store.append([{ seq: 11, count: 1, record: record(500) }], false).then(() => void settled.push('append 11'));
    const second = store.writeSnapshot(11, Buffer.from('snapshot at 11'), false).then(() => void settled.push('snapshot 11'));
    const last = store.append([{ seq: 12, count: 1, record: record(700) }], false).then(() => void settled.push('append 12'));
    await store.close();
    expect(settled).toEqual(['snapshot 10', 'append 11', 'snapshot 11', 'append 12']);
    await Promise.all([first, append, second, last]);
    expect(await readBack(loc, 'wal')).toEqual({ snapshotSeq: 11, snapshot: 'snapshot at 11', records: [[12, 1, 700]] });
  });

  it('snapshotAside: later appends are answered before it is stored, and a crash before it was stored reads back the whole log', async () => {
    const loc = location();
    const store = new SqliteStore(loc);
    await store.open();
    await appendEach(store, 1, 10);
    const [old] = segments(loc);
    // The disk as a crash right after the switch would leave it: the database before the snapshot, both segments.
    const before = path.join(path.dirname(loc), 'before.sqlite');
    copyFileSync(path.join(loc, 'partition.sqlite'), before);
    const settled: string[] = [];
    const stored = store.snapshotAside(10, Buffer.alloc(4 * 1024 * 1024, 7)).then(() => void settled.push('snapshot 10'));
    const appends = [];
    for (let s = 11; s <= 15; s++) appends.push(store.append([{ seq: s, count: 1, record: record(100 + s) }], false).then(() => void settled.push(`append ${s}`)));
    expect(segments(loc)).toEqual([old, 'log-00000000000000000011']); // covered records stay until the snapshot is stored
    const kept = path.join(path.dirname(loc), 'kept');
    copyFileSync(path.join(loc, old!), kept);
    await Promise.all([stored, ...appends]);
    expect(settled).toEqual(['append 11', 'append 12', 'append 13', 'append 14', 'append 15', 'snapshot 10']);
    expect(segments(loc)).toEqual(['log-00000000000000000011']);
    await store.close();

    const back = await readBack(loc, 'rollback');
    expect(back.snapshotSeq).toBe(10);
    expect(back.records.map(([s]) => s)).toEqual([11, 12, 13, 14, 15]);

    // Crash before the snapshot was stored: the older snapshot (none) and a log without a gap.
    copyFileSync(before, path.join(loc, 'partition.sqlite'));
    copyFileSync(kept, path.join(loc, old!));
    const crashed = await readBack(loc, 'rollback');
    expect(crashed.snapshotSeq).toBe(0);
    expect(crashed.records.map(([s]) => s)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
  });

  it('a closed store refuses appends with an error naming its directory', async () => {
    const loc = location();
    const store = new SqliteStore(loc);
    await store.open();
    await store.close();
    await expect(store.append([{ seq: 1, count: 1, record: record(10) }], false)).rejects.toThrow(loc);
  });
});
