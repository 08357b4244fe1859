/**
 * SqliteStore's hand-off to its SQLite thread, with a small ring so that every path is taken:
 * appends that find the ring full wait in order, appends bigger than the ring go by port, port
 * requests (snapshots) stay in order with appends around them, and every answer reaches its own
 * request. The log read back after reopening is exactly what was appended, in both journal modes
 * and after switching between them (a broker restarted with another durability mode).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
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

/** Record n: n bytes of (n & 0xff), so a record read back names itself. */
const record = (n: number) => Buffer.alloc(n, n & 0xff);

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

describe('SqliteStore hand-off', () => {
  it('answers every append in order when the ring is full, when one is bigger than the ring, and around snapshots', async () => {
    const loc = location();
    const store = new SqliteStore(loc, { ringBytes: 64 * 1024 });
    await store.open();
    const answered: number[] = [];
    const pending: Array<Promise<void>> = [];
    const expected: Array<[number, number, number]> = [];
    let seq = 1;
    // One event-loop turn: far more than 64 KiB, so most wait for space; some exceed the ring.
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

  it('answers appends that come one per event-loop turn while the thread waits out the commit spacing', async () => {
    // A moderate rate: every append is its own group commit, and most arrive while the thread
    // waits between transactions, resting (the event loop does not poll then and must be sent a
    // message). Each answer is awaited before the next append in the first half, so a lost
    // wake-up would hang here; the second half is not awaited one by one.
    const loc = location();
    const store = new SqliteStore(loc);
    await store.open();
    let seq = 1;
    for (let i = 0; i < 50; i++, seq++) await store.append([{ seq, count: 1, record: record(100 + i) }], false);
    const answered: number[] = [];
    const pending: Array<Promise<void>> = [];
    for (let i = 0; i < 50; i++, seq++) {
      const s = seq;
      pending.push(store.append([{ seq: s, count: 1, record: record(200 + i) }], false).then(() => void answered.push(s)));
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(pending);
    expect(answered).toEqual(Array.from({ length: 50 }, (_, i) => 51 + i));
    await store.close();
    const back = await readBack(loc, 'rollback');
    expect(back.records.map(([s]) => s)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it('a closed store refuses appends with an error naming its directory', async () => {
    const loc = location();
    const store = new SqliteStore(loc);
    await store.open();
    await store.close();
    await expect(store.append([{ seq: 1, count: 1, record: record(10) }], false)).rejects.toThrow(loc);
  });
});
