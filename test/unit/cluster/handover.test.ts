/**
 * Live re-partitioning without processes: the coordinator's plan (scaleStep, reassign) from 2 to 3
 * partitions and back, and the partitions' export/import of a slot range (sessions with their
 * queues and subscriptions, state-store keys, retained messages; idempotent per move).
 */
import { describe, expect, it } from 'vitest';
import { reassign, scaleStep } from '../../../src/cluster/handover.js';
import { evenSlots, slotOf, type ClusterMap, type SlotMove } from '../../../src/cluster/map.js';
import type { Delivery } from '../../../src/core/types.js';
import type { Command } from '../../../src/partition/commands.js';
import type { HandoverState } from '../../../src/partition/handover.js';
import type { KvResult } from '../../../src/partition/kv-store.js';
import { Partition } from '../../../src/partition/partition.js';
import { RC } from '../../../src/mqtt/reason-codes.js';
import { packr } from '../../../src/cluster/transport/protocol.js';

const backend = (id: string) => ({ id, role: 'backend' as const, host: '127.0.0.1', internalPort: 1 });
const map2: ClusterMap = {
  epoch: 2,
  slots: evenSlots(2),
  partitions: [
    { id: 0, chain: ['backend-0', 'backend-1'] },
    { id: 1, chain: ['backend-1', 'backend-0'] },
  ],
  nodes: { 'backend-0': backend('backend-0'), 'backend-1': backend('backend-1') },
};

/** Runs the coordinator's steps to the end, applying each move as done. */
function scaleTo(start: ClusterMap, target: number): { map: ClusterMap; moves: Array<Omit<SlotMove, 'id'>> } {
  let map = start;
  const moves: Array<Omit<SlotMove, 'id'>> = [];
  for (let step = scaleStep(map, target, 2); step; step = scaleStep(map, target, 2)) {
    if (step.kind === 'map') map = step.map;
    else {
      moves.push(step.move);
      map = { ...map, epoch: map.epoch + 2, slots: reassign(map.slots, { id: map.epoch + 1, ...step.move }) };
    }
  }
  return { map, moves };
}

describe('scaling plan', () => {
  it('2 → 3 adds partition 2 on the least loaded back ends, then moves two ranges; 3 → 2 moves them back and drops partition 2', () => {
    const up = scaleTo(map2, 3);
    expect(up.map.partitions.map((p) => p.id)).toEqual([0, 1, 2]);
    expect(up.map.partitions[2]!.chain).toHaveLength(2);
    // The new partition's second replica takes a transfer from its head: marked joining until it reports it.
    expect(Object.keys(up.map.partitions[2]!.joining ?? {})).toEqual([up.map.partitions[2]!.chain[1]]);
    expect(up.moves).toEqual([
      { from: 341, to: 512, source: 0, target: 1 },
      { from: 682, to: 1024, source: 1, target: 2 },
    ]);
    expect(up.map.slots).toEqual(evenSlots(3));
    const down = scaleTo(up.map, 2);
    expect(down.moves).toEqual([
      { from: 341, to: 512, source: 1, target: 0 },
      { from: 682, to: 1024, source: 2, target: 1 },
    ]);
    expect(down.map.slots).toEqual(evenSlots(2));
    expect(down.map.partitions.map((p) => p.id)).toEqual([0, 1]);
    // Ids are never reused: scaling up again makes partition 3, not a second partition 2.
    expect(scaleTo(down.map, 3).map.partitions.map((p) => p.id)).toEqual([0, 1, 3]);
  });

  it('reassign merges neighbouring ranges of one partition', () => {
    expect(reassign(evenSlots(2), { id: 9, from: 500, to: 512, source: 0, target: 1 })).toEqual([
      { from: 0, to: 500, partition: 0 },
      { from: 500, to: 1024, partition: 1 },
    ]);
  });
});

