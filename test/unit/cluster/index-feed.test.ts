/**
 * A partition's filter feed and a follower's subscription index, wired together without sockets:
 * the index must always equal "which partitions have a session subscribed to a matching filter",
 * through snapshots (reset), incremental changes, share groups and several partitions.
 */
import { describe, expect, it } from 'vitest';
import { ClusterIndex, type IndexEntry } from '../../../src/cluster/client/cluster-index.js';
import { FilterFeed } from '../../../src/cluster/backend/filter-feed.js';
import { decodeFeed } from '../../../src/cluster/transport/protocol.js';
import type { Link } from '../../../src/cluster/transport/link.js';
import { Partition } from '../../../src/partition/partition.js';
import { silentOutput } from '../../../src/partition/output.js';

const limits = { queueLength: 100, queueStrategy: 'DropOldest' as const, sharedStrategy: 'round-robin' as const, cluster: true };
const sub = { qos: 1 as const, noLocal: false, retainAsPublished: false, retainHandling: 0 as const, subscriptionId: 0 };

/** A follower link that applies every FEED frame to an index at once. */
function follower(index: ClusterIndex): Link {
  return { send: (_t: number, _e: number, body: Buffer) => index.apply(decodeFeed(body)) } as unknown as Link;
}

function session(p: Partition, clientId: string, connectionId: number): void {
  p.apply({ type: 'connect', now: 1, clientId, connectionId, protocolVersion: 5, cleanStart: true, sessionExpirySeconds: 0, receiveMaximum: 10 }, silentOutput);
}

function targets(index: ClusterIndex, topic: string): { direct: number[]; groups: string[] } {
  const direct = new Set<number>();
  const groups: string[] = [];
  index.trie.match(topic, (e: IndexEntry) => (e.shareKey === undefined ? e.partitions.forEach((p) => direct.add(p)) : groups.push(`${e.shareKey}@${[...e.partitions].sort().join(',')}`)));
  return { direct: [...direct].sort(), groups: groups.sort() };
}

