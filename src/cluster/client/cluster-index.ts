/**
 * A process's copy of the cluster's subscription index: for every filter, the partitions that hold
 * a session subscribed to it, and for every share group, the partitions that hold its members.
 * It is the union of the partitions' filter feeds (back end: filter-feed.ts), so a publish goes to
 * exactly the partitions whose sessions want it; each partition then routes to its own sessions
 * with the single node's code. Sessions are not known here, only partitions and how many of each
 * partition's sessions subscribe to a filter.
 */
import { TopicTrie } from '../../topics/trie.js';
import type { FeedChange } from '../transport/protocol.js';

const SHARE_PREFIX = '$share/';

export interface IndexEntry {
  /** The filter as the feed names it (`$share/{group}/{filter}` for a group). */
  readonly key: string;
  /** `{group}/{filter}` for a share group (as PublishCommand.groups names it), else undefined. */
  readonly shareKey: string | undefined;
  /** Partitions with at least one subscription to this filter (members of this group). */
  readonly partitions: number[];
  /** Sessions subscribed to it in each of `partitions` (same positions). */
  readonly counts: number[];
  /** Round-robin position among `partitions` for the group's next message. */
  cursor: number;
}

export class ClusterIndex {
  readonly trie = new TopicTrie<IndexEntry>();
  private readonly entries = new Map<string, IndexEntry>();
  private readonly byPartition = new Map<number, Set<string>>();
  private readonly seqs = new Map<number, number>();
  private readonly waiters: Array<{ partition: number; seq: number; resolve: () => void }> = [];

  /** The feed position applied for a partition (-1: never followed). */
  seqOf(partition: number): number {
    return this.seqs.get(partition) ?? -1;
  }

  /** Resolves once the feed of `partition` has been applied up to `seq` (a SUBACK waits for this). */
  reached(partition: number, seq: number): Promise<void> {
    if (this.seqOf(partition) >= seq) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ partition, seq, resolve }));
  }

  apply(c: FeedChange): void {
    let keys = this.byPartition.get(c.partition);
    if (!keys) this.byPartition.set(c.partition, (keys = new Set()));
    if (c.reset) {
      for (const k of keys) this.drop(k, c.partition);
      keys.clear();
    } else if (c.seq <= this.seqOf(c.partition)) {
      return; // already covered by a snapshot taken after it
    }
    for (const k of c.removed) if (keys.delete(k)) this.drop(k, c.partition);
    for (const k of c.added) {
      if (keys.has(k)) continue;
      keys.add(k);
      this.add(k, c.partition);
    }
    const counts = c.counts;
    if (counts !== undefined) {
      for (let i = 0; i + 1 < counts.length; i += 2) {
        const e = this.entries.get(counts[i] as string);
        const at = e === undefined ? -1 : e.partitions.indexOf(c.partition);
        if (at >= 0) e!.counts[at] = counts[i + 1] as number;
      }
    }
    this.seqs.set(c.partition, c.seq);
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i];
      if (w.partition === c.partition && w.seq <= c.seq) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  private add(key: string, partition: number): void {
    let e = this.entries.get(key);
    if (!e) {
      const shared = key.startsWith(SHARE_PREFIX) ? key.slice(SHARE_PREFIX.length) : undefined;
      const filter = shared === undefined ? key : shared.slice(shared.indexOf('/') + 1);
      e = { key, shareKey: shared, partitions: [], counts: [], cursor: 0 };
      this.entries.set(key, e);
      this.trie.add(filter, e);
    }
    if (!e.partitions.includes(partition)) {
      e.partitions.push(partition);
      // Unknown until the counts of the same change say: an older back end's feed has none, and an
      // unknown count never lets a front end skip the partition (direct-qos0.ts).
      e.counts.push(-1);
    }
  }

  private drop(key: string, partition: number): void {
    const e = this.entries.get(key);
    if (!e) return;
    const i = e.partitions.indexOf(partition);
    if (i >= 0) {
      e.partitions.splice(i, 1);
      e.counts.splice(i, 1);
    }
    if (e.partitions.length === 0) {
      this.entries.delete(key);
      const filter = e.shareKey === undefined ? key : e.shareKey.slice(e.shareKey.indexOf('/') + 1);
      this.trie.remove(filter, e);
    }
  }

  /** Partitions whose feed has been applied. */
  partitions(): number[] {
    return [...this.byPartition.keys()];
  }

  /** A partition left the map (scaled down): its filters leave the index. */
  forget(partition: number): void {
    for (const k of this.byPartition.get(partition) ?? []) this.drop(k, partition);
    this.byPartition.delete(partition);
    this.seqs.delete(partition);
  }

  /** The entry of one filter as the feed names it (`$share/{group}/{filter}` for a group). */
  entry(key: string): IndexEntry | undefined {
    return this.entries.get(key);
  }

  /** Number of distinct filters (share groups counted once) known cluster-wide. */
  get size(): number {
    return this.entries.size;
  }
}