describe('export and import of a slot range', () => {
  const name = (prefix: string, from: number, to: number) => {
    for (let i = 0; ; i++) if (slotOf(`${prefix}${i}`) >= from && slotOf(`${prefix}${i}`) < to) return `${prefix}${i}`;
  };
  const limits = { queueLength: 100, queueStrategy: 'DropOldest' as const, sharedStrategy: 'round-robin' as const, cluster: true };
  let now = 1_700_000_000_000;
  const run = (p: Partition, c: Command, kicks: Array<[number, number]> = []) =>
    p.apply({ ...c, now: (now += 1) }, { deliver: (_c: number, _d: Delivery) => {}, release() {}, kick: (c, rc) => kicks.push([c, rc]), forward() {} });
  const sub = { filter: 't/#', qos: 1 as const, noLocal: false, retainAsPublished: false, retainHandling: 0 as const, subscriptionId: 0 };
  const msg = (n: number) => ({ topic: 't/x', payload: Buffer.from(String(n)), qos: 1 as const, retain: false, origin: 'p' });

  it('moves the sessions and keys of the range, kicks live connections once with 0x9C, and is idempotent', () => {
    const a = new Partition(limits);
    const b = new Partition(limits);
    const moving = name('m', 600, 700);
    const staying = name('s', 0, 100);
    const key = name('k', 600, 700);
    for (const [id, conn] of [[moving, 11], [staying, 12]] as const) {
      run(a, { type: 'connect', now: 0, clientId: id, connectionId: conn, protocolVersion: 5, cleanStart: true, sessionExpirySeconds: 600, receiveMaximum: 1 });
      run(a, { type: 'subscribe', now: 0, clientId: id, connectionId: conn, subs: [sub] });
    }
    const ts = `${String(now).padStart(15, '0')}:00000:test`;
    expect(run(a, { type: 'kv', now: 0, request: { clientId: 'c', timestamp: ts, op: { verb: 'SET', key: Buffer.from(key), value: Buffer.from('v') } } as never })).toMatchObject({ type: 'ok' });
    for (let i = 0; i < 3; i++) run(a, { type: 'publish', now: 0, clientId: 'p', message: msg(i) });
    const kicks: Array<[number, number]> = [];
    const state = run(a, { type: 'export', now: 0, move: 5, from: 600, to: 700 }, kicks) as HandoverState;
    expect(kicks).toEqual([[11, RC.UseAnotherServer]]);
    expect(state.sessions.map((s) => s.clientId)).toEqual([moving]);
    expect([...a.sessions.keys()]).toEqual([staying]);
    expect(a.handover.gone(moving)).toBe(true);
    expect(a.handover.gone(staying)).toBe(false);
    // A repeated export (a coordinator that took over) gets the same state and kicks nobody again.
    expect(run(a, { type: 'export', now: 0, move: 5, from: 600, to: 700 }, kicks)).toBe(state);
    expect(kicks).toHaveLength(1);

    run(b, { type: 'import', now: 0, move: 5, state });
    run(b, { type: 'import', now: 0, move: 5, state });
    const s = b.sessions.get(moving)!;
    expect(s.online).toBe(false);
    expect(s.inflight.size + s.queue.length).toBe(3);
    const got = run(b, { type: 'kv', now: 0, request: { clientId: 'c', op: { verb: 'GET', key: Buffer.from(key) } } as never }) as KvResult;
    expect(got).toMatchObject({ type: 'blob', value: Buffer.from('v') });
    // The client comes back and gets its window re-sent, then the rest of its queue.
    const delivered: Delivery[] = [];
    b.apply({ type: 'connect', now: (now += 1), clientId: moving, connectionId: 21, protocolVersion: 5, cleanStart: false, sessionExpirySeconds: 600, receiveMaximum: 10 }, { deliver: (_c, d) => delivered.push(d), release() {}, kick() {} });
    expect(delivered.map((d) => d.message.payload.toString())).toEqual(['0', '1', '2']);
    // Importing the range back makes it this partition's again.
    run(a, { type: 'import', now: 0, move: 7, state: { ...state, move: 7, sessions: [] } });
    expect(a.handover.gone(moving)).toBe(false);
  });
  it('carries the idempotency keys: a keyed append sent again after its subscriber moved is not routed twice (QoS 2 exactly once)', () => {
    const a = new Partition(limits);
    const b = new Partition(limits);
    const moving = name('m', 600, 700);
    run(a, { type: 'connect', now: 0, clientId: moving, connectionId: 11, protocolVersion: 5, cleanStart: true, sessionExpirySeconds: 600, receiveMaximum: 10 });
    run(a, { type: 'subscribe', now: 0, clientId: moving, connectionId: 11, subs: [{ ...sub, qos: 2 as const }] });
    // The rest of a QoS 2 publish, under the key the front end gave it: routed here once.
    const rest = (n: number): Command => ({ type: 'publish', now: 0, clientId: 'p', message: { ...msg(n), qos: 2 }, key: `frontend-0/42/${n}` });
    expect(run(a, rest(1))).toMatchObject({ matched: 1 });
    // b's own history: keys it applied before the move stay known after it.
    expect(run(b, rest(7))).toMatchObject({ matched: 0 });
    const state = run(a, { type: 'export', now: 0, move: 5, from: 600, to: 700 }) as HandoverState;
    // Over the wire the state is MessagePack (the coordinator's reply): typed arrays arrive as bytes.
    run(b, { type: 'import', now: 0, move: 5, state: packr.unpack(packr.pack(state)) as HandoverState });
    // The publisher's front end died before PUBREC; its resend finds the packet id held and sends
    // the rest again under the first key, now to b, which holds the session.
    expect(run(b, rest(1))).toMatchObject({ matched: 1 });
    expect(run(b, rest(7))).toMatchObject({ matched: 0 });
    const s = b.sessions.get(moving)!;
    expect([...s.inflight.values(), ...s.queue].map((e) => e.message.payload.toString())).toEqual(['1']);
    // A key nobody applied is routed as usual.
    expect(run(b, rest(2))).toMatchObject({ matched: 1 });
  });
});
