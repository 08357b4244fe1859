/**
 * RetainedIndex: retained messages by topic name, answering "which retained topics match this new filter?".
 *
 * It is the mirror image of TopicTrie: there the stored keys hold wildcards and the query is a plain topic; here
 * the stored keys are plain topic names and the query (a SUBSCRIBE filter) holds the wildcards. So we keep a trie
 * of topic levels and walk it with the filter: a literal level is one Map lookup, `+` fans out over all children
 * of the node, `#` takes the whole subtree including the node itself (`sport/#` matches `sport`). Cost is
 * O(filter levels) for a literal filter and O(nodes under the wildcard) otherwise — the matches must be visited
 * anyway, so the walk is proportional to the output plus the branches it passes through, never to the whole store.
 * [MQTT-4.7.2-1]: at the root, `+` and `#` skip children whose level starts with `$`.
 *
 * A side Map topic → node gives O(1) get/set/delete and lets delete prune empty nodes upward via parent links.
 * Iteration order is insertion order at every level (Maps), so a replayed log yields the same visit order.
 * Filters given here are assumed valid (validate.ts) and not shared: pass the inner filter of `$share/g/f`.
 */
const DOLLAR = 0x24;
export class RetainedIndex {
    #root = { parent: null, level: '', children: null, topic: null, value: undefined };
    #byTopic = new Map();
    get size() {
        return this.#byTopic.size;
    }
    get(topic) {
        return this.#byTopic.get(topic)?.value;
    }
    has(topic) {
        return this.#byTopic.has(topic);
    }
    /** Stores or replaces the value for `topic` (a valid topic name). */
    set(topic, value) {
        const existing = this.#byTopic.get(topic);
        if (existing !== undefined) {
            existing.value = value;
            return;
        }
        let node = this.#root;
        let start = 0;
        for (;;) {
            const slash = topic.indexOf('/', start);
            const level = topic.slice(start, slash === -1 ? topic.length : slash);
            node.children ??= new Map();
            let child = node.children.get(level);
            if (child === undefined) {
                child = { parent: node, level, children: null, topic: null, value: undefined };
                node.children.set(level, child);
            }
            node = child;
            if (slash === -1)
                break;
            start = slash + 1;
        }
        node.topic = topic;
        node.value = value;
        this.#byTopic.set(topic, node);
    }
    /** Removes `topic`; returns whether it was present. Prunes nodes that no longer lead to a value. */
    delete(topic) {
        const node = this.#byTopic.get(topic);
        if (node === undefined)
            return false;
        this.#byTopic.delete(topic);
        node.topic = null;
        node.value = undefined;
        let current = node;
        while (current.parent !== null && current.topic === null && current.children === null) {
            const parent = current.parent;
            parent.children.delete(current.level);
            if (parent.children.size === 0)
                parent.children = null;
            current = parent;
        }
        return true;
    }
    /** Calls `visit` for every stored topic matching `filter` (a valid, non-shared topic filter). */
    matchFilter(filter, visit) {
        if (!hasWildcard(filter)) {
            const node = this.#byTopic.get(filter);
            if (node !== undefined)
                visit(node.value, filter);
            return;
        }
        matchFrom(this.#root, filter, 0, visit);
    }
    /** Every stored value, in insertion order (for stats and snapshots). */
    values() {
        return mapValues(this.#byTopic.values());
    }
    /** Every (topic, value) pair, in insertion order. */
    *entries() {
        for (const [topic, node] of this.#byTopic)
            yield [topic, node.value];
    }
    clear() {
        this.#root.children = null;
        this.#byTopic.clear();
    }
}
/** Walks the filter levels from index `start` below `node`; the root is the only node without a parent. */
function matchFrom(node, filter, start, visit) {
    const slash = filter.indexOf('/', start);
    const end = slash === -1 ? filter.length : slash;
    const isLast = slash === -1;
    const atRoot = node.parent === null;
    const first = filter.charCodeAt(start);
    if (first === 0x23 /* # */ && end === start + 1) {
        if (!atRoot && node.topic !== null)
            visit(node.value, node.topic); // `sport/#` matches `sport`
        if (node.children !== null) {
            for (const child of node.children.values()) {
                if (!(atRoot && child.level.charCodeAt(0) === DOLLAR))
                    visitSubtree(child, visit);
            }
        }
        return;
    }
    if (node.children === null)
        return;
    if (first === 0x2b /* + */ && end === start + 1) {
        for (const child of node.children.values()) {
            if (atRoot && child.level.charCodeAt(0) === DOLLAR)
                continue;
            if (isLast) {
                if (child.topic !== null)
                    visit(child.value, child.topic);
            }
            else {
                matchFrom(child, filter, end + 1, visit);
            }
        }
        return;
    }
    const child = node.children.get(filter.slice(start, end));
    if (child === undefined)
        return;
    if (isLast) {
        if (child.topic !== null)
            visit(child.value, child.topic);
    }
    else {
        matchFrom(child, filter, end + 1, visit);
    }
}
/** Depth-first, children in insertion order; depth is bounded by the validated level limit. */
function visitSubtree(node, visit) {
    if (node.topic !== null)
        visit(node.value, node.topic);
    if (node.children !== null)
        for (const child of node.children.values())
            visitSubtree(child, visit);
}
function hasWildcard(filter) {
    return filter.includes('+') || filter.includes('#');
}
function* mapValues(nodes) {
    for (const node of nodes)
        yield node.value;
}
//# sourceMappingURL=retained-index.js.map