import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TopicTrie } from '../../../src/topics/trie.js';
import { matches, validateTopicFilter, validateTopicName } from '../../../src/topics/validate.js';
import { timeBoxed, topicFilter, topicName } from './arbitraries.js';

function matched<T>(trie: TopicTrie<T>, topic: string): T[] {
  const out: T[] = [];
  trie.match(topic, (v) => out.push(v));
  return out.sort();
}

describe('TopicTrie', () => {
  it('matches literal, + and # filters', () => {
    const trie = new TopicTrie<string>();
    trie.add('sport/tennis/player1', 'exact');
    trie.add('sport/tennis/+', 'plus');
    trie.add('sport/#', 'hash');
    trie.add('#', 'all');
    trie.add('+/+/+', 'three');
    trie.add('other', 'other');
    expect(matched(trie, 'sport/tennis/player1')).toEqual(['all', 'exact', 'hash', 'plus', 'three']);
    expect(matched(trie, 'sport/tennis/player1/ranking')).toEqual(['all', 'hash']);
    expect(matched(trie, 'other')).toEqual(['all', 'other']);
  });

  it('[MQTT-4.7.1-2] sport/# matches sport', () => {
    const trie = new TopicTrie<number>();
    trie.add('sport/#', 1);
    expect(matched(trie, 'sport')).toEqual([1]);
    expect(matched(trie, 'sports')).toEqual([]);
  });

  it('[MQTT-4.7.1-3] + matches an empty level but not a missing one', () => {
    const trie = new TopicTrie<number>();
    trie.add('+/+', 1);
    trie.add('sport/+', 2);
    expect(matched(trie, '/finance')).toEqual([1]);
    expect(matched(trie, 'sport/')).toEqual([1, 2]);
    expect(matched(trie, 'sport')).toEqual([]);
  });

  it('[MQTT-4.7.2-1] does not match $ topics with a leading wildcard', () => {
    const trie = new TopicTrie<string>();
    trie.add('#', 'hash');
    trie.add('+/monitor/Clients', 'plus');
    trie.add('$SYS/#', 'sys');
    trie.add('$SYS/monitor/+', 'sys-plus');
    expect(matched(trie, '$SYS/monitor/Clients')).toEqual(['sys', 'sys-plus']);
    expect(matched(trie, 'a/monitor/Clients')).toEqual(['hash', 'plus']);
  });

  it('keeps (filter, value) pairs as a set and counts them', () => {
    const trie = new TopicTrie<string>();
    expect(trie.add('a/b', 'x')).toBe(true);
    expect(trie.add('a/b', 'x')).toBe(false);
    expect(trie.add('a/b', 'y')).toBe(true);
    expect(trie.add('a/+', 'x')).toBe(true);
    expect(trie.size).toBe(3);
    expect(trie.filterCount).toBe(2);
    expect(trie.has('a/b', 'y')).toBe(true);
    expect(trie.has('a/+', 'y')).toBe(false);
    expect([...(trie.get('a/b') ?? [])]).toEqual(['x', 'y']);
    expect(trie.get('a')).toBeUndefined();
    // a value under two matching filters is visited once per filter
    expect(matched(trie, 'a/b')).toEqual(['x', 'x', 'y']);
  });

  it('removes pairs and prunes empty branches', () => {
    const trie = new TopicTrie<number>();
    trie.add('a/b/c', 1);
    trie.add('a/+/#', 2);
    expect(trie.remove('a/b/c', 2)).toBe(false);
    expect(trie.remove('a/b/x', 1)).toBe(false);
    expect(trie.remove('a/b', 1)).toBe(false);
    expect(trie.remove('a/b/c', 1)).toBe(true);
    expect(trie.remove('a/b/c', 1)).toBe(false);
    expect(trie.remove('a/+/#', 2)).toBe(true);
    expect(trie.size).toBe(0);
    expect(trie.filterCount).toBe(0);
    expect([...trie]).toEqual([]);
    expect(matched(trie, 'a/b/c')).toEqual([]);
  });

  it('reports matching filters with their values', () => {
    const trie = new TopicTrie<number>();
    trie.add('a/+', 1);
    trie.add('a/+', 2);
    trie.add('a/#', 3);
    trie.add('b', 4);
    const seen: [string, number[]][] = [];
    trie.matchFilters('a/x', (filter, values) => seen.push([filter, [...values]]));
    expect(seen.sort()).toEqual([
      ['a/#', [3]],
      ['a/+', [1, 2]],
    ]);
  });

  it('iterates every pair for stats', () => {
    const trie = new TopicTrie<number>();
    const pairs: [string, number][] = [
      ['#', 1],
      ['a/+', 2],
      ['a/+', 3],
      ['a/b/#', 4],
      ['$SYS/x', 5],
    ];
    for (const [f, v] of pairs) trie.add(f, v);
    expect([...trie.entries()].sort()).toEqual(pairs.sort());
    trie.clear();
    expect(trie.size).toBe(0);
    expect([...trie]).toEqual([]);
  });

  it('agrees with the naive matcher on random filters and topics (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(topicFilter, { maxLength: 25 }),
        fc.array(topicName, { minLength: 1, maxLength: 10 }),
        (filters, topics) => {
          const trie = new TopicTrie<string>();
          for (const f of filters) {
            validateTopicFilter(f);
            trie.add(f, f);
          }
          for (const t of topics) {
            validateTopicName(t);
            const expected = filters.filter((f) => matches(f, t)).sort();
            expect(matched(trie, t)).toEqual(expected);
            const viaFilters: string[] = [];
            trie.matchFilters(t, (f) => viaFilters.push(f));
            expect(viaFilters.sort()).toEqual(expected);
          }
        },
      ),
      timeBoxed,
    );
  });

  it('stays consistent with a model under random add/remove (property)', () => {
    const op = fc.tuple(fc.boolean(), topicFilter, fc.integer({ min: 0, max: 3 }));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.array(topicName, { minLength: 1, maxLength: 5 }), (ops, topics) => {
        const split = (key: string) => key.split('\u0000') as [string, string];
        const trie = new TopicTrie<number>();
        const model = new Set<string>();
        for (const [isAdd, filter, value] of ops) {
          const key = `${filter}\u0000${value}`;
          if (isAdd) expect(trie.add(filter, value)).toBe(!model.has(key));
          else expect(trie.remove(filter, value)).toBe(model.has(key));
          if (isAdd) model.add(key);
          else model.delete(key);
        }
        expect(trie.size).toBe(model.size);
        expect([...trie].map(([f, v]) => `${f}\u0000${v}`).sort()).toEqual([...model].sort());
        for (const t of topics) {
          const expected = [...model]
            .map(split)
            .filter(([filter]) => matches(filter, t))
            .map(([, value]) => Number(value))
            .sort();
          expect(matched(trie, t)).toEqual(expected);
        }
      }),
      timeBoxed,
    );
  });
});