describe('filter feed -> cluster index', () => {
  it('follows subscriptions of two partitions through snapshot and changes, counting sessions per partition', () => {
    const p0 = new Partition(limits);
    const p1 = new Partition(limits);
    session(p0, 'a', 1);
    p0.apply({ type: 'subscribe', now: 1, clientId: 'a', connectionId: 1, subs: [{ ...sub, filter: 'x/#' }] }, silentOutput);
    const f0 = new FilterFeed(0, p0.routes, () => 1);
    const f1 = new FilterFeed(1, p1.routes, () => 1);
    const index = new ClusterIndex();
    f0.follow(follower(index)); // snapshot: x/# already there
    f1.follow(follower(index));
    expect(targets(index, 'x/y').direct).toEqual([0]);
    expect(index.seqOf(0)).toBe(f0.seq);

    session(p1, 'b', 2);
    session(p1, 'c', 3);
    p1.apply({ type: 'subscribe', now: 2, clientId: 'b', connectionId: 2, subs: [{ ...sub, filter: 'x/+' }, { ...sub, filter: '$share/g/x/#' }] }, silentOutput);
    p1.apply({ type: 'subscribe', now: 2, clientId: 'c', connectionId: 3, subs: [{ ...sub, filter: 'x/+' }] }, silentOutput);
    expect(targets(index, 'x/y')).toEqual({ direct: [0, 1], groups: ['g/x/#@1'] });
    expect(targets(index, 'z')).toEqual({ direct: [], groups: [] });
    expect(index.entry('x/+')?.counts).toEqual([2]);
    expect(index.entry('x/#')?.counts).toEqual([1]);

    // One of two sessions of partition 1 leaves x/+: the partition still wants x/y.
    p1.apply({ type: 'unsubscribe', now: 3, clientId: 'b', connectionId: 2, filters: ['x/+'] }, silentOutput);
    expect(targets(index, 'x/y').direct).toEqual([0, 1]);
    expect(index.entry('x/+')?.counts).toEqual([1]);
    // A second follower from a snapshot sees the same counts.
    const late = new ClusterIndex();
    f1.follow(follower(late));
    expect(late.entry('x/+')?.counts).toEqual([1]);
    // The last one goes (its session ends): only partition 0 is left for x/y; the group too is gone.
    p1.apply({ type: 'disconnect', now: 4, clientId: 'c', connectionId: 3, normal: true }, silentOutput);
    p1.apply({ type: 'unsubscribe', now: 4, clientId: 'b', connectionId: 2, filters: ['$share/g/x/#'] }, silentOutput);
    expect(targets(index, 'x/y')).toEqual({ direct: [0], groups: [] });
    expect(index.seqOf(1)).toBe(f1.seq);
  });

  it('replaces a partition on reset, ignores changes already covered, and resolves waiters at their sequence', async () => {
    const index = new ClusterIndex();
    index.apply({ partition: 3, seq: 5, reset: true, added: ['a/b', '$share/g/a/#'], removed: [] });
    let reached = false;
    const wait = index.reached(3, 7).then(() => (reached = true));
    index.apply({ partition: 3, seq: 4, reset: false, added: ['stale'], removed: ['a/b'] }); // older than the snapshot
    expect(targets(index, 'a/b')).toEqual({ direct: [3], groups: ['g/a/#@3'] });
    index.apply({ partition: 3, seq: 6, reset: false, added: ['c'], removed: [] });
    await Promise.resolve();
    expect(reached).toBe(false);
    index.apply({ partition: 3, seq: 7, reset: false, added: [], removed: ['$share/g/a/#'] });
    await wait;
    expect(reached).toBe(true);
    // A new snapshot (the partition's back end restarted) drops what it no longer has.
    index.apply({ partition: 3, seq: 1, reset: true, added: ['c'], removed: [] });
    expect(targets(index, 'a/b').direct).toEqual([]);
    expect(targets(index, 'c').direct).toEqual([3]);
    expect(index.size).toBe(1);
    // A feed without counts (an older back end): unknown, never equal to a front end's own count.
    expect(index.entry('c')?.counts).toEqual([-1]);
  });

  it('resumes a returning follower with only the changes it missed, while the feed still has them', () => {
    const p0 = new Partition(limits);
    session(p0, 'a', 1);
    const feed = new FilterFeed(0, p0.routes, () => 1);
    const index = new ClusterIndex();
    const frames: Array<ReturnType<typeof decodeFeed>> = [];
    const link = { send: (_t: number, _e: number, body: Buffer) => (frames.push(decodeFeed(body)), index.apply(decodeFeed(body))) } as unknown as Link;
    expect(feed.follow(link)).toBe(false); // first time: a snapshot
    p0.apply({ type: 'subscribe', now: 2, clientId: 'a', connectionId: 1, subs: [{ ...sub, filter: 'old/#' }] }, silentOutput);
    feed.unfollow(link); // the link broke
    const left = { feed: feed.id, seq: index.seqOf(0) };
    p0.apply({ type: 'subscribe', now: 3, clientId: 'a', connectionId: 1, subs: [{ ...sub, filter: 'new/#' }] }, silentOutput);
    p0.apply({ type: 'unsubscribe', now: 3, clientId: 'a', connectionId: 1, filters: ['old/#'] }, silentOutput);
    frames.length = 0;
    expect(feed.follow(link, left)).toBe(true);
    expect(frames.map((f) => [f.reset, f.seq, f.added, f.removed])).toEqual([
      [false, left.seq + 1, ['new/#'], []],
      [false, left.seq + 2, [], ['old/#']],
    ]);
    expect(targets(index, 'new/x').direct).toEqual([0]);
    expect(targets(index, 'old/x').direct).toEqual([]);
    // Changes after the resume arrive as before.
    p0.apply({ type: 'subscribe', now: 4, clientId: 'a', connectionId: 1, subs: [{ ...sub, filter: 'later' }] }, silentOutput);
    expect(targets(index, 'later').direct).toEqual([0]);
    expect(index.seqOf(0)).toBe(feed.seq);
  });

  it('answers with a snapshot when the follower is further behind than the ring, or left another feed (a restart)', () => {
    const p0 = new Partition(limits);
    session(p0, 'a', 1);
    const feed = new FilterFeed(0, p0.routes, () => 1, 2);
    const index = new ClusterIndex();
    const frames: Array<ReturnType<typeof decodeFeed>> = [];
    const link = { send: (_t: number, _e: number, body: Buffer) => (frames.push(decodeFeed(body)), index.apply(decodeFeed(body))) } as unknown as Link;
    feed.follow(link);
    feed.unfollow(link);
    const left = { feed: feed.id, seq: index.seqOf(0) };
    for (const f of ['a', 'b', 'c']) p0.apply({ type: 'subscribe', now: 2, clientId: 'a', connectionId: 1, subs: [{ ...sub, filter: f }] }, silentOutput);
    frames.length = 0;
    expect(feed.follow(link, left)).toBe(false); // 3 missed, 2 kept
    expect(frames).toEqual([{ partition: 0, seq: 3, reset: true, added: ['a', 'b', 'c'], removed: [], counts: ['a', 1, 'b', 1, 'c', 1] }]);
    // Exactly as many missed as the ring keeps: resumed.
    feed.unfollow(link);
    const again = { feed: feed.id, seq: index.seqOf(0) };
    for (const f of ['d', 'e']) p0.apply({ type: 'subscribe', now: 3, clientId: 'a', connectionId: 1, subs: [{ ...sub, filter: f }] }, silentOutput);
    expect(feed.follow(link, again)).toBe(true);
    expect(targets(index, 'e').direct).toEqual([0]);
    // A new feed over the same partition (its back end restarted, or it was hosted again): its sequences are not the old ones.
    const restarted = new FilterFeed(0, p0.routes, () => 2);
    frames.length = 0;
    expect(restarted.follow(link, { feed: feed.id, seq: index.seqOf(0) })).toBe(false);
    expect(frames.map((f) => f.reset)).toEqual([true]);
  });
});
