/**
 * A front end joins a connection's acknowledgements in a row into one AcksCommand (node-link.ts).
 * That must be invisible: a partition fed the joined commands, straight or through the log
 * encoding a COMMANDS frame uses, tells every client exactly what it tells them when fed the acks
 * one by one; and the frame decodes into as many commands as it was given request ids.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AckCommand, Command } from '../../../src/partition/commands.js';
import { Partition } from '../../../src/partition/partition.js';
import { joinAck, type PartitionBatch } from '../../../src/cluster/client/node-link.js';
import { decodeCommands, encodeCommands } from '../../../src/storage/command-codec.js';
import { decodeCommandsBody, encodeCommandsFrame } from '../../../src/cluster/transport/protocol.js';
import { HEADER_BYTES } from '../../../src/cluster/transport/frame.js';
import { limits, perConnection, run, scenario, toCommands } from '../../helpers/partition-scenario.js';

/**
 * Every ack of the scenario becomes a burst of `1 + extra` acks of consecutive packet ids, and the
 * acks in a row of one connection and kind share the first one's time, as acks read from one
 * socket chunk do. Applied one by one, this is the reference.
 */
function bursts(cmds: Command[], extra: number[]): Command[] {
  const out: Command[] = [];
  let k = 0;
  for (const c of cmds) {
    if (c.type !== 'ack') {
      out.push(c);
      continue;
    }
    const n = 1 + (extra[k++ % Math.max(extra.length, 1)] ?? 0);
    const prev = out[out.length - 1];
    const now = prev?.type === 'ack' && prev.connectionId === c.connectionId && prev.clientId === c.clientId && prev.kind === c.kind ? prev.now : c.now;
    for (let i = 0; i < n; i++) out.push({ ...c, now, packetId: ((c.packetId - 1 + i) % 6) + 1 });
  }
  return out;
}

/** As NodeLink.enqueue queues them: acks nobody waits for join the ack queued right before them. */
function joined(cmds: Command[]): PartitionBatch {
  const b: PartitionBatch = { ids: [], commands: [], pending: [] };
  for (const c of cmds) {
    if (c.type === 'ack' && joinAck(b, c)) continue;
    b.ids.push(0);
    b.commands.push(c);
    b.pending.push(undefined);
  }
  return b;
}

const ack = (packetId: number, over: Partial<AckCommand> = {}): AckCommand => ({ type: 'ack', now: 0, clientId: 's', connectionId: 1, packetId, kind: 'puback', reasonCode: 0, ...over });

describe("joining a connection's acks into one command", () => {
  it('a partition fed the joined commands, straight or through a COMMANDS frame, tells every client what it tells them fed one ack at a time', () => {
    let joinedSome = 0;
    fc.assert(
      fc.property(limits, scenario, fc.array(fc.nat(4), { maxLength: 8 }), (lim, steps, extra) => {
        const reference = bursts(toCommands(steps), extra);
        const b = joined(reference);
        if (b.commands.some((c) => c.type === 'acks')) joinedSome++;
        const expected = perConnection(run(new Partition(lim), reference));
        const withoutResults = (x: Record<string, unknown[]>) => ({ ...x, results: undefined });
        // The results differ in count only (one per command); what each connection sees may not.
        expect(withoutResults(perConnection(run(new Partition(lim), b.commands)))).toEqual(withoutResults(expected));
        const body = encodeCommandsFrame(7, b.ids, b.commands).subarray(HEADER_BYTES);
        const decoded = decodeCommandsBody(body);
        expect(decoded.commands).toEqual(b.commands);
        expect(withoutResults(perConnection(run(new Partition(lim), decoded.commands)))).toEqual(withoutResults(expected));
      }),
      { numRuns: 300, interruptAfterTimeLimit: 8000 },
    );
    expect(joinedSome).toBeGreaterThan(20);
  });

  it('joins only acks nobody waits for, of one connection, client, kind and time, in a row', () => {
    const b = joined([ack(1), ack(2, { reasonCode: 0x10 }), ack(3), ack(4, { connectionId: 2 }), ack(5, { kind: 'pubrec' }), ack(6, { now: 9 }), ack(7, { clientId: 't' }), ack(8, { clientId: 't' })]);
    expect(b.commands).toEqual([
      { type: 'acks', now: 0, clientId: 's', connectionId: 1, kind: 'puback', packetIds: [1, 2, 3], reasonCodes: [0, 0x10, 0] },
      ack(4, { connectionId: 2 }),
      ack(5, { kind: 'pubrec' }),
      ack(6, { now: 9 }),
      { type: 'acks', now: 0, clientId: 't', connectionId: 1, kind: 'puback', packetIds: [7, 8], reasonCodes: [0, 0] },
    ]);
    // Behind a command somebody waits for, an ack starts a command of its own.
    const waited: PartitionBatch = { ids: [5], commands: [ack(1)], pending: [{ h: { reply() {} }, ctx: undefined, tag: 0, partition: 0, since: 0, cmd: undefined, deadline: 0 }] };
    expect(joinAck(waited, ack(2))).toBe(false);
  });

  it('an AcksCommand is one entry of the log with one time to stamp; past 65,535 acks a new one starts', () => {
    const b = joined(Array.from({ length: 70_000 }, (_, i) => ack((i % 65535) + 1)));
    expect(b.commands.map((c) => (c.type === 'acks' ? c.packetIds.length : 1))).toEqual([65_535, 4465]);
    const nowAt: number[] = [];
    const record = encodeCommands(b.commands);
    expect(decodeCommands(record, nowAt)).toEqual(b.commands);
    expect(nowAt).toHaveLength(2);
    expect(record.length).toBeLessThan(70_000 * 3 + 100);
    const stamped = Buffer.from(record);
    for (const at of nowAt) stamped.writeDoubleLE(42, at);
    expect(decodeCommands(stamped).map((c) => c.now)).toEqual([42, 42]);
  });

  it('an acks entry that is empty, cut short or of an unknown kind is an error', () => {
    const record = encodeCommands([{ type: 'acks', now: 0, clientId: 's', connectionId: 1, kind: 'puback', packetIds: [1, 2], reasonCodes: [0, 0] }]);
    expect(record[1]).toBe(0x06);
    for (let cut = 2; cut < record.length; cut++) expect(() => decodeCommands(record.subarray(0, cut)), `cut at ${cut}`).toThrow(/truncated/);
    const badKind = Buffer.from(record);
    badKind[1 + 1 + 8 + 8] = 9;
    expect(() => decodeCommands(badKind)).toThrow(/unknown kind/);
    const empty = Buffer.from(record.subarray(0, record.length - 6));
    empty.writeUInt16LE(0, empty.length - 2);
    expect(() => decodeCommands(empty)).toThrow(/empty acks entry/);
  });
});
