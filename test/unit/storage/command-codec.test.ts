/**
 * The log codec must be invisible: a partition fed the decoded log behaves exactly like the one
 * fed the original commands (model-based, random scenarios, random group-commit boundaries), and
 * the values a client chose (payload bytes, user property names, correlation data) come back exactly.
 */
import fc from 'fast-check';
import v8 from 'node:v8';
import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import type { AckKind } from '../../../src/core/broker-core.js';
import type { AckCommand, Command, PublishCommand } from '../../../src/partition/commands.js';
import { Partition } from '../../../src/partition/partition.js';
import { decodeCommands, encodeCommands } from '../../../src/storage/command-codec.js';
import { limits, perConnection, run, scenario, toCommands } from '../../helpers/partition-scenario.js';

/** Some publishes carry MQTT 5 properties, so they travel through the log too. */
function withProperties(cmds: Command[]): Command[] {
  return cmds.map((c, i) =>
    c.type === 'publish' && i % 3 === 0
      ? ({
          ...c,
          message: {
            ...c.message,
            properties: { contentType: 'application/json', correlationData: Buffer.from([0, 255, i & 0xff]), userProperties: { k: 'v', multi: ['1', '2'] } },
          },
        } satisfies PublishCommand)
      : c,
  );
}

function throughLog(cmds: Command[], cuts: number[]): Command[] {
  const at = [...new Set(cuts.map((x) => x % (cmds.length + 1)))].sort((a, b) => a - b);
  const out: Command[] = [];
  let from = 0;
  for (const to of [...at, cmds.length]) {
    if (to > from) out.push(...decodeCommands(encodeCommands(cmds.slice(from, to))));
    from = to;
  }
  return out;
}

