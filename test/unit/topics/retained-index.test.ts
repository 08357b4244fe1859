import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RetainedIndex } from '../../../src/topics/retained-index.js';
import { matches } from '../../../src/topics/validate.js';
import { timeBoxed, topicFilter, topicName } from './arbitraries.js';

function matchedTopics<T>(index: RetainedIndex<T>, filter: string): string[] {
  const out: string[] = [];
  index.matchFilter(filter, (_value, topic) => out.push(topic));
  return out.sort();
}

describe('RetainedIndex', () => {
  it('sets, replaces, gets and deletes', () => {
    const index = new RetainedIndex<string>();
    index.set('a/b', 'one');
    index.set('a/b', 'two');
    index.set('a', 'three');
    expect(index.size).toBe(2);
    expect(index.get('a/b')).toBe('two');
    expect(index.has('a')).toBe(true);
    expect(index.delete('a/b')).toBe(true);
    expect(index.delete('a/b')).toBe(false);
    expect(index.get('a/b')).toBeUndefined();
    expect([...index.values()]).toEqual(['three']);
    expect([...index.entries()]).toEqual([['a', 'three']]);
    // the deleted branch is pruned but its ancestor keeps its own value
    expect(matchedTopics(index, '#')).toEqual(['a']);
    index.clear();
    expect(index.size).toBe(0);
    expect(matchedTopics(index, '#')).toEqual([]);
  });

  it('answers literal, + and # filters', () => {
    const index = new RetainedIndex<number>();
    for (const [i, t] of ['sport', 'sport/tennis', 'sport/tennis/player1', 'sport/golf', 'news', '/x'].entries()) {
      index.set(t, i);
    }
    expect(matchedTopics(index, 'sport/tennis')).toEqual(['sport/tennis']);
    expect(matchedTopics(index, 'sport/+')).toEqual(['sport/golf', 'sport/tennis']);
    expect(matchedTopics(index, 'sport/#')).toEqual(['sport', 'sport/golf', 'sport/tennis', 'sport/tennis/player1']);
    expect(matchedTopics(index, '+')).toEqual(['news', 'sport']);
    expect(matchedTopics(index, '+/x')).toEqual(['/x']);
    expect(matchedTopics(index, 'nothing/#')).toEqual([]);
  });

  it('[MQTT-4.7.2-1] leading wildcards skip $ topics', () => {
    const index = new RetainedIndex<number>();
    index.set('$SYS/uptime', 1);
    index.set('a/$b', 2);
    expect(matchedTopics(index, '#')).toEqual(['a/$b']);
    expect(matchedTopics(index, '+/uptime')).toEqual([]);
    expect(matchedTopics(index, '$SYS/#')).toEqual(['$SYS/uptime']);
    expect(matchedTopics(index, 'a/+')).toEqual(['a/$b']);
  });

  it('visits in a deterministic order for the same history', () => {
    const build = () => {
      const index = new RetainedIndex<number>();
      ['b/1', 'a/2', 'b/0', 'a/1'].forEach((t, i) => index.set(t, i));
      const order: string[] = [];
      index.matchFilter('#', (_v, t) => order.push(t));
      return order;
    };
    expect(build()).toEqual(build());
    expect(build()).toEqual(['b/1', 'b/0', 'a/2', 'a/1']);
  });

  it('agrees with the naive matcher under random set/delete (property)', () => {
    const op = fc.tuple(fc.boolean(), topicName);
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), fc.array(topicFilter, { minLength: 1, maxLength: 8 }), (ops, filters) => {
        const index = new RetainedIndex<string>();
        const model = new Map<string, string>();
        for (const [isSet, topic] of ops) {
          if (isSet) {
            index.set(topic, topic.toUpperCase());
            model.set(topic, topic.toUpperCase());
          } else {
            expect(index.delete(topic)).toBe(model.delete(topic));
          }
        }
        expect(index.size).toBe(model.size);
        for (const filter of filters) {
          const seen: string[] = [];
          index.matchFilter(filter, (value, topic) => {
            expect(value).toBe(model.get(topic));
            seen.push(topic);
          });
          expect(seen.sort()).toEqual([...model.keys()].filter((t) => matches(filter, t)).sort());
        }
      }),
      timeBoxed,
    );
  });
});
