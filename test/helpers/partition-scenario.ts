/**
 * Random partition scenarios shared by the model-based tests (snapshot/restore, log codec): steps
 * become commands with consistent connection ids and clock, and a recorder turns everything a
 * partition tells the outside world into comparable data.
 */
import fc from 'fast-check';
import type { Command } from '../../src/partition/commands.js';
import type { PartitionOutput } from '../../src/partition/output.js';
import type { Partition, PartitionLimits } from '../../src/partition/partition.js';
import type { QoS } from '../../src/core/types.js';

export const CLIENTS = ['a', 'b', 'c', 'd'] as const;
export const TOPICS = ['t/1', 't/2', 'u/1', 'will/x'] as const;
export const FILTERS = ['t/1', 't/+', '#', 'u/#', 'will/#', '$share/g/t/#', '$share/g/#', '$share/h/u/1'] as const;
export const T0 = 1_700_000_000_000;

/** One step of the scenario; connection ids and times are filled in by the harness. */
export type Step =
  | { k: 'connect'; c: number; clean: boolean; expiry: number; rm: number; will?: { topic: number; qos: QoS; delay: number; retain: boolean } }
  | { k: 'disconnect'; c: number; normal: boolean; stale: boolean }
  | { k: 'subscribe'; c: number; f: number; qos: QoS; nl: boolean; rap: boolean; rh: 0 | 1 | 2; id: number }
  | { k: 'unsubscribe'; c: number; f: number }
  | { k: 'publish'; c: number; t: number; qos: QoS; retain: boolean; empty: boolean; expiry: number; pid: number }
  | { k: 'release'; c: number; pid: number }
  | { k: 'ack'; c: number; pid: number; kind: 'puback' | 'pubrec' | 'pubcomp'; rc: number }
  | { k: 'flow'; c: number; stalled: boolean }
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
  { weight: 2, arbitrary: fc.record({ k: fc.constant('flow' as const), c: client, stalled: fc.boolean() }) },
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
export const scenario: fc.Arbitrary<Step[]> = fc
  .tuple(prelude, fc.array(step, { minLength: 10, maxLength: 80 }))
  .map(([a, b]) => [...a, ...b]);

export const limits = fc.record({
  queueLength: fc.constantFrom(2, 5, 1000),
  queueStrategy: fc.constantFrom<PartitionLimits['queueStrategy']>('None', 'DropOldest'),
  sharedStrategy: fc.constantFrom<PartitionLimits['sharedStrategy']>('round-robin', 'least-inflight'),
});

/** Turns steps into commands. Connection ids and the clock are tracked here, identically for A and B. */
export function toCommands(steps: Step[]): Command[] {
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
      case 'flow': {
        const clientId = CLIENTS[s.c]!;
        cmds.push({ type: 'flow', now, clientId, connectionId: conn.get(clientId) ?? 0, stalled: s.stalled });
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
      events.push(['deliver', id, d.message.topic, d.message.payload.toString(), d.message.origin, d.qos, d.packetId, d.dup, d.retain, d.subscriptionIds ?? null, d.backlog ?? null]),
    release: (id, packetId, rc) => events.push(['pubrel', id, packetId, rc ?? 0]),
    kick: (id, rc) => events.push(['kick', id, rc]),
  };
  return { events, out };
}

export function run(p: Partition, cmds: Command[]): unknown[] {
  const { events, out } = recorder();
  for (const cmd of cmds) {
    const result = p.apply(cmd, out);
    events.push(['result', cmd.type, result === undefined ? null : JSON.parse(JSON.stringify(result))]);
  }
  return events;
}

/** Per-connection view: what each client sees, in order, plus the command results in order. */
export function perConnection(events: unknown[]): Record<string, unknown[]> {
  const by: Record<string, unknown[]> = {};
  for (const e of events as unknown[][]) {
    const key = e[0] === 'result' ? 'results' : String(e[1]);
    (by[key] ??= []).push(e);
  }
  return by;
}
