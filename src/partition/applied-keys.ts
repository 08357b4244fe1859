/**
 * Idempotency keys of the cluster's QoS 1/2 appends a partition has applied, with their results.
 * A front end whose partition head died before answering cannot know whether the command reached
 * the successor; it sends it again with the same key, and a key seen here is answered with the
 * remembered result instead of being routed twice (issue 15: QoS 2 stays exactly once).
 *
 * Part of the replicated state machine: every replica applies the same commands in the same
 * order, so insertion order and eviction (oldest first, past `capacity`) are the same on all of
 * them. It travels in snapshots as the partition extension `appliedKeys`.
 *
 * Held compactly because it is large and written into every snapshot: a plain result (`matched`
 * only, nearly all of them) is kept as its number, not an object (100k long-lived objects were
 * promoted to the old generation one per QoS 1 message), and the snapshot is two flat arrays,
 * keys and results, not 100k `[key, result]` pairs: v8.serialize of the pairs took ~150 ms per
 * snapshot, an event-loop stall every 100k logged commands, the flat arrays ~30 ms.
 */
import type { PublishResult } from '../core/types.js';

/** Keys remembered per partition: a retry comes within seconds, and 100k appends cover far longer under load. */
export const APPLIED_KEYS_CAPACITY = 100_000;

/** A result as stored: its `matched` count when that is all it holds, else the result itself. */
type Stored = number | PublishResult;

/** The snapshot form (the earlier form, an array of [key, result] pairs, is still restored). */
interface AppliedKeysState {
  keys: string[];
  results: Stored[];
}

function store(result: PublishResult): Stored {
  for (const k in result) if (k !== 'matched') return result;
  return result.matched;
}

function load(s: Stored): PublishResult {
  return typeof s === 'number' ? { matched: s } : s;
}

export class AppliedKeys {
  private readonly results = new Map<string, Stored>();
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
    const s = this.results.get(key);
    return s === undefined ? undefined : load(s);
  }

  remember(key: string, result: PublishResult): void {
    // One lookup, not has() then set(): the map is large (a cache miss each) and the key is new nearly always.
    const before = this.results.size;
    this.results.set(key, store(result));
    if (this.results.size === before) return; // a known key: new result, same place in the order (as a Map does)
    if (this.ring.length < this.capacity) {
      this.ring.push(key);
      return;
    }
    const oldest = this.ring[this.head];
    this.ring[this.head] = key;
    this.head = this.head + 1 === this.capacity ? 0 : this.head + 1;
    this.results.delete(oldest);
  }

  /** Oldest first, for inspection and tests. */
  entries(): Array<[string, PublishResult]> {
    return [...this.results].map(([k, s]) => [k, load(s)]);
  }

  snapshot(): AppliedKeysState {
    const keys = new Array<string>(this.results.size);
    const results = new Array<Stored>(this.results.size);
    let i = 0;
    for (const [k, s] of this.results) {
      keys[i] = k;
      results[i++] = s;
    }
    return { keys, results };
  }

  restore(state: unknown): void {
    this.results.clear();
    this.ring = [];
    this.head = 0;
    if (Array.isArray(state)) {
      for (const [key, result] of state as Array<[string, PublishResult]>) this.remember(key, result);
      return;
    }
    const s = state as Partial<AppliedKeysState> | null | undefined;
    if (!s || !Array.isArray(s.keys) || !Array.isArray(s.results)) return;
    for (let i = 0; i < s.keys.length; i++) this.remember(s.keys[i], load(s.results[i]));
  }
}
