/**
 * A partition's filter feed: which filters (and share groups) its sessions subscribe to, streamed
 * to every process that follows the partition (front ends and back ends) so each keeps its own
 * subscription index (client/cluster-index.ts). Only transitions are sent: a filter appearing for
 * the first session of this partition, or disappearing with the last. Each transition bumps the
 * partition's feed sequence; a subscribe reply carries it, and the subscriber's front end sends
 * SUBACK only once its copy has reached it.
 *
 * A follower gets a snapshot first (reset) and changes after it, in order, on the same link as the
 * replies, so it never sees a reply before the change it depends on.
 */
import type { Routes } from '../../partition/routes.js';
import type { Link } from '../transport/link.js';
import { FrameType, encodeFeed } from '../transport/protocol.js';

export class FilterFeed {
  private readonly counts = new Map<string, number>();
  private readonly followers = new Set<Link>();
  seq = 0;

  constructor(
    readonly partition: number,
    routes: Routes,
    private readonly epoch: () => number,
  ) {
    routes.forEachFilter((f) => this.counts.set(f, (this.counts.get(f) ?? 0) + 1));
    routes.onChange = (filter, added) => (added ? this.added(filter) : this.removed(filter));
  }

  private added(filter: string): void {
    const n = this.counts.get(filter) ?? 0;
    this.counts.set(filter, n + 1);
    if (n === 0) this.emit([filter], []);
  }

  private removed(filter: string): void {
    const n = this.counts.get(filter) ?? 0;
    if (n <= 1) {
      this.counts.delete(filter);
      if (n === 1) this.emit([], [filter]);
    } else this.counts.set(filter, n - 1);
  }

  private emit(added: string[], removed: string[]): void {
    this.seq++;
    if (this.followers.size === 0) return;
    const body = encodeFeed({ partition: this.partition, seq: this.seq, reset: false, added, removed });
    for (const l of this.followers) l.send(FrameType.Feed, this.epoch(), body);
  }

  /** Sends the whole filter set to `link`, then every change after it. */
  follow(link: Link): void {
    this.followers.add(link);
    link.send(FrameType.Feed, this.epoch(), encodeFeed({ partition: this.partition, seq: this.seq, reset: true, added: [...this.counts.keys()], removed: [] }));
  }

  unfollow(link: Link): void {
    this.followers.delete(link);
  }

  get filterCount(): number {
    return this.counts.size;
  }
}
