/**
 * SharedGroup: picks which member of a `$share/{group}/{filter}` subscription receives the next message.
 *
 * Deterministic on purpose: the back end is a state machine replayed from a log, so the same sequence of
 * add/remove/pick calls must choose the same members on every replica — no Math.random, no clocks, no hash
 * iteration order. Members are kept in join order in an array (groups are small; O(members) per pick is fine).
 *
 * Strategies:
 * - `round-robin`: a cursor points at the member to try next; removing a member before the cursor shifts the
 *   cursor back so nobody is skipped or served twice in a row; members join at the end of the rotation.
 * - `least-inflight`: the member with the fewest unacknowledged messages (from the caller's `inflight(member)`);
 *   ties go to the first one at or after the round-robin cursor, so equally loaded members still take turns.
 * Both skip members the caller's optional `eligible(member)` rejects (offline, quota exhausted).
 */
export class SharedGroup {
    #members = [];
    #options;
    /** Index of the member round-robin tries next; always in [0, members.length), 0 when empty. */
    #cursor = 0;
    constructor(options = { strategy: 'round-robin' }) {
        this.#options = options;
    }
    get strategy() {
        return this.#options.strategy;
    }
    get size() {
        return this.#members.length;
    }
    /** Members in join order. */
    get members() {
        return this.#members;
    }
    /** Position of the next round-robin candidate (exposed for snapshots and tests). */
    get cursor() {
        return this.#cursor;
    }
    /** Puts the rotation back where a snapshot left it (restore must reproduce the same future picks). */
    restoreCursor(cursor) {
        this.#cursor = this.#members.length === 0 ? 0 : Math.min(Math.max(0, cursor), this.#members.length - 1);
    }
    has(member) {
        return this.#members.includes(member);
    }
    /** Adds `member` at the end of the rotation; false if already a member. */
    add(member) {
        if (this.#members.includes(member))
            return false;
        this.#members.push(member);
        return true;
    }
    /** Removes `member`, keeping the cursor on the same next member; false if it was not a member. */
    remove(member) {
        const index = this.#members.indexOf(member);
        if (index === -1)
            return false;
        this.#members.splice(index, 1);
        if (index < this.#cursor)
            this.#cursor--;
        if (this.#cursor >= this.#members.length)
            this.#cursor = 0;
        return true;
    }
    /**
     * Chooses the member for the next message and advances the rotation past it.
     * Returns undefined when the group is empty or no member is eligible.
     */
    pick(eligible) {
        const count = this.#members.length;
        if (count === 0)
            return undefined;
        const chosen = this.#options.strategy === 'round-robin'
            ? this.#firstEligible(count, eligible)
            : this.#leastInflight(count, this.#options.inflight, eligible);
        if (chosen === -1)
            return undefined;
        this.#cursor = chosen + 1 === count ? 0 : chosen + 1;
        return this.#members[chosen];
    }
    #firstEligible(count, eligible) {
        for (let step = 0; step < count; step++) {
            const index = (this.#cursor + step) % count;
            if (eligible === undefined || eligible(this.#members[index]))
                return index;
        }
        return -1;
    }
    #leastInflight(count, inflight, eligible) {
        let best = -1;
        let bestLoad = Infinity;
        for (let step = 0; step < count; step++) {
            const index = (this.#cursor + step) % count;
            const member = this.#members[index];
            if (eligible !== undefined && !eligible(member))
                continue;
            const load = inflight(member);
            if (load < bestLoad) {
                best = index;
                bestLoad = load;
                if (load <= 0)
                    break; // nobody can beat an idle member; the first idle one after the cursor wins
            }
        }
        return best;
    }
}
//# sourceMappingURL=shared-group.js.map