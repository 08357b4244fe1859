/**
 * Model-based equivalence of snapshot/restore: random command sequences are applied to partition A;
 * at a random point A is snapshotted (snapshotPartition), the snapshot goes through v8
 * serialize/deserialize (as storage and state transfer do), and is restored into B; the remaining
 * commands go to both. Every observable output (results, deliveries with packet ids, PUBRELs,
 * kicks) and the final snapshots must be identical. A replica that restored a snapshot must be
 * indistinguishable from one that applied the whole log.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import v8 from 'node:v8';
import type { Command } from '../../../src/partition/commands.js';
import type { PartitionOutput } from '../../../src/partition/output.js';
import { Partition, type PartitionLimits } from '../../../src/partition/partition.js';
import { restorePartition, snapshotPartition, type PartitionSnapshot } from '../../../src/partition/snapshot.js';
import type { QoS } from '../../../src/core/types.js';

const CLIENTS = ['a', 'b', 'c', 'd'] as const;
const TOPICS = ['t/1', 't/2', 'u/1', 'will/x'] as const;
const FILTERS = ['t/1', 't/+', '#', 'u/#', 'will/#', '$share/g/t/#', '$share/g/#', '$share/h/u/1'] as const;
const T0 = 1_700_000_000_000;

/** One step of the scenario; connection ids and times are filled in by the harness. */
type Step =
  | { k: 'connect'; c: number; clean: boolean; expiry: number; rm: number; will?: { topic: number; qos: QoS; delay: number; retain: boolean } }
  | { k: 'disconnect'; c: number; normal: boolean; stale: boolean }
  | { k: 'subscribe'; c: number; f: number; qos: QoS; nl: boolean; rap: boolean; rh: 0 | 1 | 2; id: number }
  | { k: 'unsubscribe'; c: number; f: number }
  | { k: 'publish'; c: number; t: number; qos: QoS; retain: boolean; empty: boolean; expiry: number; pid: number }
  | { k: 'release'; c: number; pid: number }
  | { k: 'ack'; c: number; pid: number; kind: 'puback' | 'pubrec' | 'pubcomp'; rc: number }
  | { k: 'tick'; dt: number }
  | { k: 'restart' };

const qos = fc.constantFrom<QoS>(0, 1, 2);
const client = fc.nat(CLIENTS.length - 1);
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant('connect' as const), c: client, clean: fc.boolean(), expiry: fc.constantFrom(0, 1, 5, 3600), rm: fc.constantFrom(1, 2, 65535),
    will: fc.option(fc.record({ topic: fc.nat(TOPICS.length - 1), qos, delay: fc.constantFrom(0, 2), retain: fc.boolean() }), { nil: undefined }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('disconnect' as const), c: client, normal: fc.boolean(), stale: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('subscribe' as const), c: client, f: fc.nat(FILTERS.length - 1), qos, nl: fc.boolean(), rap: fc.boolean(), rh: fc.constantFrom<0 | 1 | 2>(0, 1, 2), id: fc.constantFrom(0, 1, 7) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('unsubscribe' as const), c: client, f: fc.nat(FILTERS.length - 1) }) },
  { weight: 8, arbitrary: fc.record({ k: fc.constant('publish' as const), c: client, t: fc.nat(TOPICS.length - 1), qos, retain: fc.boolean(), empty: fc.boolean(), expiry: fc.constantFrom(0, 0, 1, 3), pid: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('release' as const), c: client, pid: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('ack' as const), c: client, pid: fc.integer({ min: 1, max: 6 }), kind: fc.constantFrom<'puback' | 'pubrec' | 'pubcomp'>('puback', 'pubrec', 'pubcomp'), rc: fc.constantFrom(0, 0, 0x80) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('tick' as const), dt: fc.constantFrom(100, 1000, 2500, 6000) }) },
  { weight: 1, arbitrary: fc.constant({ k: 'restart' as const }) },
);

