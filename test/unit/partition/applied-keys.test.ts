/**
 * Issue 15: a cluster front end retries an append whose head died unanswered against the new head,
 * with the same idempotency key. The partition must answer a key it applied with the first result
 * and route nothing again, also after a snapshot/restore (state transfer) and after a replay of the
 * command log (the key travels through the log codec). Unkeyed publishes are unaffected.
 */
import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import type { Command, PublishCommand } from '../../../src/partition/commands.js';
import { Partition, type PartitionLimits } from '../../../src/partition/partition.js';
import { restorePartition, snapshotPartition } from '../../../src/partition/snapshot.js';
import { AppliedKeys } from '../../../src/partition/applied-keys.js';
import { packr } from '../../../src/cluster/transport/protocol.js';
import { decodeCommands, encodeCommands } from '../../../src/storage/command-codec.js';
import type { Delivery, PublishResult } from '../../../src/core/types.js';

const T0 = 1_700_000_000_000;
const lim: PartitionLimits = { queueLength: 100, queueStrategy: 'DropOldest', sharedStrategy: 'round-robin', cluster: true };
const sub = { filter: 't/#', qos: 2 as const, noLocal: false, retainAsPublished: false, retainHandling: 0 as const, subscriptionId: 0 };

function recorder() {
  const delivered: Delivery[] = [];
  return { delivered, out: { deliver: (_id: number, d: Delivery) => delivered.push(d), release() {}, kick() {} } };
}

const setup: Command[] = [
  { type: 'connect', now: T0, clientId: 'sub', connectionId: 7, protocolVersion: 5, cleanStart: true, sessionExpirySeconds: 600, receiveMaximum: 100 },
  { type: 'subscribe', now: T0 + 1, clientId: 'sub', connectionId: 7, subs: [sub] },
  { type: 'connect', now: T0 + 2, clientId: 'pub', connectionId: 9, protocolVersion: 5, cleanStart: true, sessionExpirySeconds: 600, receiveMaximum: 100 },
];

function publish(key: string | undefined, packetId: number, now: number, qos: 1 | 2 = 2): PublishCommand {
  const cmd: PublishCommand = { type: 'publish', now, clientId: 'pub', packetId, message: { topic: 't/x', payload: Buffer.from(`m${packetId}`), qos, retain: false, origin: 'pub' } };
  if (key !== undefined) cmd.key = key;
  return cmd;
}

function fresh(): Partition {
  const p = new Partition(lim);
  const { out } = recorder();
  for (const c of setup) p.apply(c, out);
  return p;
}

