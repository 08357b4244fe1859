import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SharedGroup } from '../../../src/topics/shared-group.js';
import { timeBoxed } from './arbitraries.js';

const picks = <M>(group: SharedGroup<M>, n: number, eligible?: (m: M) => boolean) =>
  Array.from({ length: n }, () => group.pick(eligible));

describe('SharedGroup round-robin', () => {
  it('returns undefined when empty', () => {
    expect(new SharedGroup<string>().pick()).toBeUndefined();
  });

  it('rotates through members, each message to exactly one member', () => {
    const group = new SharedGroup<string>();
    for (const m of ['a', 'b', 'c']) group.add(m);
    expect(group.add('a')).toBe(false);
    expect(picks(group, 7)).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a']);
  });

  it('keeps the cursor on the next member when a member before it leaves', () => {
    const group = new SharedGroup<string>();
    for (const m of ['a', 'b', 'c', 'd']) group.add(m);
    expect(picks(group, 2)).toEqual(['a', 'b']); // next is c
    expect(group.remove('a')).toBe(true);
    expect(picks(group, 3)).toEqual(['c', 'd', 'b']);
  });

  it('moves on to the following member when the next one leaves, and wraps at the end', () => {
    const group = new SharedGroup<string>();
    for (const m of ['a', 'b', 'c']) group.add(m);
    expect(picks(group, 2)).toEqual(['a', 'b']); // next is c
    group.remove('c');
    expect(group.cursor).toBe(0);
    expect(picks(group, 2)).toEqual(['a', 'b']);
    expect(group.remove('zzz')).toBe(false);
  });

  it('new members join at the end of the rotation', () => {
    const group = new SharedGroup<string>();
    group.add('a');
    group.add('b');
    expect(group.pick()).toBe('a');
    group.add('c');
    expect(picks(group, 3)).toEqual(['b', 'c', 'a']);
  });

  it('skips ineligible members and returns undefined when none is eligible', () => {
    const group = new SharedGroup<string>();
    for (const m of ['a', 'b', 'c']) group.add(m);
    expect(picks(group, 4, (m) => m !== 'b')).toEqual(['a', 'c', 'a', 'c']);
    expect(group.pick(() => false)).toBeUndefined();
  });

  it('is fair: over k×n picks each member is chosen k times (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 20 }), (n, k) => {
        const group = new SharedGroup<number>();
        for (let i = 0; i < n; i++) group.add(i);
        const counts = new Array<number>(n).fill(0);
        for (let i = 0; i < n * k; i++) counts[group.pick()!]!++;
        expect(counts.every((c) => c === k)).toBe(true);
      }),
      timeBoxed,
    );
  });
});

describe('SharedGroup least-inflight', () => {
  it('picks the least loaded member, ties in rotation order', () => {
    const load = new Map([
      ['a', 2],
      ['b', 0],
      ['c', 0],
    ]);
    const group = new SharedGroup<string>({ strategy: 'least-inflight', inflight: (m) => load.get(m)! });
    for (const m of ['a', 'b', 'c']) group.add(m);
    expect(group.strategy).toBe('least-inflight');
    const chosen = picks(group, 4);
    expect(chosen).toEqual(['b', 'c', 'b', 'c']);
  });

  it('balances inflight counts when the caller records each delivery', () => {
    const load = new Map<string, number>();
    const group = new SharedGroup<string>({ strategy: 'least-inflight', inflight: (m) => load.get(m) ?? 0 });
    for (const m of ['a', 'b', 'c']) group.add(m);
    load.set('a', 5);
    for (let i = 0; i < 10; i++) {
      const m = group.pick()!;
      load.set(m, (load.get(m) ?? 0) + 1);
    }
    expect(Object.fromEntries(load)).toEqual({ a: 5, b: 5, c: 5 });
  });

  it('respects eligibility', () => {
    const group = new SharedGroup<string>({ strategy: 'least-inflight', inflight: (m) => (m === 'a' ? 0 : 1) });
    group.add('a');
    group.add('b');
    expect(group.pick((m) => m !== 'a')).toBe('b');
    expect(group.pick(() => false)).toBeUndefined();
  });
});

describe('SharedGroup determinism', () => {
  it('replaying the same operations yields the same picks (property)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), member: fc.integer({ min: 0, max: 6 }) }),
      fc.record({ kind: fc.constant('remove' as const), member: fc.integer({ min: 0, max: 6 }) }),
      fc.record({ kind: fc.constant('pick' as const), member: fc.constant(0) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), fc.boolean(), (ops, leastInflight) => {
        const run = () => {
          const inflight = new Map<number, number>();
          const group = new SharedGroup<number>(
            leastInflight ? { strategy: 'least-inflight', inflight: (m) => inflight.get(m) ?? 0 } : { strategy: 'round-robin' },
          );
          const log: (number | undefined)[] = [];
          for (const { kind, member } of ops) {
            if (kind === 'add') group.add(member);
            else if (kind === 'remove') group.remove(member);
            else {
              const m = group.pick();
              if (m !== undefined) inflight.set(m, (inflight.get(m) ?? 0) + 1);
              log.push(m);
            }
            expect(group.cursor >= 0 && (group.size === 0 ? group.cursor === 0 : group.cursor < group.size)).toBe(true);
          }
          return log;
        };
        expect(run()).toEqual(run());
      }),
      timeBoxed,
    );
  });
});