describe('command log codec', () => {
  it('a partition replaying the decoded log produces the same per-connection outputs as one fed the commands', () => {
    fc.assert(
      fc.property(limits, scenario, fc.array(fc.nat(), { maxLength: 6 }), (lim, steps, cuts) => {
        const cmds = withProperties(toCommands(steps));
        const replayed = throughLog(cmds, cuts);
        expect(replayed).toHaveLength(cmds.length);
        expect(perConnection(run(new Partition(lim), replayed))).toEqual(perConnection(run(new Partition(lim), cmds)));
      }),
      { numRuns: 300, interruptAfterTimeLimit: 8000 },
    );
  });

  it("a cluster's publish fields (idempotency key, share groups, groupsOnly, direct marks) come back exactly, in the hand layout", () => {
    const message = { topic: 'a/b', payload: Buffer.from('x'), qos: 1 as const, retain: false, origin: 'pub' };
    const cmds: PublishCommand[] = [
      { type: 'publish', now: 1, clientId: 'pub', message, key: 'frontend-0/17/1' },
      { type: 'publish', now: 2, clientId: 'pub', message, key: 'frontend-0/17/2', groups: ['g/a/#', 'h/a/+'] },
      { type: 'publish', now: 3, clientId: '', message: { ...message, qos: 0, origin: 'w' }, groups: ['g/a/#'], groupsOnly: true },
      { type: 'publish', now: 4, clientId: 'pub', message: { ...message, qos: 2 }, packetId: 9, key: 'ключ/é', groups: [] },
      // QoS 0 a front end wrote to its own subscribers (direct-qos0.ts), all of them or those below an id.
      { type: 'publish', now: 5, clientId: 'pub', message: { ...message, qos: 0 }, direct: 1_048_575 },
      { type: 'publish', now: 6, clientId: 'pub', message: { ...message, qos: 0, retain: true }, direct: 7, directBelow: 7 * 2 ** 32 + 4_294_967_295, groups: ['g/a/#'] },
    ];
    const record = encodeCommands(cmds);
    expect(record.includes(Buffer.from('groupsOnly'))).toBe(false); // not the generic MessagePack form
    expect(decodeCommands(record)).toEqual(cmds);
  });

  it('payload bytes come back exactly, as Buffers of their own (not views into the log record)', () => {
    const payload = Buffer.from(Array.from({ length: 300 }, (_, i) => i & 0xff));
    const cmd: PublishCommand = { type: 'publish', now: 1_764_000_000_123, clientId: 'c', message: { topic: 't', payload, qos: 1, retain: false, origin: 'c' } };
    const record = encodeCommands([cmd]);
    const [back] = decodeCommands(record) as PublishCommand[];
    expect(Buffer.isBuffer(back.message.payload)).toBe(true);
    expect(back.message.payload.equals(payload)).toBe(true);
    record.fill(0); // the log record's memory is reused or freed after recovery
    expect(back.message.payload.equals(payload)).toBe(true);
    expect(back.now).toBe(cmd.now);
  });

  it('a user property named __proto__ survives the log unchanged', () => {
    const userProperties = Object.create(null) as Record<string, string>;
    userProperties['__proto__'] = 'x';
    userProperties.other = 'y';
    const cmd: PublishCommand = {
      type: 'publish',
      now: 1,
      clientId: 'c',
      message: { topic: 't', payload: Buffer.from('p'), qos: 1, retain: false, origin: 'c', properties: { userProperties } },
    };
    const [back] = decodeCommands(encodeCommands([cmd])) as PublishCommand[];
    const got = back.message.properties!.userProperties!;
    expect(Object.keys(got).sort()).toEqual(['__proto__', 'other']);
    expect(Object.getOwnPropertyDescriptor(got, '__proto__')?.value).toBe('x');
  });

  it('reads records written by earlier versions (v8-serialized)', () => {
    const cmds: Command[] = [{ type: 'tick', now: 5 }, { type: 'restart', now: 6, crashedAt: 4 }];
    expect(decodeCommands(v8.serialize(cmds))).toEqual(cmds);
  });

  it('reads framed records of the previous layout (0x01: every string written out, origin always present)', () => {
    const str = (v: string) => Buffer.concat([Buffer.from([Buffer.byteLength(v), 0]), Buffer.from(v)]);
    const f64 = (v: number) => {
      const b = Buffer.alloc(8);
      b.writeDoubleLE(v);
      return b;
    };
    const record = Buffer.concat([
      Buffer.from([0x01]),
      Buffer.from([0x01]), f64(10), Buffer.from([1 | (1 << 3), 7, 0]), str('pub'), str('a/b'), str('pub'), Buffer.from([2, 0, 0, 0]), Buffer.from('hi'),
      Buffer.from([0x02]), f64(11), f64(3), Buffer.from([7, 0, 0, 0x10]), str('sub'),
    ]);
    expect(decodeCommands(record)).toEqual([
      { type: 'publish', now: 10, clientId: 'pub', packetId: 7, message: { topic: 'a/b', payload: Buffer.from('hi'), qos: 1, retain: false, origin: 'pub' } },
      { type: 'ack', now: 11, clientId: 'sub', connectionId: 3, packetId: 7, kind: 'puback', reasonCode: 0x10 },
    ]);
  });

  it('a record refers to each distinct string once, and a reference to a string it never wrote is an error', () => {
    const cmds: Command[] = Array.from({ length: 50 }, (_, i) => ({ type: 'ack' as const, now: i, clientId: 'the-one-subscriber', connectionId: 1, packetId: i + 1, kind: 'puback' as const, reasonCode: 0 }));
    const record = encodeCommands(cmds);
    expect(record.toString('latin1').split('the-one-subscriber').length - 1).toBe(1);
    expect(decodeCommands(record)).toEqual(cmds);
    const forged = Buffer.concat([Buffer.from([0x02, 0x02]), Buffer.alloc(8), Buffer.alloc(8), Buffer.from([1, 0, 0, 0]), Buffer.from([0x01, 5, 0])]);
    expect(() => decodeCommands(forged)).toThrow(/reference to a string not yet in the record/);
  });

  it('strings are referred to across records of every size: one encode leaves nothing behind for the next', () => {
    // Past 16 distinct strings the encoder's table changes form; repeats on both sides of that point.
    const publish = (i: number, client: string): PublishCommand => ({
      type: 'publish',
      now: i,
      clientId: client,
      message: { topic: `t/${i % 23}`, payload: Buffer.from([i & 0xff]), qos: 1, retain: false, origin: client },
      packetId: (i % 60000) + 1,
    });
    for (const n of [1, 2, 9, 17, 40, 400]) {
      const cmds = Array.from({ length: n }, (_, i) => publish(i, `client-${i % 13}`));
      const record = encodeCommands(cmds);
      expect(decodeCommands(record)).toEqual(cmds);
      if (n >= 40) expect(record.toString('latin1').split('client-12').length - 1).toBe(1);
      expect(decodeCommands(encodeCommands([publish(0, 'client-0')]))).toEqual([publish(0, 'client-0')]);
    }
  });

  it("a connection's consecutive acks travel as one run, and come back exactly and in order among other commands", () => {
    const ack = (clientId: string, connectionId: number, packetId: number, kind: AckKind = 'puback', now = 0): AckCommand => ({ type: 'ack', now, clientId, connectionId, packetId, kind, reasonCode: packetId % 3 === 0 ? 0x10 : 0 });
    const message = { topic: 'a/b', payload: Buffer.from('x'), qos: 1 as const, retain: false, origin: 'pub' };
    const cmds: Command[] = [
      ...Array.from({ length: 200 }, (_, i) => ack('sub-a', 7, i + 1)),
      ack('sub-a', 8, 1), // another connection of the same client: a new run
      ack('sub-a', 8, 2, 'pubrec'), // another kind
      ack('sub-a', 8, 3, 'pubrec', 5), // another time
      { type: 'publish', now: 0, clientId: 'pub', message },
      ack('sub-b', 9, 65535),
      ack('sub-b', 9, 1),
    ];
    const record = encodeCommands(cmds);
    expect(decodeCommands(record)).toEqual(cmds);
    // 200 acks in 3 bytes each plus one head, not 24 bytes each.
    expect(record.length).toBeLessThan(200 * 3 + 400);
    // Each ack's `now` is where the receiver stamps it (the run's one time field for all of its acks).
    const nowAt: number[] = [];
    decodeCommands(record, nowAt);
    expect(nowAt).toHaveLength(cmds.length);
    expect(new Set(nowAt.slice(0, 200)).size).toBe(1);
    const stamped = Buffer.from(record);
    for (const at of nowAt) stamped.writeDoubleLE(42, at);
    expect(decodeCommands(stamped).every((c) => c.now === 42)).toBe(true);
  });

  it('a run of 70,000 acks is cut into runs its count can hold', () => {
    const cmds: Command[] = Array.from({ length: 70_000 }, (_, i) => ({ type: 'ack' as const, now: 0, clientId: 's', connectionId: 1, packetId: (i % 65535) + 1, kind: 'puback' as const, reasonCode: 0 }));
    expect(decodeCommands(encodeCommands(cmds))).toEqual(cmds);
  });

  it('an ack run that is empty, cut short or of an unknown kind is an error', () => {
    const run = encodeCommands([
      { type: 'ack', now: 0, clientId: 's', connectionId: 1, packetId: 1, kind: 'puback', reasonCode: 0 },
      { type: 'ack', now: 0, clientId: 's', connectionId: 1, packetId: 2, kind: 'puback', reasonCode: 0 },
    ]);
    expect(run[1]).toBe(0x05);
    for (let cut = 2; cut < run.length; cut++) expect(() => decodeCommands(run.subarray(0, cut)), `cut at ${cut}`).toThrow(/truncated/);
    const kindAt = 1 + 1 + 8 + 8;
    const badKind = Buffer.from(run);
    badKind[kindAt] = 9;
    expect(() => decodeCommands(badKind)).toThrow(/unknown kind/);
    const empty = Buffer.from(run.subarray(0, run.length - 6));
    empty.writeUInt16LE(0, empty.length - 2);
    expect(() => decodeCommands(empty)).toThrow(/empty ack run/);
  });

  it('a record that is not a command frame, or is cut short, is an error naming what is wrong', () => {
    expect(() => decodeCommands(pack({ type: 'tick', now: 1 }))).toThrow(/not a command frame/);
    const publish: PublishCommand = { type: 'publish', now: 1, clientId: 'c', message: { topic: 't', payload: Buffer.alloc(10), qos: 1, retain: false, origin: 'c' } };
    const record = encodeCommands([publish, { type: 'tick', now: 2 }]);
    for (const cut of [2, 12, record.length - 1]) expect(() => decodeCommands(record.subarray(0, cut)), `cut at ${cut}`).toThrow(/truncated|not a command/);
  });

  it('hot commands keep every field, including the optional ones', () => {
    const cmds: Command[] = [
      { type: 'publish', now: 1.5, clientId: 'pub/é', packetId: 7, message: { topic: 'a/€', payload: Buffer.from('x'), qos: 2, retain: true, origin: 'pub/é', expiresAt: 99, expiryHidden: true } },
      { type: 'ack', now: 2, clientId: 'sub😀', connectionId: 2 ** 40, packetId: 65535, kind: 'pubcomp', reasonCode: 0x92 },
    ];
    expect(decodeCommands(encodeCommands(cmds))).toEqual(cmds);
  });
});
