/**
 * DurableExecutor and LevelStore in process: group commit, effects held until the write, QoS 0 not
 * logged, snapshot + log truncation, recovery equivalence, and behaviour after a failed write.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { decodeCommands, encodeCommands } from '../../../src/storage/command-codec.js';
import type { Command } from '../../../src/partition/commands.js';
import { Partition, type PartitionLimits } from '../../../src/partition/partition.js';
import type { PartitionOutput } from '../../../src/partition/output.js';
import { snapshotPartition } from '../../../src/partition/snapshot.js';
import { DurableExecutor, DEFAULT_DURABLE_OPTIONS, SnapshotFailedError, WriteFailedError } from '../../../src/storage/durable-executor.js';
import { LevelStore } from '../../../src/storage/level-store.js';
import { SqliteStore } from '../../../src/storage/sqlite-store.js';
import { LogGapError, STORE_FORMAT, type PartitionStore, type Recovered } from '../../../src/storage/partition-store.js';
import { recoverPartition } from '../../../src/storage/recover.js';
import { LocalBrokerCore } from '../../../src/core/local-core.js';
import { MqttError } from '../../../src/mqtt/errors.js';
import type { Delivery, Message, QoS } from '../../../src/core/types.js';

const LIMITS: PartitionLimits = { queueLength: 100_000, queueStrategy: 'None', sharedStrategy: 'round-robin' };
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const msg = (topic: string, payload: string, qos: QoS, retain = false): Message => ({ topic, payload: Buffer.from(payload), qos, retain, origin: 'pub' });
const pub = (now: number, topic: string, payload: string, qos: QoS, retain = false): Command => ({ type: 'publish', now, clientId: 'pub', message: msg(topic, payload, qos, retain) });
const connect = (now: number, clientId: string, connectionId: number): Command => ({
  type: 'connect', now, clientId, connectionId, protocolVersion: 5, cleanStart: false, sessionExpirySeconds: 3600, receiveMaximum: 100,
});
const subscribe = (now: number, clientId: string, connectionId: number, filter: string, qos: QoS): Command => ({
  type: 'subscribe', now, clientId, connectionId, subs: [{ filter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0 }],
});

/** A store in memory whose writes can be made to fail (ENOSPC) and can be held open. */
class FakeStore implements PartitionStore {
  readonly location = '/fake/partition-0';
  appends: Array<Array<{ seq: number; count: number; record: Buffer }>> = [];
  snapshots: Array<{ seq: number; snapshot: Buffer }> = [];
  failing = false;
  gate: Promise<void> | undefined;
  async open(): Promise<Recovered> {
    return { snapshotSeq: 0, records: (async function* () {})() };
  }
  async append(records: Array<{ seq: number; count: number; record: Buffer }>): Promise<void> {
    await this.gate;
    if (this.failing) throw Object.assign(new Error('IO error: /fake/partition-0/000003.log: No space left on device'), { code: 'LEVEL_IO_ERROR' });
    this.appends.push(records);
  }
  async writeSnapshot(seq: number, snapshot: Buffer): Promise<void> {
    await this.gate;
    if (this.failing) throw new Error('IO error: /fake/partition-0/000005.log: No space left on device');
    this.snapshots.push({ seq, snapshot });
  }
  async close() {}
}

function recordingOutput() {
  const deliveries: Array<[number, Delivery]> = [];
  const out: PartitionOutput = { deliver: (id, d) => deliveries.push([id, d]), release() {}, kick() {} };
  return { out, deliveries };
}

