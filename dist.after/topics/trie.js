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
 * [MQTT-4.7.2-1]: at the root, a topic starting with `$` skips the `+` and `#` edges.
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
function newNode() {
    return { children: null, plus: null, hash: null, values: null, filter: '' };
}
const DOLLAR = 0x24;
function emitValues(node, visit) {
    for (const value of node.values)
        visit(value);
}
function emitFilter(node, visit) {
    visit(node.filter, node.values);
}
export class TopicTrie {
    #root = newNode();
    #size = 0;
    #filterCount = 0;
    /** Number of (filter, value) pairs stored. */
    get size() {
        return this.#size;
    }
    /** Number of distinct filters that hold at least one value. */
    get filterCount() {
        return this.#filterCount;
    }
    /** Stores `value` under `filter`; returns false if that pair was already there. */
    add(filter, value) {
        let node = this.#root;
        let start = 0;
        for (;;) {
            const slash = filter.indexOf('/', start);
            const end = slash === -1 ? filter.length : slash;
            node = childFor(node, filter.slice(start, end));
            if (slash === -1)
                break;
            start = slash + 1;
        }
        if (node.values === null) {
            node.values = new Set();
            node.filter = filter;
            this.#filterCount++;
        }
        if (node.values.has(value))
            return false;
        node.values.add(value);
        this.#size++;
        return true;
    }
    /** Removes the pair; prunes nodes left empty so unsubscribed topics do not leak memory. */
    remove(filter, value) {
        const path = [];
        const keys = [];
        let node = this.#root;
        let start = 0;
        for (;;) {
            const slash = filter.indexOf('/', start);
            const key = filter.slice(start, slash === -1 ? filter.length : slash);
            path.push(node);
            keys.push(key);
            node = childOf(node, key);
            if (node === null)
                return false;
            if (slash === -1)
                break;
            start = slash + 1;
        }
        if (node.values === null || !node.values.delete(value))
            return false;
        this.#size--;
        if (node.values.size === 0) {
            node.values = null;
            node.filter = '';
            this.#filterCount--;
        }
        for (let i = path.length - 1; i >= 0 && isEmpty(node); i--) {
            dropChild(path[i], keys[i]);
            node = path[i];
        }
        return true;
    }
    has(filter, value) {
        return this.#find(filter)?.values?.has(value) ?? false;
    }
    /** The values stored under exactly `filter` (no wildcard matching), or undefined. */
    get(filter) {
        return this.#find(filter)?.values ?? undefined;
    }
    /**
     * Calls `visit` once per value of every filter matching `topic` (a valid topic name).
     * A value stored under two matching filters is visited twice: de-duplicating per session is the router's job
     * (MQTT 5 lets it deliver once or per subscription).
     */
    match(topic, visit) {
        walk(this.#root, topic, 0, true, emitValues, visit);
    }
    /** Calls `visit` once per stored filter matching `topic`, with that filter's values. */
    matchFilters(topic, visit) {
        walk(this.#root, topic, 0, true, emitFilter, visit);
    }
    /** Every (filter, value) pair, depth-first; for stats and snapshots, not for the publish path. */
    *entries() {
        const stack = [this.#root];
        while (stack.length > 0) {
            const node = stack.pop();
            if (node.values !== null)
                for (const value of node.values)
                    yield [node.filter, value];
            if (node.hash !== null)
                stack.push(node.hash);
            if (node.plus !== null)
                stack.push(node.plus);
            if (node.children !== null)
                for (const child of node.children.values())
                    stack.push(child);
        }
    }
    [Symbol.iterator]() {
        return this.entries();
    }
    clear() {
        this.#root = newNode();
        this.#size = 0;
        this.#filterCount = 0;
    }
    #find(filter) {
        let node = this.#root;
        let start = 0;
        for (;;) {
            const slash = filter.indexOf('/', start);
            node = childOf(node, filter.slice(start, slash === -1 ? filter.length : slash));
            if (node === null || slash === -1)
                return node;
            start = slash + 1;
        }
    }
}
/**
 * Visits every node whose filter matches the levels of `topic` from index `start` on.
 * `start === topic.length + 1` means every level has been consumed.
 */
function walk(node, topic, start, atRoot, onNode, context) {
    const hash = node.hash;
    const wildcardsAllowed = !atRoot || topic.charCodeAt(0) !== DOLLAR;
    if (hash !== null && hash.values !== null && wildcardsAllowed)
        onNode(hash, context);
    if (start > topic.length) {
        if (node.values !== null)
            onNode(node, context);
        return;
    }
    const slash = topic.indexOf('/', start);
    const end = slash === -1 ? topic.length : slash;
    if (node.plus !== null && wildcardsAllowed)
        walk(node.plus, topic, end + 1, false, onNode, context);
    if (node.children !== null) {
        const child = node.children.get(topic.slice(start, end));
        if (child !== undefined)
            walk(child, topic, end + 1, false, onNode, context);
    }
}
function childFor(node, level) {
    if (level === '+')
        return (node.plus ??= newNode());
    if (level === '#')
        return (node.hash ??= newNode());
    node.children ??= new Map();
    let child = node.children.get(level);
    if (child === undefined) {
        child = newNode();
        node.children.set(level, child);
    }
    return child;
}
function childOf(node, level) {
    if (level === '+')
        return node.plus;
    if (level === '#')
        return node.hash;
    return node.children?.get(level) ?? null;
}
function dropChild(node, level) {
    if (level === '+')
        node.plus = null;
    else if (level === '#')
        node.hash = null;
    else if (node.children !== null) {
        node.children.delete(level);
        if (node.children.size === 0)
            node.children = null;
    }
}
function isEmpty(node) {
    return node.values === null && node.plus === null && node.hash === null && node.children === null;
}
//# sourceMappingURL=trie.js.map