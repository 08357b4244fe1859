/**
 * Chain replication without processes: the coordinator's chain placement (head lost, tail lost,
 * middle lost, restarted process, every replica gone) and the ChainExecutor's commit rule (the
 * head replies and delivers only what every replica stored; a replica acknowledges only what it
 * and its successors stored; a joiner in state transfer does not hold commits; re-sends skip
 * duplicates and refuse gaps).
 */
import { describe, expect, it } from 'vitest';
import type { ClusterNode } from '../../../src/cluster/map.js';
import { MemoryExecutor, type DurableWaiter } from '../../../src/core/local-core.js';
import type { Command } from '../../../src/partition/commands.js';
import type { PartitionOutput } from '../../../src/partition/output.js';
import { Partition } from '../../../src/partition/partition.js';
import { ChainExecutor } from '../../../src/replication/chain-executor.js';
import { initialChains, replanChains } from '../../../src/replication/placement.js';
import { decodeAppend, encodeAck, encodeAppend } from '../../../src/replication/chain-protocol.js';
import { HEADER_BYTES } from '../../../src/cluster/transport/frame.js';
import { packr } from '../../../src/cluster/transport/protocol.js';
import { encodeCommands } from '../../../src/storage/command-codec.js';

const be = (id: string, pid = 1): ClusterNode => ({ id, role: 'backend', host: '127.0.0.1', internalPort: 1, pid });
const nodes = (...n: ClusterNode[]) => Object.fromEntries(n.map((x) => [x.id, x]));

