/**
 * The subscription index of a partition: topic filter -> subscribing sessions, and shared
 * subscription groups (`$share/{group}/{filter}`), which sit in the same trie as one entry per group.
 */
import type { SubscriptionRequest } from '../core/types.js';
import type { SharedSubscriptionStrategy } from '../config/model.js';
import { SharedGroup } from '../topics/shared-group.js';
import { TopicTrie } from '../topics/trie.js';
import type { Session } from './session.js';

export interface DirectRoute {
  readonly kind: 'direct';
  readonly session: Session;
  options: SubscriptionRequest;
}

export interface ShareMember {
  readonly session: Session;
  options: SubscriptionRequest;
}

/** One `$share/{group}/{filter}`: its members and who gets the next message (topics/shared-group). */
export class ShareGroup {
  readonly kind = 'share';
  private readonly selector: SharedGroup<ShareMember>;
  /** Scratch: publish epoch in which this group was already selected. */
  matchEpoch = 0;

  constructor(
    readonly name: string,
    readonly filter: string,
    strategy: SharedSubscriptionStrategy,
  ) {
    this.key = `${name}/${filter}`;
    this.selector = new SharedGroup<ShareMember>(
      strategy === 'least-inflight'
        ? { strategy, inflight: (m) => m.session.inflight.size + m.session.queue.length }
        : { strategy },
    );
  }

  get members(): readonly ShareMember[] {
    return this.selector.members;
  }

  /** `{group}/{filter}`: the group's identity in snapshots and in a cluster's publish commands. */
  readonly key: string;

  get cursor(): number {
    return this.selector.cursor;
  }

  restoreCursor(cursor: number): void {
    this.selector.restoreCursor(cursor);
  }

  member(session: Session): ShareMember | undefined {
    return this.selector.members.find((m) => m.session === session);
  }

  add(member: ShareMember): void {
    this.selector.add(member);
  }

  remove(session: Session): boolean {
    const m = this.member(session);
    return m ? this.selector.remove(m) : false;
  }

  /**
   * The member that gets the next message. Online members are preferred so an offline persistent
   * member does not swallow its share of live traffic; with none online, offline members queue in turn.
   */
  pick(exclude?: Session): ShareMember | undefined {
    return (
      this.selector.pick((m) => m.session.online && m.session !== exclude) ??
      this.selector.pick((m) => m.session !== exclude)
    );
  }

  /**
   * QoS 0 rotation, kept apart from `pick`'s: QoS 0 messages are not logged, so they must not move
   * the rotation that decides (and on replay re-decides) where QoS 1/2 messages go. Online members only.
   */
  pickVolatile(): ShareMember | undefined {
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

export type Route = DirectRoute | ShareGroup;

export class Routes {
  constructor(private readonly strategy: SharedSubscriptionStrategy) {}

  readonly trie = new TopicTrie<Route>();
  readonly groups = new Map<string, ShareGroup>();
  private readonly direct = new Map<Session, Map<string, DirectRoute>>();
  count = 0;
  /**
   * Told of every subscription added or removed, by filter as the client wrote it (`$share/{g}/{f}`
   * for a group member): a cluster's back end turns this into the partition's filter feed. An
   * effect leaving the state machine, like PartitionOutput; unset on a single node.
   */
  onChange: ((filter: string, added: boolean) => void) | undefined;

  /** Every subscription's filter as the client wrote it, once per subscribing session. */
  forEachFilter(visit: (filter: string) => void): void {
    for (const mine of this.direct.values()) for (const f of mine.keys()) visit(f);
    for (const g of this.groups.values()) for (let i = 0; i < g.members.length; i++) visit(`$share/${g.key}`);
  }

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
    this.onChange?.(filter, true);
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
    this.onChange?.(filter, false);
    return true;
  }

  addShared(session: Session, group: string, filter: string, options: SubscriptionRequest): boolean {
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
    this.onChange?.(`$share/${key}`, true);
    return true;
  }

  removeShared(session: Session, group: string, filter: string): boolean {
    const key = `${group}/${filter}`;
    const g = this.groups.get(key);
    if (!g || !g.remove(session)) return false;
    this.count--;
    this.onChange?.(`$share/${key}`, false);
    if (g.members.length === 0) {
      this.groups.delete(key);
      this.trie.remove(filter, g);
    }
    return true;
  }
}
