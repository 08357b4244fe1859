/**
 * The partition's side of overload protection: a draining session's queue is not cut at the queue
 * limit (the front end pushes back on the publishers, guided by PublishResult.backlog), while a
 * session the front end declared stalled, or an offline one, is held to the queue policy.
 */
import { describe, expect, it } from 'vitest';
import type { Command } from '../../../src/partition/commands.js';
import { Partition, type PartitionLimits } from '../../../src/partition/partition.js';
import type { Delivery, PublishResult } from '../../../src/core/types.js';
import { RC } from '../../../src/mqtt/reason-codes.js';

const T0 = 1_700_000_000_000;
type WithoutNow<C> = C extends unknown ? Omit<C, 'now'> : never;

function setup(queueStrategy: PartitionLimits['queueStrategy']) {
  const p = new Partition({ queueLength: 2, queueStrategy, sharedStrategy: 'round-robin' });
  const delivered: Delivery[] = [];
  const out = { deliver: (_id: number, d: Delivery) => delivered.push(d), release() {}, kick() {} };
  let now = T0;
  const apply = (c: WithoutNow<Command>) => p.apply({ ...c, now: (now += 1) } as Command, out);
  apply({ type: 'connect', clientId: 'sub', connectionId: 1, protocolVersion: 5, cleanStart: true, sessionExpirySeconds: 60, receiveMaximum: 1 });
  apply({ type: 'subscribe', clientId: 'sub', connectionId: 1, subs: [{ filter: 't', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0 }] });
  apply({ type: 'connect', clientId: 'pub', connectionId: 2, protocolVersion: 5, cleanStart: true, sessionExpirySeconds: 0, receiveMaximum: 10 });
  let n = 0;
  const publish = () => apply({ type: 'publish', clientId: 'pub', message: { topic: 't', payload: Buffer.from(String(n++)), qos: 1, retain: false, origin: 'pub' } }) as PublishResult;
  const queued = () => [...p.sessions.get('sub')!.queue].map((x) => x.message.payload.toString());
  return { p, apply, publish, queued, delivered };
}

describe('partition: queue of a draining, stalled or offline session', () => {
  for (const strategy of ['None', 'DropOldest'] as const) {
    it(`${strategy}: a draining session queues past the limit, reporting the backlog; nothing is dropped`, () => {
      const { p, publish, queued, delivered } = setup(strategy);
      const results = [publish(), publish(), publish(), publish(), publish()];
      expect(delivered.map((d) => d.message.payload.toString())).toEqual(['0']); // window of 1
      expect(queued()).toEqual(['1', '2', '3', '4']);
      expect(results.map((r) => r.backlog)).toEqual([0, 1, 2, 3, 4]);
      expect(results.every((r) => r.reasonCode === undefined)).toBe(true);
      expect(p.counters.messagesDropped).toBe(0);
    });
  }

  it('DropOldest: once stalled the queue is cut to the limit from the head, and later messages evict the oldest', () => {
    const { p, apply, publish, queued } = setup('DropOldest');
    for (let i = 0; i < 5; i++) publish();
    apply({ type: 'flow', clientId: 'sub', connectionId: 1, stalled: true });
    expect(queued()).toEqual(['3', '4']);
    expect(p.counters.messagesDropped).toBe(2);
    const r = publish();
    expect(queued()).toEqual(['4', '5']);
    expect(r.backlog).toBe(0); // a stalled session holds no publisher back
    expect(p.counters.messagesDropped).toBe(3);
  });

  it('None: once stalled the newest beyond the limit go, and a further message is refused with Quota exceeded', () => {
    const { p, apply, publish, queued } = setup('None');
    for (let i = 0; i < 5; i++) publish();
    apply({ type: 'flow', clientId: 'sub', connectionId: 1, stalled: true });
    expect(queued()).toEqual(['1', '2']);
    expect(publish().reasonCode).toBe(RC.QuotaExceeded);
    expect(p.counters.messagesDropped).toBe(3);
  });

  it('draining again: the limit no longer cuts; deliveries report the queue behind them', () => {
    const { p, apply, publish, queued, delivered } = setup('DropOldest');
    apply({ type: 'flow', clientId: 'sub', connectionId: 1, stalled: true });
    apply({ type: 'flow', clientId: 'sub', connectionId: 1, stalled: false });
    for (let i = 0; i < 4; i++) publish();
    expect(queued()).toEqual(['1', '2', '3']);
    apply({ type: 'ack', clientId: 'sub', connectionId: 1, packetId: delivered[0]!.packetId, kind: 'puback', reasonCode: 0 });
    expect(delivered.at(-1)!.message.payload.toString()).toBe('1');
    expect(delivered.at(-1)!.backlog).toBe(2);
    expect(p.counters.messagesDropped).toBe(0);
  });

  it('a verdict for an old connection is ignored, and an offline session is held to the limit', () => {
    const { p, apply, publish, queued } = setup('DropOldest');
    apply({ type: 'flow', clientId: 'sub', connectionId: 99, stalled: true });
    expect(p.sessions.get('sub')!.stalled).toBe(false);
    for (let i = 0; i < 4; i++) publish();
    apply({ type: 'disconnect', clientId: 'sub', connectionId: 1, normal: true });
    expect(queued()).toEqual(['2', '3']); // bounded when it went offline (the in-flight one stays in flight)
    publish();
    expect(queued()).toEqual(['3', '4']);
    expect(p.counters.messagesDropped).toBe(2);
  });
});
