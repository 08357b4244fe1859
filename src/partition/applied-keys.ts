/**
 * Idempotency keys of the cluster's QoS 1/2 appends a partition has applied, with their results.
 * A front end whose partition head died before answering cannot know whether the command reached
 * the successor; it sends it again with the same key, and a key seen here is answered with the
 * remembered result instead of being routed twice (issue 15: QoS 2 stays exactly once).
 *
 * Part of the replicated state machine: every replica applies the same commands in the same
 * order, so insertion order and eviction (oldest first, past `capacity`) are the same on all of
 * them. It travels in snapshots as the partition extension `appliedKeys`.
 */
import type { PublishResult } from '../core/types.js';

/** Keys remembered per partition: a retry comes within seconds, and 100k appends cover far longer under load. */
export const APPLIED_KEYS_CAPACITY = 100_000;

export class AppliedKeys {
  private readonly results = new Map<string, PublishResult>();
  /**
   * The keys in insertion order, a ring of `capacity` slots: the oldest is evicted by name. Not
   * `results.keys().next()`: a Map keeps deleted entries as holes until it rehashes, and a fresh
   * iterator walks past all of them, so FIFO eviction through it cost hundreds of µs per append
   * once the map was full (the back end's largest cost on a long QoS 1 stream).
   */
  private ring: string[] = [];
  private head = 0;

  constructor(private readonly capacity = APPLIED_KEYS_CAPACITY) {}

  get size(): number {
    return this.results.size;
  }

  get(key: string): PublishResult | undefined {
    return this.results.get(key);
  }

  remember(key: string, result: PublishResult): void {
    if (this.results.has(key)) {
      this.results.set(key, result); // keeps its place in the order, as a Map does
      return;
    }
    this.results.set(key, result);
    if (this.ring.length < this.capacity) {
      this.ring.push(key);
      return;
    }
    const oldest = this.ring[this.head];
    this.ring[this.head] = key;
    this.head = this.head + 1 === this.capacity ? 0 : this.head + 1;
    this.results.delete(oldest);
  }

  /**
   * In columns: the keys in order, every result's `matched`, and the rare results that carry more
   * (reasonCode, duplicate, hold) by position. v8.serialize of 100k [key, {matched}] pairs took
   * ~290 ms here, ~10 % of each replica's CPU under fan-in QoS 1 (a snapshot every 100k commands),
   * and restoring them a second; the columns serialize in ~40 ms.
   */
  snapshot(): AppliedKeysSnapshot {
    const keys = new Array<string>(this.results.size);
    const matched = new Int32Array(this.results.size);
    const more: Array<[number, PublishResult]> = [];
    let i = 0;
    for (const [key, result] of this.results) {
      keys[i] = key;
      matched[i] = result.matched;
      if (result.reasonCode !== undefined || result.duplicate !== undefined || result.hold !== undefined || Object.keys(result).length !== 1) more.push([i, result]);
      i++;
    }
    return { keys, matched, more };
  }

  /** Columns (`snapshot`), or the [key, result] pairs of snapshots written before them. */
  restore(state: unknown): void {
    this.results.clear();
    this.ring = [];
    this.head = 0;
    if (Array.isArray(state)) {
      for (const [key, result] of state as Array<[string, PublishResult]>) this.remember(key, result);
      return;
    }
    const cols = state as Partial<AppliedKeysSnapshot> | undefined;
    if (!cols || !Array.isArray(cols.keys) || !(cols.matched instanceof Int32Array) || cols.matched.length !== cols.keys.length) return;
    const more = new Map<number, PublishResult>(Array.isArray(cols.more) ? cols.more : []);
    for (let i = 0; i < cols.keys.length; i++) this.remember(cols.keys[i], more.get(i) ?? { matched: cols.matched[i] });
  }
}

export interface AppliedKeysSnapshot {
  keys: string[];
  matched: Int32Array;
  /** Results with more than `matched`, by position in `keys`. */
  more: Array<[number, PublishResult]>;
}
