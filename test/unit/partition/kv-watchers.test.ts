/**
 * KEYNOTIFY registrations in a partition of a cluster that holds the key but not the requester's
 * session: they are tied to the connection the front end named, end with `unwatch` (that
 * connection, or every connection of a dead front end), and survive a snapshot. Registrations of
 * the partition's own sessions still end with their connection by themselves.
 */
import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { globalConnectionId } from '../../../src/core/connection-ids.js';
import type { Message } from '../../../src/core/types.js';
import type { KvRequest } from '../../../src/partition/kv-store.js';
import type { PartitionOutput } from '../../../src/partition/output.js';
import { Partition } from '../../../src/partition/partition.js';
import { restorePartition, snapshotPartition } from '../../../src/partition/snapshot.js';

const limits = { queueLength: 100, queueStrategy: 'DropOldest' as const, sharedStrategy: 'round-robin' as const, cluster: true };
const ts = (ms: number) => `${String(ms).padStart(15, '0')}:00000:t`;

function output(): { out: PartitionOutput; forwarded: Message[] } {
  const forwarded: Message[] = [];
  return { forwarded, out: { deliver() {}, release() {}, kick() {}, forward: (m) => forwarded.push(m) } };
}

function kv(p: Partition, out: PartitionOutput, request: KvRequest, now = 1000): unknown {
  return p.apply({ type: 'kv', now, request }, out);
}

const watch = (clientId: string, connectionId: number | undefined): KvRequest => ({ clientId, connectionId, op: { verb: 'KEYNOTIFY', key: Buffer.from('k'), stop: false } });
const set = (value: string, now: number): KvRequest => ({ clientId: 'writer', timestamp: ts(now), op: { verb: 'SET', key: Buffer.from('k'), value: Buffer.from(value) } });

describe('KEYNOTIFY registrations of sessions in other partitions', () => {
  it('hold until unwatch of their connection; another connection of the same client is not affected', () => {
    const p = new Partition(limits);
    const { out, forwarded } = output();
    const c1 = globalConnectionId(7, 1);
    kv(p, out, watch('w', c1));
    kv(p, out, set('1', 1001), 1001);
    expect(forwarded.map((m) => m.topic.endsWith('/command/notify/6B'))).toEqual([true]);
    p.apply({ type: 'unwatch', now: 1002, clientId: 'w', connectionId: globalConnectionId(7, 2) }, out); // not its connection
    kv(p, out, set('2', 1003), 1003);
    expect(forwarded).toHaveLength(2);
    p.apply({ type: 'unwatch', now: 1004, clientId: 'w', connectionId: c1 }, out);
    kv(p, out, set('3', 1005), 1005);
    expect(forwarded).toHaveLength(2);
  });

  it('end with every connection of a dead front end, and survive a snapshot', () => {
    const p = new Partition(limits);
    const { out } = output();
    kv(p, out, watch('a', globalConnectionId(7, 1)));
    kv(p, out, watch('b', globalConnectionId(8, 1)));
    const restored = restorePartition(v8.deserialize(v8.serialize(snapshotPartition(p))), limits);
    const r = output();
    kv(restored, r.out, set('1', 1001), 1001);
    expect(r.forwarded.map((m) => m.topic)).toHaveLength(2);
    restored.apply({ type: 'unwatch', now: 1002, frontEnd: 7 }, r.out);
    kv(restored, r.out, set('2', 1003), 1003);
    expect(r.forwarded).toHaveLength(3);
    expect(r.forwarded[2]!.topic).toContain(`/${Buffer.from('b').toString('hex').toUpperCase()}/`);
  });

  it('are not made for a connection that had ended (id 0) or that nobody named', () => {
    const p = new Partition(limits);
    const { out, forwarded } = output();
    kv(p, out, watch('gone', 0));
    kv(p, out, watch('unnamed', undefined));
    kv(p, out, set('1', 1001), 1001);
    expect(forwarded).toEqual([]);
  });

  it('of a session of this partition still end with its connection, without unwatch', () => {
    const p = new Partition(limits);
    const { out, forwarded } = output();
    const c = globalConnectionId(7, 1);
    p.apply({ type: 'connect', now: 1000, clientId: 'own', connectionId: c, protocolVersion: 5, cleanStart: false, sessionExpirySeconds: 600, receiveMaximum: 10 }, out);
    kv(p, out, watch('own', c));
    p.apply({ type: 'disconnect', now: 1001, clientId: 'own', connectionId: c, normal: true }, out);
    kv(p, out, set('1', 1002), 1002);
    expect(forwarded).toEqual([]);
  });

  it('of a session of this partition survive a snapshot while connected, and end at restart (a new connection with the same id does not inherit them)', () => {
    const p = new Partition(limits);
    const { out } = output();
    const c = 5;
    const connect = { type: 'connect' as const, now: 1000, clientId: 'own', connectionId: c, protocolVersion: 5 as const, cleanStart: false, sessionExpirySeconds: 600, receiveMaximum: 10 };
    p.apply(connect, out);
    kv(p, out, watch('own', c));
    const restored = restorePartition(v8.deserialize(v8.serialize(snapshotPartition(p))), limits);
    const r = output();
    kv(restored, r.out, set('1', 1001), 1001);
    expect(r.forwarded).toHaveLength(1); // a replica restored from the snapshot is the same state machine
    restored.apply({ type: 'restart', now: 1002, crashedAt: 1001 }, r.out);
    restored.apply({ ...connect, now: 1003 }, r.out); // the same id again (a single node counts from 1 after a restart)
    kv(restored, r.out, set('2', 1004), 1004);
    expect(r.forwarded).toHaveLength(1);
  });
});
