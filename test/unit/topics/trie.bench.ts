/**
 * Microbench for the publish hot path: `npx vitest bench --run test/unit/topics/trie.bench.ts`.
 * Each bench iteration routes 1,000 publishes, so ops/s × 1,000 = publishes/s.
 *
 * It also answers "should TopicTrie cache topic → matched values?": CachedTrie below is the candidate design
 * (cache cleared on every add/remove, the only invalidation that stays correct with wildcards). Outcome (Node 20):
 * cache 6–9× faster for repeated topics with rare churn, 1.6× slower for 1,000 distinct topics with churn, so
 * TopicTrie ships without it (see its header).
 */
import { bench, describe } from 'vitest';
import { TopicTrie } from '../../../src/topics/trie.js';
import { matches } from '../../../src/topics/validate.js';

const SITES = 10;
const DEVICES = 1000;

class CachedTrie<T> {
  readonly trie = new TopicTrie<T>();
  readonly #cache = new Map<string, T[]>();
  add(filter: string, value: T): void {
    this.trie.add(filter, value);
    this.#cache.clear();
  }
  remove(filter: string, value: T): void {
    this.trie.remove(filter, value);
    this.#cache.clear();
  }
  match(topic: string, visit: (value: T) => void): void {
    let hit = this.#cache.get(topic);
    if (hit === undefined) {
      const found: T[] = [];
      this.trie.match(topic, (v) => found.push(v));
      if (this.#cache.size >= 10_000) this.#cache.clear();
      this.#cache.set(topic, (hit = found));
    }
    for (let i = 0; i < hit.length; i++) visit(hit[i]!);
  }
}

/** ~20k subscriptions: per-device literals, per-device `#`, cross-site `+`, per-site dashboards. */
function subscriptions(): [string, number][] {
  const subs: [string, number][] = [];
  let id = 0;
  for (let s = 0; s < SITES; s++) {
    for (let d = 0; d < DEVICES; d++) {
      subs.push([`site/${s}/dev/${d}/temp`, id++]);
      if (d % 2 === 0) subs.push([`site/${s}/dev/${d}/#`, id++]);
    }
    subs.push([`site/${s}/+/+/temp`, id++], [`site/${s}/#`, id++]);
  }
  for (let d = 0; d < 4000; d++) subs.push([`site/+/dev/${d % DEVICES}/+`, id++]);
  subs.push(['#', id++], ['$SYS/#', id++]);
  return subs;
}

const subs = subscriptions();
const plain = new TopicTrie<number>();
const cached = new CachedTrie<number>();
for (const [f, v] of subs) {
  plain.add(f, v);
  cached.add(f, v);
}
const filters = [...new Set(subs.map(([f]) => f))];

const manyTopics = Array.from({ length: 1000 }, (_, i) => `site/${i % SITES}/dev/${(i * 7919) % DEVICES}/temp`);
const hotTopics = manyTopics.slice(0, 16);

let sink = 0;
const count = (v: number) => {
  sink += v;
};

function route(router: { match(t: string, visit: (v: number) => void): void }, topics: string[]): void {
  for (let i = 0; i < 1000; i++) router.match(topics[i % topics.length]!, count);
}

describe(`${subs.length} subscriptions, 1,000 distinct topics`, () => {
  bench('TopicTrie.match', () => route(plain, manyTopics));
  bench('cached (warm)', () => route(cached, manyTopics));
  bench('naive scan of distinct filters (100 publishes)', () => {
    for (let i = 0; i < 100; i++) {
      const t = manyTopics[i]!;
      for (const f of filters) if (matches(f, t)) sink++;
    }
  });
});

describe(`${subs.length} subscriptions, 16 hot topics`, () => {
  bench('TopicTrie.match', () => route(plain, hotTopics));
  bench('cached (warm)', () => route(cached, hotTopics));
});

let churn = 0;
function routeWithChurn(router: TopicTrie<number> | CachedTrie<number>, topics: string[], every: number): void {
  for (let i = 0; i < 1000; i++) {
    if (i % every === 0) {
      const f = `client/${churn++ % 50}/inbox`;
      router.add(f, -1);
      router.remove(f, -1);
    }
    router.match(topics[i % topics.length]!, count);
  }
}

for (const every of [100, 1000]) {
  for (const [label, topics] of [
    ['1,000 distinct topics', manyTopics],
    ['16 hot topics', hotTopics],
  ] as const) {
    describe(`churn: 1 subscribe + unsubscribe per ${every} publishes, ${label}`, () => {
      bench('TopicTrie.match', () => routeWithChurn(plain, topics, every));
      bench('cached', () => routeWithChurn(cached, topics, every));
    });
  }
}

describe('subscription index maintenance', () => {
  bench('add + remove 1,000 filters', () => {
    for (let i = 0; i < 1000; i++) plain.add(`bench/${i}/x/+`, i);
    for (let i = 0; i < 1000; i++) plain.remove(`bench/${i}/x/+`, i);
  });
});

export { sink };
