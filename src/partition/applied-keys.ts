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

  snapshot(): Array<[string, PublishResult]> {
    return [...this.results];
  }

  restore(state: unknown): void {
    this.results.clear();
    this.ring = [];
    this.head = 0;
    if (!Array.isArray(state)) return;
    for (const [key, result] of state as Array<[string, PublishResult]>) this.remember(key, result);
  }
}
