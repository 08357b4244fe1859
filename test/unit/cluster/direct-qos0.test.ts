/**
 * A front end's own QoS 0 routing (src/cluster/client/direct-qos0.ts) and the partition's side of
 * the mark (PublishCommand.direct): what is written here, when nothing may be, what is counted,
 * and which sessions a partition skips.
 */
import { describe, expect, it } from 'vitest';
import { DirectQos0 } from '../../../src/cluster/client/direct-qos0.js';
import { globalConnectionId } from '../../../src/core/connection-ids.js';
import type { Delivery, Message, SessionSink, SubscriptionRequest } from '../../../src/core/types.js';
import { Partition } from '../../../src/partition/partition.js';
import type { PartitionOutput } from '../../../src/partition/output.js';

const sub = (filter: string, o: Partial<SubscriptionRequest> = {}): SubscriptionRequest => ({ filter, qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0, ...o });
const msg = (topic: string, origin = 'pub', retain = false): Message => ({ topic, payload: Buffer.from('x'), qos: 0, retain, origin });

function sink(): SessionSink & { got: Delivery[] } {
  const got: Delivery[] = [];
  return { got, deliver: (d) => got.push(d), release() {}, kick() {} };
}

describe('DirectQos0', () => {
  it('writes one delivery per connection, aggregating overlapping subscriptions as a partition does', () => {
    const d = new DirectQos0();
    const a = sink();
    const b = sink();
    d.connecting(1);
    d.connected(1, 'a', a, 0, [sub('t/+', { subscriptionId: 1 }), sub('t/#', { subscriptionId: 2, retainAsPublished: true })]);
    d.connecting(2);
    d.connected(2, 'b', b, 1, undefined);
    d.subscribe(2, [sub('t/x', { noLocal: true }), sub('$share/g/t/x')]);
    expect(d.deliver(msg('t/x', 'b', true))).toBe(Infinity);
    expect(a.got).toHaveLength(1);
    expect(a.got[0]).toMatchObject({ qos: 0, packetId: 0, retain: true });
    expect([...a.got[0].subscriptionIds!].sort()).toEqual([1, 2]);
    expect(b.got).toHaveLength(0); // No Local; the share group is the partitions'
    d.deliver(msg('t/x', 'c'));
    expect(b.got).toHaveLength(1);
    expect(b.got[0].retain).toBe(false);
    d.unsubscribe(1, ['t/+', 't/#']);
    d.closed(2);
    d.deliver(msg('t/x'));
    expect(a.got).toHaveLength(2);
    expect(d.size).toBe(0);
  });

  it('while CONNECTs are unanswered, writes only to the connections below the lowest of them, and says which', () => {
    const d = new DirectQos0();
    const a = sink();
    const c = sink();
    d.connecting(1);
    d.connected(1, 'a', a, 0, [sub('t')]);
    d.connecting(5);
    d.connecting(3);
    d.connecting(4);
    d.connected(4, 'c', c, 0, [sub('t')]); // answered, but above an unanswered one
    expect(d.deliver(msg('t'))).toBe(3);
    expect(a.got).toHaveLength(1);
    expect(c.got).toHaveLength(0); // its partition delivers it
    d.closed(3); // refused, or the socket went
    expect(d.deliver(msg('t'))).toBe(5);
    expect(c.got).toHaveLength(1);
    d.closed(5);
    expect(d.deliver(msg('t'))).toBe(Infinity);
    expect([a.got.length, c.got.length]).toEqual([3, 2]);
  });

  it('counts a subscription once the index has it, by partition, and uncounts it the moment it goes', () => {
    const d = new DirectQos0();
    d.connecting(1);
    d.connected(1, 'a', sink(), 3, [sub('t')]);
    expect(d.countOf('t', 3)).toBe(0); // written to at once, counted only when confirmed
    d.confirm(1, ['t']);
    d.confirm(1, ['t']);
    expect(d.countOf('t', 3)).toBe(1);
    d.connecting(2);
    d.connected(2, 'b', sink(), 3, undefined);
    d.subscribe(2, [sub('t'), sub('$share/g/t')]);
    d.confirm(2, ['t', '$share/g/t']);
    expect(d.countOf('t', 3)).toBe(2);
    expect(d.countOf('$share/g/t', 3)).toBe(0);
    d.unsubscribe(1, ['t']);
    expect(d.countOf('t', 3)).toBe(1);
    d.closed(2);
    expect(d.countOf('t', 3)).toBe(0);
    d.confirm(2, ['t']); // a late confirmation for a closed connection
    expect(d.countOf('t', 3)).toBe(0);
  });
});

describe('a partition and the direct mark', () => {
  it('skips exactly the live sessions of the front end that marked a QoS 0 publish', () => {
    const p = new Partition({ queueLength: 100, queueStrategy: 'DropOldest', sharedStrategy: 'round-robin', cluster: true });
    const delivered: number[] = [];
    const out: PartitionOutput = { deliver: (c: number) => delivered.push(c), release() {}, kick() {}, forward() {} };
    const here = globalConnectionId(7, 1);
    const there = globalConnectionId(9, 1);
    for (const [clientId, connectionId] of [['here', here], ['there', there]] as const) {
      p.apply({ type: 'connect', now: 1, clientId, connectionId, protocolVersion: 5, cleanStart: true, sessionExpirySeconds: 0, receiveMaximum: 10 }, out);
      p.apply({ type: 'subscribe', now: 1, clientId, connectionId, subs: [sub('t')] }, out);
    }
    const r = p.apply({ type: 'publish', now: 2, clientId: 'pub', message: msg('t'), direct: 7 }, out);
    expect(delivered).toEqual([there]);
    expect(r).toMatchObject({ matched: 2 });
    // A front end with CONNECTs unanswered wrote only below the lowest of them.
    delivered.length = 0;
    p.apply({ type: 'publish', now: 2, clientId: 'pub', message: msg('t'), direct: 7, directBelow: here }, out);
    expect(delivered.sort()).toEqual([here, there].sort());
    delivered.length = 0;
    p.apply({ type: 'publish', now: 2, clientId: 'pub', message: msg('t'), direct: 7, directBelow: here + 1 }, out);
    expect(delivered).toEqual([there]);
    // QoS 1 is never written by a front end itself: a mark on it changes nothing.
    delivered.length = 0;
    p.apply({ type: 'publish', now: 3, clientId: 'pub', message: { ...msg('t'), qos: 1 }, direct: 7 }, out);
    expect(delivered.sort()).toEqual([here, there].sort());
    // A resumed session's subscriptions come back with its CONNECT's answer, for its front end.
    p.apply({ type: 'disconnect', now: 4, clientId: 'here', connectionId: here, normal: true }, out);
    expect(p.apply({ type: 'connect', now: 5, clientId: 'there', connectionId: globalConnectionId(7, 2), protocolVersion: 5, cleanStart: false, sessionExpirySeconds: 0, receiveMaximum: 10 }, out)).toEqual({
      sessionPresent: false,
    });
  });
});
