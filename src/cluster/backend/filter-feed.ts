/**
 * A partition's filter feed: which filters (and share groups) its sessions subscribe to, streamed
 * to every process that follows the partition (front ends and back ends) so each keeps its own
 * subscription index (client/cluster-index.ts). Every change of a filter's number of subscribing
 * sessions is sent: its new count, and the transitions (a filter appearing for the first session of
 * this partition, or disappearing with the last). Each change bumps the partition's feed sequence;
 * a subscribe reply carries it, and the subscriber's front end sends SUBACK only once its copy has
 * reached it.
 *
 * A follower gets a snapshot first (reset) and changes after it, in order, on the same link as the
 * replies, so it never sees a reply before the change it depends on.
 *
 * A follower whose link broke comes back with the feed's id and the last sequence it applied. If it
 * is this feed (same process, same hosting of the partition: the id is random per FilterFeed) and
 * the changes after that sequence are still in the ring of recent changes, it gets those changes
 * only; otherwise (a back-end restart, the partition re-hosted or moved, or too far behind) a
 * snapshot. Sequences only mean something within one feed, hence the id.
 */
import { randomInt } from 'node:crypto';
import type { Routes } from '../../partition/routes.js';
import type { Link } from '../transport/link.js';
import { FrameType, encodeFeed } from '../transport/protocol.js';

const NONE: never[] = [];

/** Changes kept for resuming followers (each a small encoded frame: one or two filters). */
export const FEED_RING_SIZE = 4096;

/** Where a returning follower left off. */
export interface FeedPosition {
  feed: number;
  seq: number;
}

export class FilterFeed {
  private readonly counts = new Map<string, number>();
  private readonly followers = new Set<Link>();
  /** This feed's identity: a follower's sequence is only valid against the same one. */
  readonly id = randomInt(1, 2 ** 47);
  seq = 0;
  /** The last `ringSize` changes, encoded: change `n` is at `ring[n % ringSize]` while `n > seq - ringSize`. */
  private readonly ring: Buffer[] = [];

  constructor(
    readonly partition: number,
    routes: Routes,
    private readonly epoch: () => number,
    private readonly ringSize = FEED_RING_SIZE,
  ) {
    routes.forEachFilter((f) => this.counts.set(f, (this.counts.get(f) ?? 0) + 1));
    routes.onChange = (filter, added) => (added ? this.added(filter) : this.removed(filter));
  }

  private added(filter: string): void {
    const n = this.counts.get(filter) ?? 0;
    this.counts.set(filter, n + 1);
    this.emit(n === 0 ? [filter] : NONE, NONE, [filter, n + 1]);
  }

  private removed(filter: string): void {
    const n = this.counts.get(filter) ?? 0;
    if (n <= 1) {
      this.counts.delete(filter);
      if (n === 1) this.emit(NONE, [filter], NONE);
    } else {
      this.counts.set(filter, n - 1);
      this.emit(NONE, NONE, [filter, n - 1]);
    }
  }

  private emit(added: string[], removed: string[], counts: Array<string | number>): void {
    this.seq++;
    const body = encodeFeed({ partition: this.partition, seq: this.seq, reset: false, added, removed, counts });
    this.ring[this.seq % this.ringSize] = body;
    for (const l of this.followers) l.send(FrameType.Feed, this.epoch(), body);
  }

  /**
   * Sends `link` the changes after `from` when this feed still has them all, else the whole filter
   * set; every change after it follows. Returns whether it resumed.
   */
  follow(link: Link, from?: FeedPosition): boolean {
    this.followers.add(link);
    // The ring holds changes 1..seq while seq <= ringSize, else the last ringSize of them.
    const oldest = Math.max(1, this.seq - this.ringSize + 1);
    if (from !== undefined && from.feed === this.id && from.seq <= this.seq && from.seq + 1 >= oldest) {
      const epoch = this.epoch();
      for (let n = from.seq + 1; n <= this.seq; n++) link.send(FrameType.Feed, epoch, this.ring[n % this.ringSize]);
      return true;
    }
    const counts: Array<string | number> = [];
    for (const [f, n] of this.counts) counts.push(f, n);
    link.send(FrameType.Feed, this.epoch(), encodeFeed({ partition: this.partition, seq: this.seq, reset: true, added: [...this.counts.keys()], removed: [], counts }));
    return false;
  }

  unfollow(link: Link): void {
    this.followers.delete(link);
  }

  get filterCount(): number {
    return this.counts.size;
  }
}