/** Every client connects and subscribes first, so that most random steps have someone to talk to. */
const prelude: fc.Arbitrary<Step[]> = fc
  .tuple(
    fc.array(fc.record({ rm: fc.constantFrom(1, 2, 65535), expiry: fc.constantFrom(5, 3600) }), { minLength: CLIENTS.length, maxLength: CLIENTS.length }),
    fc.array(fc.record({ c: client, f: fc.nat(FILTERS.length - 1), qos, rap: fc.boolean(), id: fc.constantFrom(0, 1, 7) }), { minLength: 2, maxLength: 8 }),
  )
  .map(([conns, subs]) => [
    ...conns.map((o, c): Step => ({ k: 'connect', c, clean: true, expiry: o.expiry, rm: o.rm })),
    ...subs.map((x): Step => ({ k: 'subscribe', c: x.c, f: x.f, qos: x.qos, nl: false, rap: x.rap, rh: 0, id: x.id })),
  ]);
const scenario: fc.Arbitrary<Step[]> = fc
  .tuple(prelude, fc.array(step, { minLength: 10, maxLength: 80 }))
  .map(([a, b]) => [...a, ...b]);

const limits = fc.record({
  queueLength: fc.constantFrom(2, 5, 1000),
  queueStrategy: fc.constantFrom<PartitionLimits['queueStrategy']>('None', 'DropOldest'),
  sharedStrategy: fc.constantFrom<PartitionLimits['sharedStrategy']>('round-robin', 'least-inflight'),
});

/** Turns steps into commands. Connection ids and the clock are tracked here, identically for A and B. */
function toCommands(steps: Step[]): Command[] {
  let now = T0;
  let nextConn = 1;
  const conn = new Map<string, number>();
  const cmds: Command[] = [];
  for (const s of steps) {
    now += 10;
    switch (s.k) {
      case 'connect': {
        const clientId = CLIENTS[s.c]!;
        const connectionId = nextConn++;
        conn.set(clientId, connectionId);
        const will = s.will && {
          message: { topic: TOPICS[s.will.topic]!, payload: Buffer.from(`will-${clientId}`), qos: s.will.qos, retain: s.will.retain, origin: clientId },
          delaySeconds: s.will.delay,
        };
        cmds.push({ type: 'connect', now, clientId, connectionId, protocolVersion: 5, cleanStart: s.clean, sessionExpirySeconds: s.expiry, receiveMaximum: s.rm, ...(will ? { will } : {}) });
        break;
      }
      case 'disconnect': {
        const clientId = CLIENTS[s.c]!;
        const connectionId = conn.get(clientId) ?? 0;
        cmds.push({ type: 'disconnect', now, clientId, connectionId: s.stale ? connectionId + 1000 : connectionId, normal: s.normal });
        break;
      }
      case 'subscribe': {
        const clientId = CLIENTS[s.c]!;
        const filter = FILTERS[s.f]!;
        const shared = filter.startsWith('$share/');
        cmds.push({ type: 'subscribe', now, clientId, connectionId: conn.get(clientId) ?? 0,
          subs: [{ filter, qos: s.qos, noLocal: shared ? false : s.nl, retainAsPublished: s.rap, retainHandling: s.rh, subscriptionId: s.id }] });
        break;
      }
      case 'unsubscribe': {
        const clientId = CLIENTS[s.c]!;
        cmds.push({ type: 'unsubscribe', now, clientId, connectionId: conn.get(clientId) ?? 0, filters: [FILTERS[s.f]!] });
        break;
      }
      case 'publish': {
        const clientId = CLIENTS[s.c]!;
        const payload = s.retain && s.empty ? Buffer.alloc(0) : Buffer.from(`m${cmds.length}`);
        cmds.push({ type: 'publish', now, clientId,
          message: { topic: TOPICS[s.t]!, payload, qos: s.qos, retain: s.retain, origin: clientId, ...(s.expiry ? { expiresAt: now + s.expiry * 1000 } : {}) },
          ...(s.qos === 2 ? { packetId: s.pid } : {}) });
        break;
      }
      case 'release': {
        const clientId = CLIENTS[s.c]!;
        cmds.push({ type: 'release', now, clientId, connectionId: conn.get(clientId) ?? 0, packetId: s.pid });
        break;
      }
      case 'ack': {
        const clientId = CLIENTS[s.c]!;
        cmds.push({ type: 'ack', now, clientId, connectionId: conn.get(clientId) ?? 0, packetId: s.pid, kind: s.kind, reasonCode: s.rc });
        break;
      }
      case 'tick':
        now += s.dt;
        cmds.push({ type: 'tick', now });
        break;
      case 'restart':
        cmds.push({ type: 'restart', now, crashedAt: now - 5 });
        conn.clear();
        break;
    }
  }
  return cmds;
}