const turn = () => new Promise((r) => setImmediate(r));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('DurableExecutor', () => {
  it('writes all commands of one event-loop turn as one record (group commit), in order, with consecutive sequence numbers', async () => {
    const store = new FakeStore();
    const ex = new DurableExecutor(new Partition(LIMITS), store, 0);
    const { out } = recordingOutput();
    const readies = [];
    for (let i = 0; i < 50; i++) readies.push(ex.execute(pub(1000 + i, 't', String(i), 1), out).ready!);
    await Promise.all(readies);
    for (let i = 0; i < 16; i++) readies.push(ex.execute(pub(2000 + i, 't', `b${i}`, 1), out).ready!);
    await Promise.all(readies);
    expect(store.appends.map((a) => a.map((r) => [r.seq, r.count]))).toEqual([[[1, 50]], [[51, 16]]]);
    const cmds = decodeCommands(store.appends[0]![0]!.record);
    expect(cmds.map((c) => (c.type === 'publish' ? c.message.payload.toString() : '?'))).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
  });

  it('logs a chain predecessor\'s record as given (own memory), in a group commit of its own; a record that does not match is not used', async () => {
    const store = new FakeStore();
    const ex = new DurableExecutor(new Partition(LIMITS), store, 0);
    const { out } = recordingOutput();
    const first = ex.execute(pub(1, 't', 'before', 1), out).ready!;
    const cmds = [pub(2, 't', 'a', 1), pub(3, 't', 'b', 1), pub(4, 't', 'c', 1)];
    // v8-serialized (read by decodeCommands, never what the executor writes itself): shows which bytes were logged.
    const given = v8.serialize(cmds);
    ex.expectRecord(given, cmds.length);
    const readies = cmds.map((c) => ex.execute(c, out).ready!);
    // A head's offer that is not exactly the batch being formed is ignored.
    const later = [pub(5, 't', 'd', 1), pub(6, 't', 'e', 1)];
    readies.push(...later.map((c) => ex.execute(c, out).ready!));
    ex.offerRecord(later.slice(1), v8.serialize(later.slice(1)));
    await Promise.all([first, ...readies]);
    const records = store.appends.flat();
    expect(records.map((r) => [r.seq, r.count])).toEqual([[1, 1], [2, 3], [5, 2]]);
    expect(records[1]!.record.equals(given)).toBe(true);
    expect(records[1]!.record.buffer).not.toBe(given.buffer); // this store takes the memory: a copy
    expect(records[2]!.record[0]).not.toBe(0xff); // encoded here
    expect(decodeCommands(records[2]!.record).map((c) => (c.type === 'publish' ? c.message.payload.toString() : '?'))).toEqual(['d', 'e']);
    // An offer that is exactly this turn's batch is logged as given.
    const last = [pub(7, 't', 'f', 1), pub(8, 't', 'g', 1)];
    const lastReadies = last.map((c) => ex.execute(c, out).ready!);
    const offered = v8.serialize(last);
    ex.offerRecord(last, offered);
    await Promise.all(lastReadies);
    expect(store.appends.flat()[3]!.record.equals(offered)).toBe(true);
  });

  it('parkLoneAcks: a group commit of nothing but PUBACKs waits for the next commands (or a flush) instead of a write of its own', async () => {
    const store = new FakeStore();
    const partition = new Partition(LIMITS);
    const ex = new DurableExecutor(partition, store, 0, { ...DEFAULT_DURABLE_OPTIONS, parkLoneAcks: true });
    const { out, deliveries } = recordingOutput();
    const ignore = { durable() {} };
    await ex.execute(connect(1, 'sub', 7), out).ready;
    await ex.execute(subscribe(2, 'sub', 7, 't', 1), out).ready;
    await ex.execute(pub(3, 't', 'a', 1), out).ready;
    await ex.execute(pub(4, 't', 'b', 1), out).ready;
    const ack = (now: number, packetId: number): Command => ({ type: 'ack', now, clientId: 'sub', connectionId: 7, packetId, kind: 'puback', reasonCode: 0 });
    const written = () => store.appends.flat().reduce((n, r) => n + r.count, 0);
    const before = written();
    ex.executeThen(ack(5, deliveries[0]![1].packetId), out, ignore, undefined, 0);
    await turn();
    await turn();
    expect(written()).toBe(before); // applied (the slot is free) but not written alone
    expect(partition.sessions.get('sub')!.inflight.size).toBe(1);
    // The next command takes it along: one record, both commands, in order.
    await ex.execute(pub(6, 't', 'c', 1), out).ready;
    expect(store.appends.at(-1)!.map((r) => r.count)).toEqual([2]);
    expect(decodeCommands(store.appends.at(-1)![0]!.record).map((c) => c.type)).toEqual(['ack', 'publish']);
    // A flush (and so close) writes a parked one.
    ex.executeThen(ack(7, deliveries[1]![1].packetId), out, ignore, undefined, 0);
    await turn();
    await turn();
    expect(written()).toBe(before + 2);
    await ex.flush();
    expect(written()).toBe(before + 3);
    // Without the option every turn's acks are written at once.
    const plain = new FakeStore();
    const ex2 = new DurableExecutor(new Partition(LIMITS), plain, 0);
    ex2.executeThen(ack(8, 1), out, ignore, undefined, 0);
    await turn();
    await turn();
    expect(plain.appends.flat().map((r) => r.count)).toEqual([1]);
  });

  it('does not log QoS 0 non-retained publishes, but logs retained QoS 0', async () => {
    const store = new FakeStore();
    const ex = new DurableExecutor(new Partition(LIMITS), store, 0);
    const { out } = recordingOutput();
    expect(ex.execute(pub(1, 't', 'v', 0), out).ready).toBeUndefined();
    await ex.execute(pub(2, 't', 'r', 0, true), out).ready;
    expect(store.appends.flat().map((r) => r.count)).toEqual([1]);
  });

  it('holds QoS 2 deliveries until the write completed; QoS 1 deliveries go out at once', async () => {
    const store = new FakeStore();
    const ex = new DurableExecutor(new Partition(LIMITS), store, 0);
    const { out, deliveries } = recordingOutput();
    await ex.execute(connect(1, 'sub', 7), out).ready;
    await ex.execute(subscribe(2, 'sub', 7, 't2', 2), out).ready;
    await ex.execute(subscribe(3, 'sub', 7, 't1', 1), out).ready;
    let open!: () => void;
    store.gate = new Promise((r) => (open = r));
    const { ready } = ex.execute(pub(4, 't2', 'two', 2), out);
    ex.execute(pub(5, 't1', 'one', 1), out);
    await turn();
    await turn();
    // QoS 1 may be delivered before it is logged (a crash makes it a duplicate at worst); QoS 2 may not:
    // the log could still forget packet id 1 that the receiver would then remember.
    expect(deliveries.map(([id, d]) => [id, d.qos, d.message.payload.toString()])).toEqual([[7, 1, 'one']]);
    open();
    await ready;
    expect(deliveries.map(([id, d]) => [id, d.qos, d.message.payload.toString()])).toEqual([
      [7, 1, 'one'],
      [7, 2, 'two'],
    ]);
  });

  it('a failed write refuses its commands and the next write is a snapshot', async () => {
    const store = new FakeStore();
    const p = new Partition(LIMITS);
    const ex = new DurableExecutor(p, store, 0);
    const { out } = recordingOutput();
    await ex.execute(pub(1, 'r/1', 'one', 1, true), out).ready;
    store.failing = true;
    await expect(ex.execute(pub(2, 'r/2', 'two', 1, true), out).ready).rejects.toBeInstanceOf(WriteFailedError);
    store.failing = false;
    await sleep(1300); // the executor retries with a snapshot after 1 s
    expect(store.snapshots.length).toBe(1);
    await ex.execute(pub(3, 'r/3', 'three', 1, true), out).ready;
    expect(store.snapshots[0]!.seq).toBe(2);
    expect(store.appends.at(-1)!.map((r) => r.seq)).toEqual([3]);
  });

  it('fixed: under steady traffic the snapshot retry after a failed write is postponed forever', async () => {
    const store = new FakeStore();
    const ex = new DurableExecutor(new Partition(LIMITS), store, 0);
    const { out } = recordingOutput();
    store.failing = true;
    await ex.execute(pub(1, 'r/1', 'one', 1, true), out).ready!.catch(() => {});
    store.failing = false; // the disk has space again at once
    // A command every 200 ms (broker ticks alone come every 1000 ms): each refusal "waiting for a
    // snapshot" re-arms retrySnapshotAt = now + 1 s, so the retry is never due.
    let ok = false;
    const deadline = Date.now() + 3500;
    while (!ok && Date.now() < deadline) {
      ok = await ex.execute(pub(Date.now(), 't', 'x', 1), out).ready!.then(() => true, () => false);
      await sleep(200);
    }
    expect(store.snapshots.length).toBe(1);
    expect(ok).toBe(true);
  });

  it('fixed: refusals while waiting for the snapshot lose the ENOSPC cause, so PUBACK says 0x80 instead of 0x97', async () => {
    const store = new FakeStore();
    const p = new Partition(LIMITS);
    const ex = new DurableExecutor(p, store, 0);
    const core = new LocalBrokerCore(p, ex);
    try {
      store.failing = true;
      const first = await core.publish('pub', msg('t', 'a', 1)).then(() => undefined, (e: unknown) => e);
      const second = await core.publish('pub', msg('t', 'b', 1)).then(() => undefined, (e: unknown) => e);
      expect(first).toBeInstanceOf(MqttError);
      expect((first as MqttError).reasonCode).toBe(0x97);
      expect((second as MqttError).reasonCode).toBe(0x97); // today: 0x80, "waiting for a snapshot after an earlier failed write"
    } finally {
      store.failing = false;
      await sleep(1100); // let the retry snapshot succeed so no tick is refused after the test
      await core.close();
    }
  });
});

