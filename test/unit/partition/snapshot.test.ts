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
import { T0, limits, perConnection, run, scenario, toCommands, type Step } from '../../helpers/partition-scenario.js';

const roundTrip = <T>(x: T): T => v8.deserialize(v8.serialize(x)) as T;

function snap(p: Partition): PartitionSnapshot {
  return roundTrip(snapshotPartition(p));
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