/** Everything a partition tells the outside world, as plain comparable data. */
function recorder() {
  const events: unknown[] = [];
  const out: PartitionOutput = {
    deliver: (id, d) =>
      events.push(['deliver', id, d.message.topic, d.message.payload.toString(), d.message.origin, d.qos, d.packetId, d.dup, d.retain, d.subscriptionIds ?? null]),
    release: (id, packetId) => events.push(['pubrel', id, packetId]),
    kick: (id, rc) => events.push(['kick', id, rc]),
  };
  return { events, out };
}

function run(p: Partition, cmds: Command[]): unknown[] {
  const { events, out } = recorder();
  for (const cmd of cmds) {
    const result = p.apply(cmd, out);
    events.push(['result', cmd.type, result === undefined ? null : JSON.parse(JSON.stringify(result))]);
  }
  return events;
}

const roundTrip = <T>(x: T): T => v8.deserialize(v8.serialize(x)) as T;

function snap(p: Partition): PartitionSnapshot {
  return roundTrip(snapshotPartition(p));
}

/** Per-connection view: what each client sees, in order, plus the command results in order. */
function perConnection(events: unknown[]): Record<string, unknown[]> {
  const by: Record<string, unknown[]> = {};
  for (const e of events as unknown[][]) {
    const key = e[0] === 'result' ? 'results' : String(e[1]);
    (by[key] ??= []).push(e);
  }
  return by;
}

const stats = { runs: 0, commands: 0, deliver: 0, pubrel: 0, kick: 0 };

/**
 * Outputs are compared per connection (and the command results in order). The interleaving of
 * deliveries to *different* connections within one command is not compared: it follows the trie's
 * insertion order, which restore rebuilds in session order; no client can observe it.
 */
function check(lim: PartitionLimits, steps: Step[], cutAt: number): void {
  const cmds = toCommands(steps);
  const cut = Math.min(cutAt, cmds.length);
  const a = new Partition(lim);
  run(a, cmds.slice(0, cut));
  const b = restorePartition(snap(a), lim);
  expect(snap(b)).toEqual(snap(a));
  const rest = cmds.slice(cut);
  const outA = run(a, rest);
  const outB = run(b, rest);
  stats.runs++;
  stats.commands += cmds.length;
  for (const e of outA as unknown[][]) if (e[0] !== 'result') stats[e[0] as 'deliver' | 'pubrel' | 'kick']++;
  expect(perConnection(outB)).toEqual(perConnection(outA));
  expect(snap(b)).toEqual(snap(a));
}

const NUM_RUNS = Number(process.env.SNAPSHOT_RUNS ?? 1500);

describe('snapshot/restore equivalence (model-based)', () => {
  it('a restored partition produces the same per-connection outputs and the same final snapshot as the original', () => {
    fc.assert(
      fc.property(limits, scenario, fc.nat(90), (lim, steps, cutAt) => check(lim, steps, cutAt)),
      { numRuns: NUM_RUNS, interruptAfterTimeLimit: 8000 },
    );
    console.log(`snapshot equivalence: ${JSON.stringify(stats)} (outputs counted after the cut)`);
  });
});

// ---- bugs the property above found (fixed in snapshot.ts; kept as regression tests) ----------------