/** A store whose writes finish only when the test says so, in any order, and obey the ordering contract. */
class ManualStore implements PartitionStore {
  readonly location = '/manual/partition-0';
  readonly writes: Array<{ seq: number; finish: (err?: Error) => void }> = [];
  private gap = false;
  async open(): Promise<Recovered> {
    return { snapshotSeq: 0, records: (async function* () {})() };
  }
  append(records: Array<{ seq: number; count: number; record: Buffer }>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.writes.push({
        seq: records[0]!.seq,
        finish: (err) => {
          if (this.gap) return reject(new LogGapError());
          if (err) {
            this.gap = true;
            return reject(err);
          }
          resolve();
        },
      });
    });
  }
  async writeSnapshot(): Promise<void> {
    this.gap = false;
  }
  async close() {}
}

describe('DurableExecutor: several writes in flight', () => {
  const big = (now: number, i: number) => ({ type: 'publish' as const, now, clientId: 'pub', message: { topic: 't', payload: Buffer.alloc(40 * 1024, i), qos: 1 as QoS, retain: false, origin: 'pub' } });

  it('a busy turn goes out in slices while it is still running, and commands are answered in order whatever order the writes finish in', async () => {
    const store = new ManualStore();
    const ex = new DurableExecutor(new Partition(LIMITS), store, 0);
    const { out } = recordingOutput();
    const answered: number[] = [];
    for (let i = 0; i < 12; i++) void ex.execute(big(i, i), out).ready!.then(() => answered.push(i));
    // 12 x 40 KiB in one turn: sealed every ~128 KiB, so writes started before the turn ended.
    expect(store.writes.length).toBeGreaterThanOrEqual(2);
    await turn();
    const seqs = store.writes.map((w) => w.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(seqs[0]).toBe(1);
    // Finish the later writes first: nothing may be answered before the first write is durable.
    for (const w of store.writes.slice(1).reverse()) w.finish();
    await turn();
    expect(answered).toEqual([]);
    store.writes[0]!.finish();
    await turn();
    await turn();
    expect(answered).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });

  it('a chain head (sealsEarly off) writes a busy turn where its offers cut it, not by size', async () => {
    const store = new ManualStore();
    const ex = new DurableExecutor(new Partition(LIMITS), store, 0);
    ex.sealsEarly = false;
    const { out } = recordingOutput();
    const first = Array.from({ length: 6 }, (_, i) => big(i, i));
    for (const c of first) void ex.execute(c, out);
    expect(store.writes).toHaveLength(0); // 240 KiB, not cut at 128 KiB
    ex.offerRecord(first, encodeCommands(first));
    expect(store.writes.map((w) => w.seq)).toEqual([1]); // written at once, as one record
    for (let i = 6; i < 12; i++) void ex.execute(big(i, i), out);
    expect(store.writes).toHaveLength(1);
    await turn();
    await turn();
    expect(store.writes.map((w) => w.seq)).toEqual([1, 7]); // no offer: the whole rest of the turn at the check phase
  });

  it('when an earlier write fails, the later ones in flight are refused with its cause (0x97 for a full disk), not acknowledged', async () => {
    const store = new ManualStore();
    const p = new Partition(LIMITS);
    const ex = new DurableExecutor(p, store, 0);
    const core = new LocalBrokerCore(p, ex);
    try {
      const results = Array.from({ length: 12 }, (_, i) => core.publish('pub', big(i, i).message).then(() => 'ok', (e: MqttError) => e.reasonCode));
      await turn();
      expect(store.writes.length).toBeGreaterThanOrEqual(2);
      store.writes[0]!.finish(Object.assign(new Error('No space left on device'), { code: 'ENOSPC' }));
      for (const w of store.writes.slice(1)) w.finish(); // the store refuses them: a hole precedes them
      expect(new Set(await Promise.all(results))).toEqual(new Set([0x97]));
    } finally {
      await sleep(1100); // the retry snapshot heals the store before the core closes
      for (const w of store.writes) w.finish();
      await core.close();
    }
  });
});

describe('LocalBrokerCore.publishAcked on a durable executor', () => {
  it('reports each outcome once, in call order, only after the write; a failed write reports 0x97 to every publish in it', async () => {
    const store = new FakeStore();
    const p = new Partition(LIMITS);
    const core = new LocalBrokerCore(p, new DurableExecutor(p, store, 0));
    const seen: Array<[number, string]> = [];
    const sink = { publishDone: (tag: number, r: unknown, err: Error | undefined) => seen.push([tag, err ? `rc ${(err as MqttError).reasonCode}` : 'ok']) };
    try {
      let open!: () => void;
      store.gate = new Promise((r) => (open = r));
      for (let i = 0; i < 5; i++) core.publishAcked('pub', msg('t', `m${i}`, 1), undefined, sink, i);
      await turn();
      expect(seen).toEqual([]); // nothing before the write
      open();
      await sleep(10);
      expect(seen).toEqual([0, 1, 2, 3, 4].map((i) => [i, 'ok']));
      store.gate = undefined;
      store.failing = true;
      for (let i = 5; i < 8; i++) core.publishAcked('pub', msg('t', `m${i}`, 1), undefined, sink, i);
      await sleep(10);
      expect(seen.slice(5)).toEqual([5, 6, 7].map((i) => [i, 'rc 151']));
    } finally {
      store.failing = false;
      await sleep(1100);
      await core.close();
    }
  });
});

describe.each([
  ['SqliteStore', (location: string): PartitionStore => new SqliteStore(location)],
  ['LevelStore', (location: string): PartitionStore => new LevelStore(location)],
])('%s + recovery', (_name, makeStore) => {
  it('snapshots truncate the log, and recovery rebuilds exactly the state the executor had', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'edgemq-unit-store-'));
    dirs.push(dir);
    const location = path.join(dir, 'partition-0');
    // Records alone decide here (snapshotLogRatio 0): the state grows faster than the log.
    const opts = { ...DEFAULT_DURABLE_OPTIONS, snapshotEveryRecords: 500, snapshotLogRatio: 0, snapshotEveryBytes: 1 << 30 };
    let store = makeStore(location);
    const first = await recoverPartition(store, LIMITS, opts);
    const { out } = recordingOutput();
    let now = 1_700_000_000_000;
    await first.executor.execute(connect(now, 'sub', 1), out).ready;
    await first.executor.execute(subscribe(now, 'sub', 1, 'q/#', 1), out).ready;
    await first.executor.execute({ type: 'disconnect', now, clientId: 'sub', connectionId: 1, normal: true }, out).ready;
    let last: Promise<void> | undefined;
    for (let i = 0; i < 3000; i++) {
      now++;
      last = first.executor.execute(pub(now, `q/${i % 7}`, `m${i}`, 1, i % 100 === 0), out).ready;
      if (i % 64 === 63) await last;
    }
    await last;
    const original = first.partition;
    await first.executor.close();

    // On disk: a snapshot and at most one threshold's worth of log records.
    const raw = makeStore(location);
    const r = await raw.open();
    let records = 0;
    for await (const rec of r.records) records += rec.count;
    await raw.close();
    expect(r.snapshot).toBeDefined();
    expect(r.snapshotSeq).toBeGreaterThanOrEqual(2500);
    expect(records).toBeLessThan(500 + 64);

    store = makeStore(location);
    const second = await recoverPartition(store, LIMITS, opts);
    // Recovery ends with a `restart` command; apply the same to the original before comparing.
    original.apply({ type: 'restart', now, crashedAt: now }, recordingOutput().out);
    expect(v8.deserialize(v8.serialize(snapshotPartition(second.partition)))).toEqual(v8.deserialize(v8.serialize(snapshotPartition(original))));
    expect(second.partition.sessions.get('sub')!.queue.length).toBe(3000);
    await second.executor.close();
  });

});

