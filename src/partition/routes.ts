/**
 * The subscription index of a partition: topic filter -> subscribing sessions, and shared
 * subscription groups (`$share/{group}/{filter}`), which sit in the same trie as one entry per group.
 */
import type { SubscriptionRequest } from '../core/types.js';
import type { SharedSubscriptionStrategy } from '../config/model.js';
import { TopicTrie } from '../topics/trie.js';
import type { Session } from './session.js';

export interface DirectRoute {
  readonly kind: 'direct';
  readonly session: Session;
  options: SubscriptionRequest;
}

export class ShareGroup {
  readonly kind = 'share';
  readonly members: Array<{ session: Session; options: SubscriptionRequest }> = [];
  private cursor = 0;
  /** Scratch: publish epoch in which this group was already selected. */
  matchEpoch = 0;

  constructor(
    readonly name: string,
    readonly filter: string,
  ) {}

  get key(): string {
    return `${this.name}/${this.filter}`;
  }

  member(session: Session) {
    return this.members.find((m) => m.session === session);
  }

  /**
   * Picks the member that gets the next message. Online members are preferred so one offline
   * persistent member does not swallow a share of the traffic; with none online, offline members
   * queue in turn. Deterministic (no randomness): the partition is replayed from its log.
   */
  pick(strategy: SharedSubscriptionStrategy, exclude?: Session): { session: Session; options: SubscriptionRequest } | undefined {
    const n = this.members.length;
    if (n === 0) return undefined;
    if (strategy === 'least-inflight') {
      let best: (typeof this.members)[number] | undefined;
      let bestLoad = Infinity;
      for (let i = 0; i < n; i++) {
        const m = this.members[(this.cursor + i) % n];
        if (m.session === exclude || !m.session.online) continue;
        const load = m.session.inflight.size + m.session.queue.length;
        if (load < bestLoad) {
          best = m;
          bestLoad = load;
        }
      }
      this.cursor = (this.cursor + 1) % n;
      if (best) return best;
    } else {
      for (let i = 0; i < n; i++) {
        const m = this.members[(this.cursor + i) % n];
        if (m.session === exclude || !m.session.online) continue;
        this.cursor = (this.cursor + i + 1) % n;
        return m;
      }
    }
    for (let i = 0; i < n; i++) {
      const m = this.members[(this.cursor + i) % n];
      if (m.session === exclude) continue;
      this.cursor = (this.cursor + i + 1) % n;
      return m;
    }
    return undefined;
  }

  remove(session: Session): boolean {
    const i = this.members.findIndex((m) => m.session === session);
    if (i < 0) return false;
    this.members.splice(i, 1);
    if (this.cursor > i) this.cursor--;
    if (this.cursor >= this.members.length) this.cursor = 0;
    return true;
  }
}

export type Route = DirectRoute | ShareGroup;

export class Routes {
  readonly trie = new TopicTrie<Route>();
  private readonly groups = new Map<string, ShareGroup>();
  private readonly direct = new Map<Session, Map<string, DirectRoute>>();
  count = 0;

  addDirect(session: Session, filter: string, options: SubscriptionRequest): boolean {
    let mine = this.direct.get(session);
    if (!mine) this.direct.set(session, (mine = new Map()));
    const existing = mine.get(filter);
    if (existing) {
      existing.options = options;
      return false;
    }
    const route: DirectRoute = { kind: 'direct', session, options };
    mine.set(filter, route);
    this.trie.add(filter, route);
    this.count++;
    return true;
  }

  removeDirect(session: Session, filter: string): boolean {
    const mine = this.direct.get(session);
    const route = mine?.get(filter);
    if (!mine || !route) return false;
    mine.delete(filter);
    if (mine.size === 0) this.direct.delete(session);
    this.trie.remove(filter, route);
    this.count--;
    return true;
  }

  addShared(session: Session, group: string, filter: string, options: SubscriptionRequest): boolean {
    const key = `${group}/${filter}`;
    let g = this.groups.get(key);
    if (!g) {
      g = new ShareGroup(group, filter);
      this.groups.set(key, g);
      this.trie.add(filter, g);
    }
    const m = g.member(session);
    if (m) {
      m.options = options;
      return false;
    }
    g.members.push({ session, options });
    this.count++;
    return true;
  }

  removeShared(session: Session, group: string, filter: string): boolean {
    const key = `${group}/${filter}`;
    const g = this.groups.get(key);
    if (!g || !g.remove(session)) return false;
    this.count--;
    if (g.members.length === 0) {
      this.groups.delete(key);
      this.trie.remove(filter, g);
    }
    return true;
  }

  groupsOf(session: Session): ShareGroup[] {
    const out: ShareGroup[] = [];
    for (const g of this.groups.values()) if (g.member(session)) out.push(g);
    return out;
  }
}
