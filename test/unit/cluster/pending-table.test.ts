/** A link's commands waiting for replies (pending-table.ts): slots by id, a Map for ids whose slot an older one still holds. */
import { describe, expect, it } from 'vitest';
import { PendingTable } from '../../../src/cluster/client/pending-table.js';
import { PartitionSet } from '../../../src/cluster/client/partition-set.js';

describe('PendingTable', () => {
  it('gives each id back once, in any order, and counts what waits', () => {
    const t = new PendingTable<string>();
    for (let id = 1; id <= 100; id++) t.set(id, `c${id}`);
    expect(t.size).toBe(100);
    expect(t.take(50)).toBe('c50');
    expect(t.take(50)).toBeUndefined();
    expect(t.take(1)).toBe('c1');
    expect(t.take(1000)).toBeUndefined();
    expect(t.size).toBe(98);
    expect(t.entries()[0]).toEqual([2, 'c2']);
  });

  it('keeps an id whose slot an older one still holds (2^15 apart), and lists all in sending order', () => {
    const t = new PendingTable<string>();
    t.set(7, 'old');
    const later = 7 + 2 ** 15;
    t.set(later, 'new');
    t.set(8, 'next');
    expect(t.entries()).toEqual([
      [7, 'old'],
      [later, 'new'],
      [8, 'next'],
    ]);
    expect(t.take(later)).toBe('new');
    expect(t.take(7)).toBe('old');
    // The slot is free again: the next id of that slot takes it.
    t.set(7 + 2 ** 16, 'again');
    expect(t.take(7 + 2 ** 16)).toBe('again');
    expect(t.size).toBe(1);
    t.clear();
    expect(t.size).toBe(0);
    expect(t.take(8)).toBeUndefined();
    expect(t.entries()).toEqual([]);
  });

  it('works across the id wrap (ids near 2^32)', () => {
    const t = new PendingTable<number>();
    const ids = [0xfffffffe, 0xffffffff, 1, 2];
    ids.forEach((id, i) => t.set(id, i));
    expect(t.entries().map(([id]) => id)).toEqual(ids);
    for (const [i, id] of ids.entries()) expect(t.take(id)).toBe(i);
  });
});

describe('PartitionSet', () => {
  it('adds each partition once per publish and starts empty after clear', () => {
    const s = new PartitionSet();
    for (const p of [3, 0, 3, 7]) s.add(p);
    expect(s.size).toBe(3);
    expect([0, 1, 2].map((i) => s.at(i))).toEqual([3, 0, 7]);
    expect(s.has(7)).toBe(true);
    s.clear();
    expect(s.size).toBe(0);
    expect(s.has(7)).toBe(false);
    s.add(7);
    expect(s.size).toBe(1);
    expect(s.at(0)).toBe(7);
  });
});
