/**
 * A cluster back end logs a front end's COMMANDS record as it came (DurableExecutor.adopt): the log
 * must then hold exactly the commands executed, in order, whether the batch is that record alone,
 * that record between commands encoded here (a joined record), or not adoptable at all.
 */
import { describe, expect, it } from 'vitest';
import type { Command } from '../../../src/partition/commands.js';
import { Partition, type PartitionLimits } from '../../../src/partition/partition.js';
import type { PartitionOutput } from '../../../src/partition/output.js';
import { decodeCommands, encodeCommands, joinRecords } from '../../../src/storage/command-codec.js';
import { DurableExecutor } from '../../../src/storage/durable-executor.js';
import type { PartitionStore, Recovered } from '../../../src/storage/partition-store.js';
import type { QoS } from '../../../src/core/types.js';

const LIMITS: PartitionLimits = { queueLength: 1000, queueStrategy: 'None', sharedStrategy: 'round-robin' };
const out: PartitionOutput = { deliver() {}, release() {}, kick() {} };
const pub = (now: number, payload: string, qos: QoS): Command => ({ type: 'publish', now, clientId: 'pub', message: { topic: 't', payload: Buffer.from(payload), qos, retain: false, origin: 'pub' } });
const ack = (now: number, packetId: number): Command => ({ type: 'ack', now, clientId: 'sub', connectionId: 7, packetId, kind: 'puback', reasonCode: 0 });

class Store implements PartitionStore {
  readonly location = '/fake';
  records: Buffer[] = [];
  async open(): Promise<Recovered> {
    return { snapshotSeq: 0, records: (async function* () {})() };
  }
  async append(records: Array<{ seq: number; count: number; record: Buffer }>): Promise<void> {
    for (const r of records) this.records.push(Buffer.from(r.record));
  }
  async writeSnapshot(): Promise<void> {}
  async close() {}
}

/** Runs `cmds` like the back end runs a frame: decoded from their record, `now` stamped into it. */
function frame(ex: DurableExecutor, cmds: Command[], now: number): void {
  const record = encodeCommands(cmds.map((c) => ({ ...c, now: 0 })));
  const nowAt: number[] = [];
  const decoded = decodeCommands(record, nowAt);
  for (const at of nowAt) record.writeDoubleLE(now, at);
  ex.mark();
  for (const c of decoded) ex.executeThen({ ...c, now }, out, { durable() {} }, undefined, 0);
  ex.adopt(record, decoded.length);
}

const settle = async (ex: DurableExecutor) => ex.flush();

describe('DurableExecutor.adopt: a received record logged as it came', () => {
  it('a batch that is one frame logs its bytes; a batch with commands around frames logs a joined record that decodes to all of them in order', async () => {
    const store = new Store();
    const ex = new DurableExecutor(new Partition(LIMITS), store, 0);
    frame(ex, [pub(0, 'a', 1), ack(0, 1)], 100);
    await settle(ex);
    expect(store.records).toHaveLength(1);
    expect(store.records[0][0]).toBe(0x02); // the frame's own record, not a joined one
    expect(decodeCommands(store.records[0])).toEqual([pub(100, 'a', 1), ack(100, 1)]);

    ex.executeThen(pub(200, 'b', 1), out, { durable() {} }, undefined, 0);
    frame(ex, [pub(0, 'c', 2), pub(0, 'd', 1)], 201);
    ex.executeThen(ack(202, 2), out, { durable() {} }, undefined, 0);
    frame(ex, [ack(0, 3)], 203);
    await settle(ex);
    expect(store.records).toHaveLength(2);
    expect(store.records[1][0]).toBe(0x03);
    expect(decodeCommands(store.records[1])).toEqual([pub(200, 'b', 1), pub(201, 'c', 2), pub(201, 'd', 1), ack(202, 2), ack(203, 3)]);
  });

  it('is ignored when a command of the frame is not logged (QoS 0)', async () => {
    const store = new Store();
    const ex = new DurableExecutor(new Partition(LIMITS), store, 0);
    frame(ex, [pub(0, 'a', 1), pub(0, 'volatile', 0), pub(0, 'b', 1)], 100);
    await settle(ex);
    expect(store.records[0][0]).toBe(0x02);
    expect(decodeCommands(store.records[0])).toEqual([pub(100, 'a', 1), pub(100, 'b', 1)]);
  });

  it('a frame larger than a batch is not split (its record would be encoded again): the batch is sealed after it', async () => {
    const store = new Store();
    const ex = new DurableExecutor(new Partition(LIMITS), store, 0);
    // 140 KiB of payloads would seal the batch early (SEAL_BYTES) after the second publish.
    const big = 'x'.repeat(70 * 1024);
    frame(ex, [pub(0, big, 1), pub(0, big, 1), pub(0, 'c', 1)], 300);
    ex.executeThen(pub(301, 'd', 1), out, { durable() {} }, undefined, 0);
    await settle(ex);
    expect(store.records).toHaveLength(2);
    expect(decodeCommands(store.records[0])).toEqual([pub(300, big, 1), pub(300, big, 1), pub(300, 'c', 1)]);
    expect(decodeCommands(store.records[1])).toEqual([pub(301, 'd', 1)]);
  });

  it('a joined record refuses nesting and truncation', () => {
    const a = encodeCommands([pub(1, 'a', 1)]);
    const joined = joinRecords([a, a]);
    expect(decodeCommands(joined)).toEqual([pub(1, 'a', 1), pub(1, 'a', 1)]);
    expect(() => decodeCommands(joined.subarray(0, joined.length - 1))).toThrow(/truncated/);
    expect(() => decodeCommands(joinRecords([joined, a]))).toThrow(/nested/);
  });
});