describe('chain placement', () => {
  const all = nodes(be('b0'), be('b1'), be('b2'));
  const chains = initialChains(3, ['b2', 'b0', 'b1'], 3);

  it('spreads heads and never puts two replicas of a chain in one process', () => {
    expect(chains.map((p) => p.chain)).toEqual([
      ['b0', 'b1', 'b2'],
      ['b1', 'b2', 'b0'],
      ['b2', 'b0', 'b1'],
    ]);
    expect(initialChains(2, ['b0'], 2).map((p) => p.chain)).toEqual([['b0'], ['b0']]);
  });

  it('head lost: successor heads; middle lost: predecessor links to the next; tail lost: predecessor tails', () => {
    const without = nodes(be('b1'), be('b2'));
    expect(replanChains(chains, all, without, 3).map((p) => p.chain)).toEqual([
      ['b1', 'b2'],
      ['b1', 'b2'],
      ['b2', 'b1'],
    ]);
  });

  it('a process back under its id (or restarted with another pid) rejoins at the tail', () => {
    const two = replanChains(chains, all, nodes(be('b1'), be('b2')), 3);
    expect(replanChains(two, nodes(be('b1'), be('b2')), all, 3).map((p) => p.chain)).toEqual([
      ['b1', 'b2', 'b0'],
      ['b1', 'b2', 'b0'],
      ['b2', 'b1', 'b0'],
    ]);
    // Restarted before its lease expired: same id, another pid. It leaves its place and rejoins at the tail.
    const restarted = nodes(be('b0', 2), be('b1'), be('b2'));
    expect(replanChains(chains, all, restarted, 3).map((p) => p.chain)).toEqual([
      ['b1', 'b2', 'b0'],
      ['b1', 'b2', 'b0'],
      ['b2', 'b1', 'b0'],
    ]);
  });

  it('keeps the last replica when all are gone, and adds nobody until it is back', () => {
    const one = [{ id: 0, chain: ['b0'] }];
    expect(replanChains(one, nodes(be('b0')), nodes(be('b1')), 2)).toEqual([{ id: 0, chain: ['b0'] }]);
    expect(replanChains(one, nodes(be('b1')), nodes(be('b0'), be('b1')), 2, 7)).toEqual([{ id: 0, chain: ['b0', 'b1'], joining: { b1: 7 } }]);
  });

  // Issue 15's known limit: a tail restarted and still in transfer when the head's lease expired was named the chain alone.
  it('marks a newcomer joining until its process reports the transfer installed under that epoch', () => {
    const joined = replanChains([{ id: 0, chain: ['b0'] }], nodes(be('b0')), nodes(be('b0'), be('b1')), 2, 5);
    expect(joined).toEqual([{ id: 0, chain: ['b0', 'b1'], joining: { b1: 5 } }]);
    // A report from an earlier stay in the chain (epoch 4) does not count.
    const stale = nodes(be('b0'), { ...be('b1'), installed: { '0': 4 } });
    expect(replanChains(joined, nodes(be('b0'), be('b1')), stale, 2, 6)).toEqual(joined);
    const done = nodes(be('b0'), { ...be('b1'), installed: { '0': 5 } });
    const after = replanChains(joined, nodes(be('b0'), be('b1')), done, 2, 6);
    expect(after).toEqual([{ id: 0, chain: ['b0', 'b1'] }]);
    // Now b1 holds the state: b0's loss makes it head as before.
    expect(replanChains(after, done, nodes({ ...be('b1'), installed: { '0': 5 } }), 2, 7)).toEqual([{ id: 0, chain: ['b1'] }]);
  });

  it('never heads a chain with a replica in transfer, nor drops its last replica holding the state', () => {
    const joined = [{ id: 0, chain: ['b0', 'b1'], joining: { b1: 5 } }];
    // The head's lease expires while b1 is in transfer: b0 keeps its place, the chain waits for it.
    const headGone = replanChains(joined, nodes(be('b0'), be('b1')), nodes(be('b1'), be('b2')), 2, 6);
    expect(headGone).toEqual(joined);
    // It comes back (a restart under another pid, or the same process): it heads again.
    expect(replanChains(headGone, nodes(be('b1'), be('b2')), nodes(be('b0', 9), be('b1'), be('b2')), 2, 7)).toEqual(joined);
    // A restart that beat the lease (same id, another pid) keeps its place too: it recovers its own log there.
    expect(replanChains(joined, nodes(be('b0'), be('b1')), nodes(be('b0', 9), be('b1')), 2, 6)).toEqual(joined);
    // With R = 3, a replica holding the state goes ahead of one in transfer.
    const three = [{ id: 0, chain: ['b0', 'b1', 'b2'], joining: { b1: 5 } }];
    expect(replanChains(three, nodes(be('b0'), be('b1'), be('b2')), nodes(be('b1'), be('b2')), 3, 6)).toEqual([{ id: 0, chain: ['b2', 'b1'], joining: { b1: 5 } }]);
    // The joiner itself gone: the head stays alone.
    expect(replanChains(joined, nodes(be('b0'), be('b1')), nodes(be('b0')), 2, 6)).toEqual([{ id: 0, chain: ['b0'] }]);
  });
});

/** A chain of executors wired in memory: forward and ack are delivered when `pump` runs (like the links' per-turn frames). */
function wire(n: number) {
  const queue: Array<() => void> = [];
  const execs: ChainExecutor[] = [];
  for (let i = 0; i < n; i++) {
    const partition = new Partition({ queueLength: 100, queueStrategy: 'dropOldest', sharedStrategy: 'roundRobin', cluster: true } as never);
    const x: ChainExecutor = new ChainExecutor(
      new MemoryExecutor(partition),
      {
        forward: (seq, cmd) => queue.push(() => execs[i + 1]?.replicate(seq, cmd, silent)),
        ack: (seq) => queue.push(() => execs[i - 1]?.successorAcked(seq)),
      },
      () => {},
    );
    x.head = i === 0;
    x.setSuccessor(i < n - 1);
    execs.push(x);
  }
  const pump = () => {
    while (queue.length > 0) queue.shift()!();
  };
  return { execs, pump, queue };
}

const silent: PartitionOutput = { deliver() {}, release() {}, kick() {} };

