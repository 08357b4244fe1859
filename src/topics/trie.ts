/**
 * TopicTrie: the subscription index, filter → values, asked "who wants topic T?" on every PUBLISH.
 *
 * Why a trie. The naive router tests every filter against the topic: O(subscriptions × levels) per publish,
 * which stops being acceptable around a few thousand subscriptions. Filters share prefixes (`site/1/+/temp`,
 * `site/1/#`), so we store them as paths of levels, one node per level, with three kinds of edges:
 *
 *           (root)
 *          /   |   \
 *     "site"  "+"  "#"          literal children live in a Map<string, node>;
 *       |      |                `+` and `#` get their own fields, so the wildcard
 *      "1"   "temp"             branches cost a pointer check, not a hash lookup.
 *     /   \
 *   "+"   "#"
 *    |
 *  "temp"   ← values (subscribers of site/1/+/temp) are kept on the node where their filter ends.
 *
 * Matching walks the topic's levels from the root. At each node it (a) reports the `#` child (a `#` matches the
 * rest, including nothing: `sport/#` matches `sport`), (b) descends into the `+` child and (c) descends into the
 * literal child named by the level. Literal lookups are O(1); only `+` branches fork the walk, so the cost is
 * O(levels × (1 + number of `+` branches taken)) plus one step per reported value — independent of how many
 * unrelated filters are stored. In the worst case (a `+` at every level of every filter) it degrades to visiting
 * each stored filter once, i.e. never worse than the naive scan. `#` never forks (it ends the walk).
 * [MQTT-4.7.2-1]: at the root, a topic starting with `$` skips the `+` and `#` edges; in the first three levels of
 * the self-check tree (`azedge/dmqtt/selftest/...`, reserved.ts) only literal edges are followed.
 *
 * Allocation on the hot path: the topic is walked by index (indexOf('/')), the only allocation is the level
 * substring used as the Map key; results go to a callback, never into an array.
 *
 * No match cache, measured (test/unit/topics/trie.bench.ts, 19k subscriptions, ~9 matches per publish): a
 * topic → values cache cleared on every add/remove is 6–9× faster while a few topics repeat under a stable
 * subscription set, but 1.6× slower as soon as topic cardinality outruns the publishes between two subscription
 * changes (per-device telemetry with connect/disconnect churn — our common case), and it costs memory per topic.
 * The uncached walk is ~0.5–0.65 µs per publish either way, so the index stays predictable and cache-free.
 *
 * Filters given here are assumed valid (validate.ts) and not shared: pass the inner filter of `$share/g/f`.
 */

import { wildcardGuardLevels } from './reserved.js';

interface TrieNode<T> {
  /** Literal child levels, created on first use. */
  children: Map<string, TrieNode<T>> | null;
  plus: TrieNode<T> | null;
  hash: TrieNode<T> | null;
  /** Values whose filter ends at this node; null when none. */
  values: Set<T> | null;
  /** The filter that ends here (set together with `values`), for matchFilters() and iteration. */
  filter: string;
}

function newNode<T>(): TrieNode<T> {
  return { children: null, plus: null, hash: null, values: null, filter: '' };
}

type NodeVisitor<T, C> = (node: TrieNode<T>, context: C) => void;

function emitValues<T>(node: TrieNode<T>, visit: (value: T) => void): void {
  for (const value of node.values!) visit(value);
}

function emitFilter<T>(node: TrieNode<T>, visit: (filter: string, values: ReadonlySet<T>) => void): void {
  visit(node.filter, node.values!);
}

export class TopicTrie<T> {
  #root: TrieNode<T> = newNode();
  #size = 0;
  #filterCount = 0;

  /** Number of (filter, value) pairs stored. */
  get size(): number {
    return this.#size;
  }

  /** Number of distinct filters that hold at least one value. */
  get filterCount(): number {
    return this.#filterCount;
  }

  /** Stores `value` under `filter`; returns false if that pair was already there. */
  add(filter: string, value: T): boolean {
    let node = this.#root;
    let start = 0;
    for (;;) {
      const slash = filter.indexOf('/', start);
      const end = slash === -1 ? filter.length : slash;
      node = childFor(node, filter.slice(start, end));
      if (slash === -1) break;
      start = slash + 1;
    }
    if (node.values === null) {
      node.values = new Set();
      node.filter = filter;
      this.#filterCount++;
    }
    if (node.values.has(value)) return false;
    node.values.add(value);
    this.#size++;
    return true;
  }

