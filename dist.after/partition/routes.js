import { SharedGroup } from '../topics/shared-group.js';
import { TopicTrie } from '../topics/trie.js';
/** One `$share/{group}/{filter}`: its members and who gets the next message (topics/shared-group). */
export class ShareGroup {
    name;
    filter;
    kind = 'share';
    selector;
    /** Scratch: publish epoch in which this group was already selected. */
    matchEpoch = 0;
    constructor(name, filter, strategy) {
        this.name = name;
        this.filter = filter;
        this.selector = new SharedGroup(strategy === 'least-inflight'
            ? { strategy, inflight: (m) => m.session.inflight.size + m.session.queue.length }
            : { strategy });
    }
    get members() {
        return this.selector.members;
    }
    /** `{group}/{filter}`: the group's identity in snapshots. */
    get key() {
        return `${this.name}/${this.filter}`;
    }
    get cursor() {
        return this.selector.cursor;
    }
    restoreCursor(cursor) {
        this.selector.restoreCursor(cursor);
    }
    member(session) {
        return this.selector.members.find((m) => m.session === session);
    }
    add(member) {
        this.selector.add(member);
    }
    remove(session) {
        const m = this.member(session);
        return m ? this.selector.remove(m) : false;
    }
    /**
     * The member that gets the next message. Online members are preferred so an offline persistent
     * member does not swallow its share of live traffic; with none online, offline members queue in turn.
     */
    pick(exclude) {
        return (this.selector.pick((m) => m.session.online && m.session !== exclude) ??
            this.selector.pick((m) => m.session !== exclude));
    }
    /**
     * QoS 0 rotation, kept apart from `pick`'s: QoS 0 messages are not logged, so they must not move
     * the rotation that decides (and on replay re-decides) where QoS 1/2 messages go. Online members only.
     */
    pickVolatile() {
        const members = this.selector.members;
        for (let i = 0; i < members.length; i++) {
            const m = members[(this.volatileCursor + i) % members.length];
            if (m.session.online) {
                this.volatileCursor = (this.volatileCursor + i + 1) % members.length;
                return m;
            }
        }
        return undefined;
    }
    /** Position of the QoS 0 rotation (kept in snapshots so a restored group continues it). */
    volatileCursor = 0;
}
export class Routes {
    strategy;
    constructor(strategy) {
        this.strategy = strategy;
    }
    trie = new TopicTrie();
    groups = new Map();
    direct = new Map();
    count = 0;
    addDirect(session, filter, options) {
        let mine = this.direct.get(session);
        if (!mine)
            this.direct.set(session, (mine = new Map()));
        const existing = mine.get(filter);
        if (existing) {
            existing.options = options;
            return false;
        }
        const route = { kind: 'direct', session, options };
        mine.set(filter, route);
        this.trie.add(filter, route);
        this.count++;
        return true;
    }
    removeDirect(session, filter) {
        const mine = this.direct.get(session);
        const route = mine?.get(filter);
        if (!mine || !route)
            return false;
        mine.delete(filter);
        if (mine.size === 0)
            this.direct.delete(session);
        this.trie.remove(filter, route);
        this.count--;
        return true;
    }
    addShared(session, group, filter, options) {
        const key = `${group}/${filter}`;
        let g = this.groups.get(key);
        if (!g) {
            g = new ShareGroup(group, filter, this.strategy);
            this.groups.set(key, g);
            this.trie.add(filter, g);
        }
        const m = g.member(session);
        if (m) {
            m.options = options;
            return false;
        }
        g.add({ session, options });
        this.count++;
        return true;
    }
    removeShared(session, group, filter) {
        const key = `${group}/${filter}`;
        const g = this.groups.get(key);
        if (!g || !g.remove(session))
            return false;
        this.count--;
        if (g.members.length === 0) {
            this.groups.delete(key);
            this.trie.remove(filter, g);
        }
        return true;
    }
}
//# sourceMappingURL=routes.js.map