const LIM: PartitionLimits = { queueLength: 100, queueStrategy: 'None', sharedStrategy: 'round-robin' };
const T = T0;
const sub = (now: number, clientId: string, connectionId: number, filter: string, q: QoS): Command => ({
  type: 'subscribe', now, clientId, connectionId, subs: [{ filter, qos: q, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0 }],
});
const conn = (now: number, clientId: string, connectionId: number, will?: string, receiveMaximum = 10): Command => ({
  type: 'connect', now, clientId, connectionId, protocolVersion: 5, cleanStart: true, sessionExpirySeconds: 3600, receiveMaximum,
  ...(will ? { will: { message: { topic: 'will/x', payload: Buffer.from(will), qos: 1 as QoS, retain: false, origin: clientId }, delaySeconds: 2 } } : {}),
});
function restoreRaw(a: Partition): Partition {
  return restorePartition(roundTrip(snapshotPartition(a)), LIM);
}
function deliveries(p: Partition, cmds: Command[]): string[] {
  const log: string[] = [];
  const out: PartitionOutput = { deliver: (id, d) => log.push(`${id}:${d.packetId}:${d.message.payload.toString()}`), release() {}, kick() {} };
  for (const c of cmds) p.apply(c, out);
  return log;
}

describe('snapshot/restore: known gaps', () => {
  it('fixed: delayed wills due in the same tick come out in another order (other packet ids) after restore: Partition.timed order is not kept', () => {
    const a = new Partition(LIM);
    deliveries(a, [
      conn(T, 'a', 1, 'will-a'),
      conn(T, 'b', 2, 'will-b'),
      conn(T, 'w', 3),
      sub(T, 'w', 3, 'will/#', 1),
      { type: 'disconnect', now: T + 10, clientId: 'b', connectionId: 2, normal: false },
      { type: 'disconnect', now: T + 20, clientId: 'a', connectionId: 1, normal: false },
    ]);
    const b = restoreRaw(a);
    const tick: Command[] = [{ type: 'tick', now: T + 5000 }];
    expect(deliveries(b, tick)).toEqual(deliveries(a, tick)); // a: 3:1:will-b, 3:2:will-a; b: 3:1:will-a, 3:2:will-b
  });

  it('fixed: an entry whose shared group was deleted is re-attached to a later group with the same name after restore', () => {
    const a = new Partition(LIM);
    deliveries(a, [
      conn(T, 's', 1, undefined, 1),
      conn(T, 'm', 2),
      sub(T, 's', 1, '$share/g/t/#', 1),
      { type: 'publish', now: T, clientId: 'p', message: { topic: 't/1', payload: Buffer.from('x'), qos: 1, retain: false, origin: 'p' } },
      { type: 'unsubscribe', now: T, clientId: 's', connectionId: 1, filters: ['$share/g/t/#'] }, // group g/t/# is deleted; s keeps 'x' in flight
      sub(T, 'm', 2, '$share/g/t/#', 1), // a new group with the same key
    ]);
    const b = restoreRaw(a);
    // s leaves: the original's entry points at the dead group (no redispatch), the restored one at the new group (redispatch to m).
    const leave: Command[] = [{ type: 'disconnect', now: T + 10, clientId: 's', connectionId: 1, normal: true }];
    expect(deliveries(b, leave)).toEqual(deliveries(a, leave));
  });

  it('fixed: the QoS 0 rotation of a shared group (ShareGroup.volatileCursor) is not in the snapshot', () => {
    const a = new Partition(LIM);
    const q0 = (n: number): Command => ({ type: 'publish', now: T + n, clientId: 'p', message: { topic: 't/1', payload: Buffer.from(`q${n}`), qos: 0, retain: false, origin: 'p' } });
    deliveries(a, [conn(T, 'm1', 1), conn(T, 'm2', 2), sub(T, 'm1', 1, '$share/g/t/#', 0), sub(T, 'm2', 2, '$share/g/t/#', 0), q0(1)]);
    const b = restoreRaw(a);
    expect(deliveries(b, [q0(2)])).toEqual(deliveries(a, [q0(2)])); // a: to m2 (rotation moved on); b: to m1
  });
});
