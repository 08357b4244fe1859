import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RetainedIndex } from '../../../src/topics/retained-index.js';
import { isSelfTestTopic, wildcardGuardLevels } from '../../../src/topics/reserved.js';
import { TopicTrie } from '../../../src/topics/trie.js';
import { matches } from '../../../src/topics/validate.js';
import { timeBoxed } from './arbitraries.js';

const FILTERS = [
  '#',
  '+/#',
  '+/+/+/#',
  'azedge/#',
  'azedge/+/selftest/#',
  'azedge/dmqtt/#',
  'azedge/dmqtt/+/x',
  'azedge/dmqtt/selftest',
  'azedge/dmqtt/selftest/#',
  'azedge/dmqtt/selftest/+',
  'azedge/dmqtt/selftest/x',
  'azedge/dmqtt/selftestx/#',
];

function trieMatches(filters: string[], topic: string): string[] {
  const trie = new TopicTrie<string>();
  for (const f of filters) trie.add(f, f);
  const out: string[] = [];
  trie.match(topic, (v) => out.push(v));
  return out.sort();
}

describe('reserved topics: the self-check tree', () => {
  it('recognises the tree and nothing beside it', () => {
    expect(isSelfTestTopic('azedge/dmqtt/selftest')).toBe(true);
    expect(isSelfTestTopic('azedge/dmqtt/selftest/a/b')).toBe(true);
    expect(isSelfTestTopic('azedge/dmqtt/selftestx')).toBe(false);
    expect(isSelfTestTopic('azedge/dmqtt')).toBe(false);
    expect(wildcardGuardLevels('$SYS/x')).toBe(1);
    expect(wildcardGuardLevels('azedge/dmqtt/selftest/x')).toBe(3);
    expect(wildcardGuardLevels('a/b')).toBe(0);
  });

  it('wildcards in the first three levels do not match it; spelled-out filters do', () => {
    expect(trieMatches(FILTERS, 'azedge/dmqtt/selftest/x')).toEqual(['azedge/dmqtt/selftest/#', 'azedge/dmqtt/selftest/+', 'azedge/dmqtt/selftest/x']);
    expect(trieMatches(FILTERS, 'azedge/dmqtt/selftest')).toEqual(['azedge/dmqtt/selftest', 'azedge/dmqtt/selftest/#']);
    // the neighbour tree is an ordinary topic
    expect(trieMatches(FILTERS, 'azedge/dmqtt/selftestx/y')).toEqual(['#', '+/#', '+/+/+/#', 'azedge/#', 'azedge/dmqtt/#', 'azedge/dmqtt/selftestx/#']);
  });

  it('the retained index answers a wildcard subscription without the self-check tree', () => {
    const index = new RetainedIndex<string>();
    for (const t of ['azedge/dmqtt/selftest/r', 'azedge/dmqtt/other', 'a']) index.set(t, t);
    const found = (filter: string) => {
      const out: string[] = [];
      index.matchFilter(filter, (_v, topic) => out.push(topic));
      return out.sort();
    };
    expect(found('#')).toEqual(['a', 'azedge/dmqtt/other']);
    expect(found('azedge/dmqtt/#')).toEqual(['azedge/dmqtt/other']);
    expect(found('azedge/dmqtt/selftest/#')).toEqual(['azedge/dmqtt/selftest/r']);
    expect(found('azedge/dmqtt/selftest/r')).toEqual(['azedge/dmqtt/selftest/r']);
  });

  it('trie, retained index and reference matcher agree on random filters around the tree', () => {
    const level = fc.constantFrom('azedge', 'dmqtt', 'selftest', 'x', '+');
    const filter = fc
      .tuple(fc.array(level, { minLength: 1, maxLength: 5 }), fc.boolean())
      .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'));
    const topic = fc.array(fc.constantFrom('azedge', 'dmqtt', 'selftest', 'x'), { minLength: 1, maxLength: 5 }).map((l) => l.join('/'));
    fc.assert(
      fc.property(fc.uniqueArray(filter, { maxLength: 12 }), topic, (filters, t) => {
        const expected = filters.filter((f) => matches(f, t)).sort();
        expect(trieMatches(filters, t)).toEqual(expected);
        const index = new RetainedIndex<string>();
        index.set(t, t);
        for (const f of filters) {
          let hit = false;
          index.matchFilter(f, () => (hit = true));
          expect(hit).toBe(matches(f, t));
        }
      }),
      timeBoxed,
    );
  });
});