describe('ChainExecutor', () => {
  const connect = (clientId: string, connectionId: number): Command => ({ type: 'connect', now: 1, clientId, connectionId, protocolVersion: 5, cleanStart: true, sessionExpirySeconds: 0, receiveMaximum: 10 }) as Command;

  it('the head replies only after the tail acknowledged; every replica applied the command', () => {
    const { execs, pump } = wire(3);
    const replies: number[] = [];
    const waiter: DurableWaiter = { durable: (_c, tag) => replies.push(tag) };
    execs[0]!.executeThen(connect('a', 1), silent, waiter, undefined, 7);
    expect(replies).toEqual([]);
    pump();
    expect(replies).toEqual([7]);
    for (const x of execs) expect(x.seq).toBe(1);
    expect(execs.map((x) => x.committed)).toEqual([1, 1, 1]);
  });

  it('holds deliveries until committed', () => {
    const { execs, pump } = wire(2);
    const delivered: number[] = [];
    const out: PartitionOutput = { deliver: (c) => delivered.push(c), release() {}, kick() {} };
    const noop: DurableWaiter = { durable() {} };
    execs[0]!.executeThen(connect('s', 9), out, noop, undefined, 1);
    pump();
    execs[0]!.executeThen({ type: 'subscribe', now: 1, clientId: 's', connectionId: 9, subs: [{ filter: 't', qos: 1 }] } as never, out, noop, undefined, 2);
    pump();
    execs[0]!.executeThen({ type: 'publish', now: 1, clientId: 'p', message: { topic: 't', payload: Buffer.from('x'), qos: 1, retain: false } } as never, out, noop, undefined, 3);
    expect(delivered).toEqual([]);
    pump();
    expect(delivered).toEqual([9]);
  });

  it('routes a QoS 0 publish (not retained) at once and never replicates it; a retained one is held and replicated', () => {
    const { execs, pump, queue } = wire(2);
    const delivered: number[] = [];
    const out: PartitionOutput = { deliver: (c) => delivered.push(c), release() {}, kick() {} };
    const noop: DurableWaiter = { durable() {} };
    execs[0]!.executeThen(connect('s', 9), out, noop, undefined, 1);
    pump();
    execs[0]!.executeThen({ type: 'subscribe', now: 1, clientId: 's', connectionId: 9, subs: [{ filter: 't', qos: 1 }] } as never, out, noop, undefined, 2);
    pump();
    const replies: number[] = [];
    const waiter: DurableWaiter = { durable: (_c, tag) => replies.push(tag) };
    const seq = execs[0]!.seq;
    execs[0]!.executeThen({ type: 'publish', now: 1, clientId: 'p', message: { topic: 't', payload: Buffer.from('x'), qos: 0, retain: false, origin: 'p' } } as never, out, waiter, undefined, 3);
    expect(delivered).toEqual([9]);
    expect(replies).toEqual([3]);
    expect(queue).toHaveLength(0);
    expect(execs[0]!.seq).toBe(seq);
    execs[0]!.executeThen({ type: 'publish', now: 1, clientId: 'p', message: { topic: 't', payload: Buffer.from('y'), qos: 0, retain: true, origin: 'p' } } as never, out, waiter, undefined, 4);
    expect(delivered).toEqual([9]);
    pump();
    expect(delivered).toEqual([9, 9]);
    expect(replies).toEqual([3, 4]);
    expect(execs[1]!.seq).toBe(seq + 1);
  });

  it('a middle replica that has not heard from its successor does not acknowledge', () => {
    const { execs, queue } = wire(3);
    const replies: number[] = [];
    execs[0]!.executeThen(connect('a', 1), silent, { durable: (_c, tag) => replies.push(tag) }, undefined, 1);
    queue.shift()!(); // head -> middle
    // The middle applied and stored it, but the tail has not: its ack must not be queued yet.
    expect(execs[1]!.seq).toBe(1);
    expect(execs[1]!.acknowledged).toBe(0);
    expect(replies).toEqual([]);
  });

  it('without a successor (tail lost) the predecessor commits on its own; a syncing successor does not hold commits', () => {
    const { execs, pump, queue } = wire(2);
    const replies: number[] = [];
    const waiter: DurableWaiter = { durable: (_c, tag) => replies.push(tag) };
    execs[0]!.executeThen(connect('a', 1), silent, waiter, undefined, 1);
    queue.length = 0; // the tail died with the frame in flight
    expect(replies).toEqual([]);
    execs[0]!.setSuccessor(false);
    expect(replies).toEqual([1]);
    execs[0]!.setSuccessor(true);
    execs[0]!.executeThen(connect('b', 2), silent, waiter, undefined, 2);
    expect(replies).toEqual([1]);
    execs[0]!.successorSyncing();
    expect(replies).toEqual([1, 2]);
    // The successor that missed command 1 cannot take 2: it needs the state transfer it is in.
    expect(pump).toThrow(/chain gap: command 2 follows 0/);
  });

  it('re-sent commands are skipped, a gap is refused', () => {
    const { execs } = wire(2);
    const tail = execs[1]!;
    tail.replicate(1, connect('a', 1), silent);
    tail.replicate(1, connect('a', 1), silent);
    expect(tail.seq).toBe(1);
    expect(() => tail.replicate(3, connect('b', 2), silent)).toThrow(/chain gap/);
  });

  it('commits thousands of commands acknowledged in pieces, in order, and keeps exactly the unacknowledged ones', () => {
    const { execs, queue } = wire(2);
    const head = execs[0]!;
    const replies: number[] = [];
    const waiter: DurableWaiter = { durable: (_c, tag) => replies.push(tag) };
    for (let i = 1; i <= 3000; i++) head.executeThen(connect(`c${i}`, i), silent, waiter, undefined, i);
    queue.length = 0; // frames to the successor are not needed here: its acknowledgements are given by hand
    head.successorAcked(1000);
    head.successorAcked(2500);
    expect(replies).toHaveLength(2500);
    expect(replies.every((tag, i) => tag === i + 1)).toBe(true);
    expect(head.unacknowledgedAfter(100)).toBeUndefined(); // dropped: the successor would need the state
    expect(head.unacknowledgedAfter(2500)?.map((c) => (c as { clientId: string }).clientId)).toEqual(Array.from({ length: 500 }, (_, i) => `c${2501 + i}`));
    head.executeThen(connect('last', 3001), silent, waiter, undefined, 3001);
    head.successorAcked(3001);
    expect(replies).toHaveLength(3001);
    expect(replies[3000]).toBe(3001);
    expect(head.unacknowledgedAfter(3001)).toEqual([]);
  });

  it('a replica that is not head refuses front-end commands', () => {
    const { execs } = wire(2);
    let err: Error | undefined;
    execs[1]!.executeThen(connect('a', 1), silent, { durable: (_c, _t, _r, e) => (err = e) }, undefined, 1);
    expect(err?.message).toMatch(/not the head/);
  });
});

