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
 * Held compactly because it is large and written into every snapshot (every 100k logged
 * commands: about every second under a QoS 1 stream): a plain result (`matched` only, nearly all
 * of them) is kept as its number, not an object (100k long-lived objects were promoted to the old
 * generation, one per QoS 1 message), and the keys are also appended, as UTF-8, to blocks of
 * bytes, so a snapshot is a few buffers and a Float64Array: ~4 ms for 100k keys. v8.serialize
 * of 100k `[key, result]` pairs took ~150 ms (an event-loop stall every snapshot, 6-10 % of a back
 * end's busy time), of flat arrays 20-40 ms (their elements are written one by one).
 */
import { writeUtf8 } from '../util/write-utf8.js';
import type { PublishResult } from '../core/types.js';

/** Keys remembered per partition: a retry comes within seconds, and 100k appends cover far longer under load. */
export const APPLIED_KEYS_CAPACITY = 100_000;

/**
 * The counts of a snapshot: a Float64Array, or its bytes as MessagePack carries a typed array (an
 * export travels to the coordinator and back as MessagePack). Same machine byte order at both ends.
 */
function asFloat64(v: unknown): Float64Array | undefined {
  if (v instanceof Float64Array) return v;
  if (!(v instanceof Uint8Array) || v.byteLength % 8 !== 0) return undefined;
  return new Float64Array(Uint8Array.from(v).buffer); // a copy: the view may not be 8-byte aligned
}

/** A result as stored: its `matched` count when that is all it holds, else the result itself. */
type Stored = number | PublishResult;

/**
 * The snapshot form: the keys in order as (u16 length, UTF-8)* in `blocks`, the first `skip` of
 * them evicted already, and their results. Earlier forms ([key, result] pairs; {keys, results}
 * with `keys` a string array) are still restored.
 */
interface AppliedKeysState {
  blocks: Buffer[];
  skip: number;
  /** Each key's `matched`; NaN where the result is in `others` (a Float64Array serializes as one copy, an array element by element). */
  counts: Float64Array;
  others: Array<[index: number, result: PublishResult]>;
}

const BLOCK_BYTES = 64 * 1024;

interface Block {
  bytes: Buffer;
  used: number;
  count: number;
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
  /** The keys as bytes, oldest first; the first `skip` keys of blocks[0] are evicted. */
  private blocks: Block[] = [];
  private skip = 0;

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
    this.append(key);
    if (this.ring.length < this.capacity) {
      this.ring.push(key);
      return;
    }
    const oldest = this.ring[this.head];
    this.ring[this.head] = key;
    this.head = this.head + 1 === this.capacity ? 0 : this.head + 1;
    this.results.delete(oldest);
    if (++this.skip === this.blocks[0].count) {
      this.blocks.shift();
      this.skip = 0;
    }
  }

  private append(key: string): void {
    let b = this.blocks[this.blocks.length - 1];
    const need = 2 + 3 * key.length;
    if (b === undefined || b.used + need > b.bytes.length) {
      b = { bytes: Buffer.allocUnsafeSlow(Math.max(BLOCK_BYTES, need)), used: 0, count: 0 };
      this.blocks.push(b);
    }
    const n = writeUtf8(b.bytes, b.used + 2, key);
    b.bytes[b.used] = n;
    b.bytes[b.used + 1] = n >>> 8;
    b.used += 2 + n;
    b.count++;
  }

  /**
   * Takes in the keys of another partition's snapshot (a handover's export): its sessions moved
   * here, and an append it applied to them may be sent again, now to this partition (a QoS 2
   * resend whose PUBREC was lost goes out under its first key). Keys known here keep their own
   * result. Only the newest `limit` come, so this partition keeps at least the rest of its own.
   */
  adopt(state: unknown, limit = this.capacity >> 1): void {
    const other = new AppliedKeys(this.capacity);
    other.restore(state);
    const entries = other.entries();
    for (let i = Math.max(0, entries.length - limit); i < entries.length; i++) {
      const [key, result] = entries[i];
      if (!this.results.has(key)) this.remember(key, result);
    }
  }

  /** Oldest first, for inspection and tests. */
  entries(): Array<[string, PublishResult]> {
    return [...this.results].map(([k, s]) => [k, load(s)]);
  }

  snapshot(): AppliedKeysState {
    const counts = new Float64Array(this.results.size);
    const others: Array<[number, PublishResult]> = [];
    let i = 0;
    for (const s of this.results.values()) {
      if (typeof s === 'number') counts[i] = s;
      else {
        counts[i] = NaN;
        others.push([i, s]);
      }
      i++;
    }
    // Views of the bytes written so far: appends go after them, evictions do not touch bytes.
    return { blocks: this.blocks.map((b) => b.bytes.subarray(0, b.used)), skip: this.skip, counts, others };
  }

  restore(state: unknown): void {
    this.results.clear();
    this.ring = [];
    this.head = 0;
    this.blocks = [];
    this.skip = 0;
    if (Array.isArray(state)) {
      for (const [key, result] of state as Array<[string, PublishResult]>) this.remember(key, result);
      return;
    }
    const s = state as { blocks?: unknown; skip?: unknown; counts?: unknown; others?: unknown; keys?: unknown; results?: unknown } | null | undefined;
    if (!s) return;
    if (Array.isArray(s.keys) && Array.isArray(s.results)) {
      for (let i = 0; i < s.keys.length; i++) this.remember(s.keys[i] as string, load(s.results[i] as Stored));
      return;
    }
    const counts = asFloat64(s.counts);
    if (!Array.isArray(s.blocks) || counts === undefined) return;
    const others = new Map(Array.isArray(s.others) ? (s.others as Array<[number, PublishResult]>) : []);
    const results = { length: counts.length, at: (i: number): Stored => (Number.isNaN(counts[i]) ? others.get(i) ?? { matched: 0 } : counts[i]) };
    let skip = typeof s.skip === 'number' ? s.skip : 0;
    let i = 0;
    for (const block of s.blocks as Uint8Array[]) {
      const bytes = Buffer.from(block.buffer, block.byteOffset, block.byteLength);
      for (let at = 0; at + 2 <= bytes.length; ) {
        const n = bytes[at] | (bytes[at + 1] << 8);
        const key = bytes.toString('utf8', at + 2, at + 2 + n);
        at += 2 + n;
        if (skip > 0) {
          skip--;
          continue;
        }
        if (i < results.length) this.remember(key, load(results.at(i++)));
      }
    }
  }
}
