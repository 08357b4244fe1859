/**
 * The slab of a busy connection's small writes: bytes come out in the order they went in, a part
 * handed out is never written over, and packets too large to batch are refused (written as they
 * are by the connection, after what is pending).
 */
import { describe, expect, it } from 'vitest';
import { COALESCE_MAX, WriteBatch } from '../../../src/frontend/write-batch.js';

describe('WriteBatch', () => {
  it('hands out what was added, in order, and never writes over a part already handed out', () => {
    const b = new WriteBatch();
    expect(b.add(Buffer.from('a'))).toBe(false); // no slab yet: the caller renews
    b.renew();
    const out: Buffer[] = [];
    const expected: Buffer[] = [];
    for (let i = 0; i < 5000; i++) {
      const bytes = Buffer.alloc(1 + (i % 97), i & 0xff);
      expected.push(bytes);
      if (!b.add(bytes)) {
        const pending = b.take();
        if (pending) out.push(pending); // the view itself, checked at the end: nothing wrote over it
        b.renew();
        expect(b.add(bytes)).toBe(true);
      }
      if (i % 300 === 0) out.push(b.take()!);
    }
    out.push(b.take()!);
    expect(b.take()).toBeUndefined();
    expect(Buffer.concat(out).equals(Buffer.concat(expected))).toBe(true);
  });

  it('refuses a packet larger than COALESCE_MAX and counts what is pending', () => {
    const b = new WriteBatch();
    b.renew();
    expect(b.add(Buffer.alloc(COALESCE_MAX + 1))).toBe(false);
    expect(b.add(Buffer.alloc(10))).toBe(true);
    expect(b.pending).toBe(10);
    b.take();
    expect(b.pending).toBe(0);
    expect([b.wasUsed(), b.wasUsed()]).toEqual([true, false]); // the watchdog's idle test
  });

  it('stamps a packet id into its copy of shared bytes, never into the bytes themselves', () => {
    const b = new WriteBatch();
    const shared = Buffer.from([0x32, 5, 0, 1, 0x74, 0, 0, 0x78]); // PUBLISH to "t", packet id 0, payload "x"
    expect(b.addStamped(shared, 5, 0x1234)).toBe(false); // no slab yet, as add()
    b.renew();
    expect(b.addStamped(shared, 5, 0x1234)).toBe(true);
    expect(b.addStamped(shared, 5, 7)).toBe(true);
    const out = b.take()!;
    expect([out.readUInt16BE(5), out.readUInt16BE(shared.length + 5)]).toEqual([0x1234, 7]);
    expect(shared.readUInt16BE(5)).toBe(0);
    expect(b.addStamped(Buffer.alloc(COALESCE_MAX + 1), 5, 1)).toBe(false);
    expect(b.pending).toBe(0);
  });
});