  /** Removes the pair; prunes nodes left empty so unsubscribed topics do not leak memory. */
  remove(filter: string, value: T): boolean {
    const path: TrieNode<T>[] = [];
    const keys: string[] = [];
    let node: TrieNode<T> | null = this.#root;
    let start = 0;
    for (;;) {
      const slash = filter.indexOf('/', start);
      const key = filter.slice(start, slash === -1 ? filter.length : slash);
      path.push(node);
      keys.push(key);
      node = childOf(node, key);
      if (node === null) return false;
      if (slash === -1) break;
      start = slash + 1;
    }
    if (node.values === null || !node.values.delete(value)) return false;
    this.#size--;
    if (node.values.size === 0) {
      node.values = null;
      node.filter = '';
      this.#filterCount--;
    }
    for (let i = path.length - 1; i >= 0 && isEmpty(node); i--) {
      dropChild(path[i]!, keys[i]!);
      node = path[i]!;
    }
    return true;
  }

  has(filter: string, value: T): boolean {
    return this.#find(filter)?.values?.has(value) ?? false;
  }

  /** The values stored under exactly `filter` (no wildcard matching), or undefined. */
  get(filter: string): ReadonlySet<T> | undefined {
    return this.#find(filter)?.values ?? undefined;
  }

  /**
   * Calls `visit` once per value of every filter matching `topic` (a valid topic name).
   * A value stored under two matching filters is visited twice: de-duplicating per session is the router's job
   * (MQTT 5 lets it deliver once or per subscription).
   */
  match(topic: string, visit: (value: T) => void): void {
    walk(this.#root, topic, 0, wildcardGuardLevels(topic), emitValues, visit);
  }

  /** Calls `visit` once per stored filter matching `topic`, with that filter's values. */
  matchFilters(topic: string, visit: (filter: string, values: ReadonlySet<T>) => void): void {
    walk(this.#root, topic, 0, wildcardGuardLevels(topic), emitFilter, visit);
  }

  /** Every (filter, value) pair, depth-first; for stats and snapshots, not for the publish path. */
  *entries(): IterableIterator<[filter: string, value: T]> {
    const stack: TrieNode<T>[] = [this.#root];
    while (stack.length > 0) {
      const node = stack.pop()!;
      if (node.values !== null) for (const value of node.values) yield [node.filter, value];
      if (node.hash !== null) stack.push(node.hash);
      if (node.plus !== null) stack.push(node.plus);
      if (node.children !== null) for (const child of node.children.values()) stack.push(child);
    }
  }

  [Symbol.iterator](): IterableIterator<[filter: string, value: T]> {
    return this.entries();
  }

  clear(): void {
    this.#root = newNode();
    this.#size = 0;
    this.#filterCount = 0;
  }

  #find(filter: string): TrieNode<T> | null {
    let node: TrieNode<T> | null = this.#root;
    let start = 0;
    for (;;) {
      const slash = filter.indexOf('/', start);
      node = childOf(node, filter.slice(start, slash === -1 ? filter.length : slash));
      if (node === null || slash === -1) return node;
      start = slash + 1;
    }
  }
}

/**
 * Visits every node whose filter matches the levels of `topic` from index `start` on.
 * `start === topic.length + 1` means every level has been consumed. `guard` counts the levels still ahead
 * that only a literal edge may match (reserved topics, see reserved.ts).
 */
function walk<T, C>(
  node: TrieNode<T>,
  topic: string,
  start: number,
  guard: number,
  onNode: NodeVisitor<T, C>,
  context: C,
): void {
  const hash = node.hash;
  const wildcardsAllowed = guard === 0;
  if (hash !== null && hash.values !== null && wildcardsAllowed) onNode(hash, context);
  if (start > topic.length) {
    if (node.values !== null) onNode(node, context);
    return;
  }
  const slash = topic.indexOf('/', start);
  const end = slash === -1 ? topic.length : slash;
  if (node.plus !== null && wildcardsAllowed) walk(node.plus, topic, end + 1, 0, onNode, context);
  if (node.children !== null) {
    const child = node.children.get(topic.slice(start, end));
    if (child !== undefined) walk(child, topic, end + 1, wildcardsAllowed ? 0 : guard - 1, onNode, context);
  }
}

function childFor<T>(node: TrieNode<T>, level: string): TrieNode<T> {
  if (level === '+') return (node.plus ??= newNode());
  if (level === '#') return (node.hash ??= newNode());
  node.children ??= new Map();
  let child = node.children.get(level);
  if (child === undefined) {
    child = newNode();
    node.children.set(level, child);
  }
  return child;
}

function childOf<T>(node: TrieNode<T>, level: string): TrieNode<T> | null {
  if (level === '+') return node.plus;
  if (level === '#') return node.hash;
  return node.children?.get(level) ?? null;
}

function dropChild<T>(node: TrieNode<T>, level: string): void {
  if (level === '+') node.plus = null;
  else if (level === '#') node.hash = null;
  else if (node.children !== null) {
    node.children.delete(level);
    if (node.children.size === 0) node.children = null;
  }
}

function isEmpty<T>(node: TrieNode<T>): boolean {
  return node.values === null && node.plus === null && node.hash === null && node.children === null;
}