describe('partition: idempotency keys of cluster appends', () => {
  it('a repeated keyed publish is answered with the first result and not routed again', () => {
    const p = fresh();
    const { delivered, out } = recorder();
    const first = p.apply(publish('pub/9/1', 1, T0 + 10), out) as PublishResult;
    expect(first.matched).toBe(1);
    expect(first.duplicate).toBeUndefined();
    // The retry: same key. Not "duplicate" (the front end must go on with the fan-out), and not routed;
    // answered with what the message did, without the receivers' backlog of the first sending.
    expect(p.apply(publish('pub/9/1', 1, T0 + 11), out)).toEqual({ matched: first.matched });
    expect(delivered.map((d) => d.message.payload.toString())).toEqual(['m1']);
    // QoS 1 too; a new key is a new message.
    p.apply(publish('pub/9/2', 2, T0 + 12, 1), out);
    p.apply(publish('pub/9/2', 2, T0 + 13, 1), out);
    p.apply(publish('pub/9/3', 3, T0 + 14, 1), out);
    expect(delivered.map((d) => d.message.payload.toString())).toEqual(['m1', 'm2', 'm3']);
  });

  it('without a key nothing changes: a QoS 1 publish sent twice is routed twice', () => {
    const p = fresh();
    const { delivered, out } = recorder();
    p.apply(publish(undefined, 5, T0 + 10, 1), out);
    p.apply(publish(undefined, 5, T0 + 11, 1), out);
    expect(delivered).toHaveLength(2);
    expect(p.appliedKeys.size).toBe(0);
  });

  it('the keys survive snapshot/restore (state transfer to a new replica)', () => {
    const p = fresh();
    const { out } = recorder();
    const first = p.apply(publish('pub/9/1', 1, T0 + 10), out);
    const q = restorePartition(v8.deserialize(v8.serialize(snapshotPartition(p))), lim);
    const r = recorder();
    expect(q.apply(publish('pub/9/1', 1, T0 + 11), r.out)).toEqual({ matched: (first as PublishResult).matched });
    expect(r.delivered).toHaveLength(0);
    q.apply(publish('pub/9/2', 2, T0 + 12), r.out);
    expect(r.delivered.map((d) => d.message.payload.toString())).toEqual(['m2']);
  });

  it('the key goes through the log codec, so a replay of the log remembers it', () => {
    const logged: Command[] = [...setup, publish('pub/9/1', 1, T0 + 10), publish(undefined, 2, T0 + 11, 1)];
    const decoded = decodeCommands(encodeCommands(logged));
    expect((decoded[3] as PublishCommand).key).toBe('pub/9/1');
    expect((decoded[4] as PublishCommand).key).toBeUndefined();
    expect(decoded).toEqual(logged);
    const p = new Partition(lim);
    const { delivered, out } = recorder();
    for (const c of decoded) p.apply(c, out);
    p.apply(publish('pub/9/1', 1, T0 + 12), out);
    expect(delivered.map((d) => d.message.payload.toString())).toEqual(['m1', 'm2']);
  });

  it('a QoS 2 resend under a new key (another front end) is a duplicate that names the first key (the hold), also after restore', () => {
    const p = fresh();
    const { delivered, out } = recorder();
    p.apply(publish('fe-a/1/1', 4, T0 + 10), out);
    expect(p.apply(publish('fe-b/2/1', 4, T0 + 11), out)).toEqual({ matched: 0, duplicate: true, hold: 'fe-a/1/1' });
    const q = restorePartition(v8.deserialize(v8.serialize(snapshotPartition(p))), lim);
    expect(q.apply(publish('fe-b/2/2', 4, T0 + 12), out)).toEqual({ matched: 0, duplicate: true, hold: 'fe-a/1/1' });
    expect(delivered.map((d) => d.message.payload.toString())).toEqual(['m4']);
    // Unkeyed (a single node): a duplicate without a hold, as before.
    p.apply(publish(undefined, 5, T0 + 13), out);
    expect(p.apply(publish(undefined, 5, T0 + 14), out)).toEqual({ matched: 0, duplicate: true });
  });

  it('is bounded: the oldest key is forgotten first', () => {
    const k = new AppliedKeys(3);
    for (const key of ['a', 'b', 'c', 'd']) k.remember(key, { matched: 1 });
    expect(k.size).toBe(3);
    expect(k.get('a')).toBeUndefined();
    expect(k.get('d')).toEqual({ matched: 1 });
    const r = new AppliedKeys(3);
    r.restore(k.snapshot());
    expect(r.entries()).toEqual(k.entries());
  });

  it('evicts in insertion order across many wraps of its ring, after a restore and for a key remembered again', () => {
    const k = new AppliedKeys(4);
    for (let i = 0; i < 11; i++) k.remember(`k${i}`, { matched: i });
    expect(k.entries().map(([key]) => key)).toEqual(['k7', 'k8', 'k9', 'k10']);
    k.remember('k8', { matched: 80 }); // known key: new result, same place in the order
    k.remember('k11', { matched: 11 });
    expect(k.entries()).toEqual([['k8', { matched: 80 }], ['k9', { matched: 9 }], ['k10', { matched: 10 }], ['k11', { matched: 11 }]]);
    const r = new AppliedKeys(4);
    r.restore(k.snapshot());
    r.remember('k12', { matched: 12 });
    r.remember('k13', { matched: 13 });
    expect(r.entries().map(([key]) => key)).toEqual(['k10', 'k11', 'k12', 'k13']);
    expect(r.size).toBe(4);
  });

  it('a snapshot after many evictions (its key bytes span blocks, the oldest partly evicted) restores the same keys in the same order', () => {
    const k = new AppliedKeys(5000);
    for (let i = 0; i < 12_345; i++) k.remember(`frontend-0/3735928559/${i}-ü`, { matched: i % 7 });
    const r = new AppliedKeys(5000);
    r.restore(v8.deserialize(v8.serialize(k.snapshot())));
    expect(r.size).toBe(5000);
    expect(r.entries()).toEqual(k.entries());
    expect(r.entries()[0]).toEqual([`frontend-0/3735928559/${12_345 - 5000}-ü`, { matched: (12_345 - 5000) % 7 }]);
    // Both go on evicting alike.
    for (const x of [k, r]) x.remember('next', { matched: 1 });
    expect(r.entries()).toEqual(k.entries());
  });

  it('keeps results that hold more than a count, and restores the earlier snapshot form ([key, result] pairs)', () => {
    const k = new AppliedKeys(4);
    k.remember('a', { matched: 2 });
    k.remember('b', { matched: 0, reasonCode: 0x97 });
    k.remember('c', { matched: 0, duplicate: true, hold: 'x/1/1' });
    const r = new AppliedKeys(4);
    r.restore(v8.deserialize(v8.serialize(k.snapshot())));
    expect(r.entries()).toEqual([['a', { matched: 2 }], ['b', { matched: 0, reasonCode: 0x97 }], ['c', { matched: 0, duplicate: true, hold: 'x/1/1' }]]);
    const old = new AppliedKeys(4);
    old.restore([['a', { matched: 2 }], ['b', { matched: 1 }]]);
    expect(old.entries()).toEqual([['a', { matched: 2 }], ['b', { matched: 1 }]]);
    old.restore({ keys: ['c', 'd'], results: [3, { matched: 0, reasonCode: 0x97 }] });
    expect(old.entries()).toEqual([['c', { matched: 3 }], ['d', { matched: 0, reasonCode: 0x97 }]]);
    old.restore(null);
    expect(old.size).toBe(0);
  });
  it('adopts the newest keys of another partition (a handover), keeping its own results, from the MessagePack form too', () => {
    const mine = new AppliedKeys(10);
    mine.remember('fe/1/100', { matched: 9 });
    mine.remember('fe/1/101', { matched: 1 });
    const theirs = new AppliedKeys(10);
    for (let i = 0; i < 8; i++) theirs.remember(`fe/1/${i}`, { matched: 2 });
    theirs.remember('fe/1/100', { matched: 3, reasonCode: 0x10 });
    // As the export travels: MessagePack turns the Float64Array of counts into bytes.
    mine.adopt(packr.unpack(packr.pack(theirs.snapshot())));
    // Half the capacity at most: the 5 newest of theirs; the key known here keeps its own result.
    expect(mine.entries()).toEqual([
      ['fe/1/100', { matched: 9 }],
      ['fe/1/101', { matched: 1 }],
      ['fe/1/4', { matched: 2 }],
      ['fe/1/5', { matched: 2 }],
      ['fe/1/6', { matched: 2 }],
      ['fe/1/7', { matched: 2 }],
    ]);
    expect(mine.get('fe/1/3')).toBeUndefined();
  });

  describe('cluster keys (<node>/<instance>/<sequence>) in their front end\'s window', () => {
    it('keeps every key of a source whose sequences come sparse and out of order (the window grows), oldest first', () => {
      const k = new AppliedKeys(100_000);
      // A partition sees every 1024th append of a front end (one slot of the first window), then a late retry's order.
      const seqs = [...Array.from({ length: 120 }, (_, i) => 5 + i * 1024), 3, 1, 2];
      for (const q of seqs) k.remember(`frontend-0/77/${q}`, { matched: q % 5 });
      expect(k.size).toBe(seqs.length);
      for (const q of seqs) expect(k.get(`frontend-0/77/${q}`)).toEqual({ matched: q % 5 });
      expect(k.get('frontend-0/77/4')).toBeUndefined();
      expect(k.entries().map(([key]) => key)).toEqual(seqs.map((q) => `frontend-0/77/${q}`));
    });

    it('a key its front end made 2^17 keys before ends when the newer one comes; a retry of the old one ends the newer one, and the ring passing the old entry ends nothing', () => {
      const W = 2 ** 17;
      const k = new AppliedKeys(10);
      k.remember('fe/1/7', { matched: 1 });
      k.remember(`fe/1/${7 + W}`, { matched: 2 });
      expect(k.get('fe/1/7')).toBeUndefined();
      expect(k.size).toBe(1);
      // The snapshot keeps both entries in order (as the key bytes do); the restore ends the old one again.
      const r = new AppliedKeys(10);
      r.restore(v8.deserialize(v8.serialize(k.snapshot())));
      expect(r.entries()).toEqual(k.entries());
      expect(r.size).toBe(1);
      // A retry of the old key: it is new again and replaces the newer one.
      for (const x of [k, r]) x.remember('fe/1/7', { matched: 3 });
      for (const x of [k, r]) {
        expect(x.entries()).toEqual([['fe/1/7', { matched: 3 }]]);
        // The ring passes the first entry of fe/1/7 (and the one of the newer key): the retry stays.
        for (let i = 0; i < 8; i++) x.remember(`other/2/${i}`, { matched: 0 });
        expect(x.get('fe/1/7')).toEqual({ matched: 3 });
        expect(x.size).toBe(9);
      }
    });

    it('tells a canonical sequence from other spellings, and keys of other forms from cluster keys', () => {
      const k = new AppliedKeys(10);
      const keys = ['a/7', 'a/007', 'a/', 'a/0', '7', 'b/1234567890123456', 'c/x1'];
      keys.forEach((key, i) => k.remember(key, { matched: i }));
      expect(k.size).toBe(keys.length);
      keys.forEach((key, i) => expect(k.get(key)).toEqual({ matched: i }));
      expect(k.entries().map(([key]) => key)).toEqual(keys);
      expect(k.get('a/07')).toBeUndefined();
    });

    it('evicts plain and cluster keys in one insertion order, and forgets a source once its keys are gone', () => {
      const k = new AppliedKeys(3);
      k.remember('fe/1/1', { matched: 1 });
      k.remember('plain', { matched: 2 });
      k.remember('fe/2/1', { matched: 3 });
      k.remember('fe/1/2', { matched: 4 });
      expect(k.entries().map(([key]) => key)).toEqual(['plain', 'fe/2/1', 'fe/1/2']);
      for (let i = 0; i < 3; i++) k.remember(`fe/3/${i}`, { matched: 0 });
      expect(k.entries().map(([key]) => key)).toEqual(['fe/3/0', 'fe/3/1', 'fe/3/2']);
      // A source whose keys all left comes back empty.
      expect(k.get('fe/1/2')).toBeUndefined();
      k.remember('fe/1/2', { matched: 5 });
      expect(k.get('fe/1/2')).toEqual({ matched: 5 });
    });

    it('a restore from any snapshot goes on exactly like the original (random keys, replacements at 2^17, wraps of the ring)', () => {
      let seed = 12345;
      const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
      const key = () => (rand(10) === 0 ? `p${rand(30)}` : `fe/${rand(3)}/${rand(40) + (rand(2) ? 2 ** 17 : 0) + (rand(4) === 0 ? 2 ** 18 : 0)}`);
      const k = new AppliedKeys(50);
      const ops: Array<[string, PublishResult]> = [];
      for (let step = 0; step < 2000; step++) {
        ops.push([key(), rand(5) === 0 ? { matched: 0, reasonCode: 0x97 } : { matched: rand(9) }]);
        k.remember(...ops[ops.length - 1]);
        if (step % 97 !== 0) continue;
        const r = new AppliedKeys(50);
        r.restore(v8.deserialize(v8.serialize(k.snapshot())));
        expect(r.entries()).toEqual(k.entries());
        expect(r.size).toBe(k.size);
        const next = Array.from({ length: 60 }, () => key());
        // The original, made again from every key so far, next to the restored copy.
        const a = new AppliedKeys(50);
        for (const op of ops) a.remember(...op);
        for (const x of next) {
          a.remember(x, { matched: 1 });
          r.remember(x, { matched: 1 });
        }
        expect(r.entries()).toEqual(a.entries());
        expect(r.size).toBe(a.size);
        expect(a.size).toBe(a.entries().length);
      }
    });

    it('answers a retry with what the message did, not with the receivers\' backlog of the moment', () => {
      const k = new AppliedKeys(10);
      k.remember('fe/1/1', { matched: 2, backlog: 40 });
      k.remember('fe/1/2', { matched: 0, reasonCode: 0x97, backlog: 9 });
      k.remember('fe/1/3', { matched: 0, duplicate: true, hold: 'fe/0/1' });
      expect(k.entries()).toEqual([
        ['fe/1/1', { matched: 2 }],
        ['fe/1/2', { matched: 0, reasonCode: 0x97 }],
        ['fe/1/3', { matched: 0, duplicate: true, hold: 'fe/0/1' }],
      ]);
      k.remember('fe/1/2', { matched: 1 }); // a known key: new result, same place
      expect(k.get('fe/1/2')).toEqual({ matched: 1 });
      const r = new AppliedKeys(10);
      r.restore(v8.deserialize(v8.serialize(k.snapshot())));
      expect(r.entries()).toEqual(k.entries());
    });
  });
});