describe('LevelStore', () => {
  it('a LevelDB data directory of an earlier format (v8-serialized records) recovers, and is marked as the current format', async () => {
    const location = mkdtempSync(path.join(os.tmpdir(), 'edgemq-unit-store-'));
    dirs.push(location);
    const { ClassicLevel } = await import('classic-level');
    const db = new ClassicLevel<Buffer, Buffer>(location, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    const key = (seq: number, count: number) => Buffer.concat([Buffer.from('L'), Buffer.from(BigInt(seq).toString(16).padStart(16, '0'), 'hex'), Buffer.from(count.toString(16).padStart(8, '0'), 'hex')]);
    const now = 1_700_000_000_000;
    const old: Command[] = [
      { type: 'connect', now, clientId: 'sub', connectionId: 1, protocolVersion: 5, cleanStart: true, sessionExpirySeconds: 3600, receiveMaximum: 10 },
      { type: 'subscribe', now, clientId: 'sub', connectionId: 1, subs: [{ filter: 'q/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0 }] },
      { type: 'disconnect', now, clientId: 'sub', connectionId: 1, normal: true },
      pub(now + 1, 'q/1', 'kept', 1, false),
    ];
    await db.put(Buffer.from('M:format'), Buffer.from('edgemq.partition-store/2'));
    await db.put(key(1, old.length), v8.serialize(old));
    await db.close();

    const recovered = await recoverPartition(new LevelStore(location), LIMITS);
    expect(recovered.replayed).toBe(old.length);
    expect(recovered.partition.sessions.get('sub')!.queue.length).toBe(1);
    await recovered.executor.close();
    const check = new ClassicLevel<Buffer, Buffer>(location, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await check.open();
    expect((await check.get(Buffer.from('M:format')))!.toString()).toBe(STORE_FORMAT);
    await check.close();
  });
});

/** A FakeStore that stores snapshots aside: each waits for `release` (and fails with `asideFailing`). */
class AsideStore extends FakeStore {
  asides: number[] = [];
  asideFailing = false;
  private waiting: Array<() => void> = [];
  snapshotAside(seq: number): Promise<void> {
    return new Promise<void>((resolve) => this.waiting.push(resolve)).then(() => {
      if (this.asideFailing) throw new Error('SQLITE_FULL: database or disk is full');
      this.asides.push(seq);
    });
  }
  release(): void {
    for (const w of this.waiting.splice(0)) w();
  }
}

describe('DurableExecutor with a store that snapshots aside', () => {
  it('answers commands without waiting for the snapshot, logs the records it covers too, and takes a failed one again', async () => {
    const store = new AsideStore();
    const errors: Error[] = [];
    const ex = new DurableExecutor(new Partition(LIMITS), store, 0, {
      ...DEFAULT_DURABLE_OPTIONS, snapshotEveryRecords: 10, snapshotLogRatio: 0, snapshotEveryBytes: 1 << 30, onError: (e) => errors.push(e),
    });
    const { out } = recordingOutput();
    let now = 1_700_000_000_000;
    // Snapshots are never stored meanwhile, yet every command is answered.
    for (let i = 0; i < 30; i++) await ex.execute(pub(++now, 't', `m${i}`, 1), out).ready;
    expect(store.snapshots).toEqual([]); // writeSnapshot (which holds appends back) is not used
    const seqs = store.appends.flat().map((r) => [r.seq, r.count]);
    expect(seqs).toEqual(Array.from({ length: 30 }, (_, i) => [i + 1, 1])); // a whole log, snapshot batches included
    store.release();
    await turn();
    expect(store.asides).toEqual([10, 20, 30]);

    store.asideFailing = true;
    for (let i = 0; i < 10; i++) await ex.execute(pub(++now, 't', `f${i}`, 1), out).ready;
    store.release();
    await turn();
    expect(errors.length).toBe(1);
    expect(errors[0]).toBeInstanceOf(SnapshotFailedError);
    expect(errors[0]!.message).toMatch(/snapshot failed .*SQLITE_FULL/);
    // Nothing is refused while the snapshot waits to be taken again...
    store.asideFailing = false;
    await ex.execute(pub(++now, 't', 'after', 1), out).ready;
    // ...and after the pause the next group commit takes it.
    await sleep(1100);
    await ex.execute(pub(++now, 't', 'later', 1), out).ready;
    store.release();
    await turn();
    expect(store.asides).toEqual([10, 20, 30, 42]);
    expect(store.appends.flat().map((r) => r.seq)).toEqual(Array.from({ length: 42 }, (_, i) => i + 1));
    await ex.close();
  });
});

describe('DurableExecutor snapshot pacing', () => {
  async function snapshotSeqs(ratio: number): Promise<number[]> {
    const store = new FakeStore();
    const ex = new DurableExecutor(new Partition(LIMITS), store, 0, { ...DEFAULT_DURABLE_OPTIONS, snapshotEveryRecords: 100, snapshotLogRatio: ratio, snapshotEveryBytes: 1 << 30 });
    const { out } = recordingOutput();
    let now = 1_700_000_000_000;
    await ex.execute(connect(now, 'sub', 1), out).ready;
    await ex.execute(subscribe(now, 'sub', 1, 'q/#', 1), out).ready;
    await ex.execute({ type: 'disconnect', now, clientId: 'sub', connectionId: 1, normal: true }, out).ready;
    // Every message stays queued for the offline session: the state grows as fast as the log.
    const payload = 'x'.repeat(1000);
    for (let i = 0; i < 2000; i++) await ex.execute(pub(++now, 'q/a', payload, 1), out).ready;
    await ex.close();
    return store.snapshots.map((s) => s.seq);
  }

  it('snapshots a state that outgrows the log less often: the log since a snapshot reaches twice its size first', async () => {
    const byRecords = await snapshotSeqs(0);
    const paced = await snapshotSeqs(2);
    expect(byRecords.length).toBeGreaterThanOrEqual(19); // one per ~100 records
    expect(paced.length).toBeGreaterThanOrEqual(2);
    expect(paced.length).toBeLessThanOrEqual(4);
    expect(paced[0]).toBe(byRecords[0]); // the first one is not put off
    const gaps = paced.slice(1).map((s, i) => s - paced[i]!);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]!).toBeGreaterThan(gaps[i - 1]! * 2);
  });
});