describe('chain frames', () => {
  it('an append carries the command log\'s record of its commands (the log may store it as is); an ack reads as [partition, seq]', () => {
    const cmds: Command[] = [
      { type: 'publish', now: 5, clientId: 'p', packetId: 3, key: 'fe/1/9', message: { topic: 't/1', payload: Buffer.from('hello'), qos: 1, retain: false, origin: 'p' } },
      { type: 'ack', now: 6, clientId: 's', connectionId: 12, packetId: 7, kind: 'puback', reasonCode: 0 },
      { type: 'subscribe', now: 7, clientId: 's', connectionId: 12, subs: [{ filter: 't/#', qos: 1 }] } as never,
    ];
    const { frame, record } = encodeAppend(4, 2 ** 33 + 1, cmds);
    expect(record.equals(encodeCommands(cmds))).toBe(true);
    expect(record.buffer).toBe(frame.buffer); // encoded in place, not copied
    const back = decodeAppend(frame.subarray(HEADER_BYTES));
    expect([back.partition, back.firstSeq]).toEqual([4, 2 ** 33 + 1]);
    expect(back.record.equals(record)).toBe(true);
    expect(back.commands).toEqual(cmds);
    for (const [p, seq] of [[0, 1], [70_000, 2 ** 40 + 5]]) expect(packr.unpack(encodeAck(p!, seq!).subarray(HEADER_BYTES))).toEqual([p, seq]);
  });
});
