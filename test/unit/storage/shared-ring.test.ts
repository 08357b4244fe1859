/**
 * The shared ring between the event loop and the SQLite thread, both ends in one thread: entries
 * come out whole and in order across wrap-arounds, a full ring refuses instead of overwriting, and
 * released space is reused.
 */
import { describe, expect, it } from 'vitest';
import { RingReader, RingWriter, createRingMemory } from '../../../src/storage/shared-ring.js';

function put(w: RingWriter, body: Buffer): boolean {
  const at = w.reserve(body.length);
  if (at < 0) return false;
  body.copy(w.buf, at);
  return true;
}

function drain(r: RingReader): Buffer[] {
  const out: Buffer[] = [];
  for (let e = r.next(); e !== undefined; e = r.next()) out.push(Buffer.from(e));
  r.release();
  return out;
}

describe('shared ring', () => {
  it('hands over entries of every size in order, across many wrap-arounds', () => {
    const memory = createRingMemory(1024);
    const w = new RingWriter(memory);
    const r = new RingReader(memory);
    let seed = 7;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    const sent: Buffer[] = [];
    const received: Buffer[] = [];
    for (let round = 0; round < 500; round++) {
      // a few entries per round, then the consumer catches up on some rounds only
      for (let k = rand(4); k >= 0; k--) {
        const body = Buffer.alloc(rand(w.maxBody + 1), round & 0xff);
        if (body.length > 0) body[0] = k;
        if (!put(w, body)) break;
        sent.push(body);
      }
      w.publish();
      if (rand(3) > 0) received.push(...drain(r));
    }
    received.push(...drain(r));
    expect(received.length).toBe(sent.length);
    expect(received).toEqual(sent);
    expect(sent.length).toBeGreaterThan(200);
  });

  it('refuses an entry that does not fit until the consumer releases space, and never one bigger than half the ring', () => {
    const memory = createRingMemory(256);
    const w = new RingWriter(memory);
    const r = new RingReader(memory);
    expect(w.reserve(w.maxBody + 1)).toBe(-1);
    expect(put(w, Buffer.alloc(100, 1))).toBe(true);
    expect(put(w, Buffer.alloc(100, 2))).toBe(true);
    expect(put(w, Buffer.alloc(100, 3))).toBe(false); // full: nothing overwritten
    w.publish();
    const first = r.next()!;
    expect(first[0]).toBe(1);
    expect(put(w, Buffer.alloc(50, 3))).toBe(false); // read but not released: still owned by the consumer
    r.release();
    expect(put(w, Buffer.alloc(100, 3))).toBe(false); // would fill the released space exactly: head must not reach tail
    expect(put(w, Buffer.alloc(50, 3))).toBe(true); // wraps into the released space
    w.publish();
    expect(drain(r).map((b) => b[0])).toEqual([2, 3]);
  });

  it('an entry is invisible until published', () => {
    const memory = createRingMemory(256);
    const w = new RingWriter(memory);
    const r = new RingReader(memory);
    put(w, Buffer.from('x'));
    expect(r.next()).toBeUndefined();
    w.publish();
    expect(r.next()?.toString()).toBe('x');
  });

  it('refuses a size that cannot hold aligned entries', () => {
    expect(() => createRingMemory(100)).toThrow(/multiple of 8/);
  });
});
