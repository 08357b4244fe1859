/** DELIVERIES frames round-trip every field, keep one message object per frame, and refuse a bad index. */
import { describe, expect, it } from 'vitest';
import { DeliveryBatch, decodeDeliveries } from '../../../src/cluster/transport/deliveries.js';
import type { Delivery, Message } from '../../../src/core/types.js';

function decode(body: Buffer) {
  const out: { d: Array<[number, Delivery]>; r: number[][]; k: number[][] } = { d: [], r: [], k: [] };
  decodeDeliveries(body, { deliver: (c, d) => out.d.push([c, d]), release: (c, p) => out.r.push([c, p]), kick: (c, rc) => out.k.push([c, rc]) });
  return out;
}

describe('DELIVERIES frames', () => {
  it('round-trips deliveries, releases and kicks; a message shared by deliveries decodes as one object', () => {
    const m1: Message = {
      topic: 'a/b',
      payload: Buffer.from('hello'),
      qos: 2,
      retain: true,
      origin: 'pub',
      expiresAt: 1796535000123,
      properties: { contentType: 'text/plain', userProperties: { k: ['v1', 'v2'] }, correlationData: Buffer.from([1, 2]) },
    };
    const m2: Message = { topic: 'c', payload: Buffer.alloc(0), qos: 0, retain: false, origin: '', expiresAt: 5, expiryHidden: true };
    const big = 1048575 * 2 ** 32 + 0xffffffff; // the largest cluster-wide connection id
    const b = new DeliveryBatch();
    expect(b.empty).toBe(true);
    b.deliver(big, { message: m1, qos: 2, packetId: 65535, dup: true, retain: true, subscriptionIds: [1, 268435455] });
    b.deliver(7, { message: m1, qos: 1, packetId: 1, dup: false, retain: false });
    b.deliver(8, { message: m2, qos: 0, packetId: 0, dup: false, retain: false });
    b.release(9, 300);
    b.kick(big, 0x8e);
    const out = decode(b.take());
    expect(b.empty).toBe(true);
    expect(out.d).toHaveLength(3);
    expect(out.d[0][0]).toBe(big);
    expect(out.d[0][1]).toMatchObject({ qos: 2, packetId: 65535, dup: true, retain: true, subscriptionIds: [1, 268435455] });
    expect(out.d[0][1].message).toEqual(m1);
    expect(out.d[1][1].message).toBe(out.d[0][1].message);
    expect(out.d[1][1]).toMatchObject({ qos: 1, packetId: 1, dup: false, retain: false });
    expect(out.d[1][1].subscriptionIds).toBeUndefined();
    expect(out.d[2][1].message).toEqual(m2);
    expect(out.r).toEqual([[9, 300]]);
    expect(out.k).toEqual([[big, 0x8e]]);
    // The batch is reusable: the next frame stands alone.
    b.kick(1, 0x80);
    expect(decode(b.take())).toEqual({ d: [], r: [], k: [[1, 0x80]] });
    // Messages interleaved, and the last message of one frame first in the next: each delivery keeps its own.
    for (const [c, m] of [[1, m1], [2, m2], [3, m1], [4, m1], [5, m2]] as const) b.deliver(c, { message: m, qos: 0, packetId: 0, dup: false, retain: false });
    expect(decode(b.take()).d.map(([c, d]) => [c, d.message.topic])).toEqual([[1, 'a/b'], [2, 'c'], [3, 'a/b'], [4, 'a/b'], [5, 'c']]);
    b.deliver(6, { message: m2, qos: 0, packetId: 0, dup: false, retain: false });
    expect(decode(b.take()).d.map(([c, d]) => [c, d.message.topic])).toEqual([[6, 'c']]);
  });

  it('a frame of many deliveries, and the frame after it, come back exactly', () => {
    const m: Message = { topic: 'fan/out', payload: Buffer.from('x'), qos: 1, retain: false, origin: 'pub' };
    const b = new DeliveryBatch();
    for (const n of [20_000, 3]) {
      // 20,000 deliveries with subscription ids outgrow the batch's memory several times over.
      for (let i = 0; i < n; i++) b.deliver(2 ** 40 + i, { message: m, qos: 1, packetId: (i % 65535) + 1, dup: false, retain: false, subscriptionIds: [i, i + 1], backlog: i % 7 });
      const out = decode(b.take()).d;
      expect(out).toHaveLength(n);
      for (let i = 0; i < n; i += 997) {
        expect(out[i][0]).toBe(2 ** 40 + i);
        expect(out[i][1]).toMatchObject({ packetId: (i % 65535) + 1, subscriptionIds: [i, i + 1] });
        expect(out[i][1].backlog).toBe(i % 7 === 0 ? undefined : i % 7);
      }
    }
  });

  it('throws on a delivery naming a message the frame does not hold', () => {
    const b = new DeliveryBatch();
    b.deliver(1, { message: { topic: 't', payload: Buffer.from('x'), qos: 0, retain: false, origin: 'o' }, qos: 0, packetId: 0, dup: false, retain: false });
    const body = Buffer.from(b.take());
    const recordLength = body.readUInt32BE(0);
    body.writeUInt32BE(5, 4 + recordLength + 4 + 8); // message index 5 of 1
    expect(() => decode(body)).toThrow(/does not hold/);
  });
});
