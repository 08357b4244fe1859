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
 * Held compactly because it is large, touched by every QoS 1/2 publish and written into every
 * snapshot (every 100k logged commands: about every second under a QoS 1 stream): cluster keys
 * live in typed arrays (Source), a plain result (`matched` only, nearly all of them) is kept as its
 * number, not an object (100k long-lived objects were promoted to the old generation, one per QoS 1
 * message), and the keys are also appended, as UTF-8, to blocks of bytes, so a snapshot is a few
 * buffers and a Float64Array: ~4 ms for 100k keys. v8.serialize of 100k `[key, result]` pairs took
 * ~150 ms (an event-loop stall every snapshot, 6-10 % of a back end's busy time), of flat arrays
 * 20-40 ms (their elements are written one by one).
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

/**
 * A result as a retry is answered with: what the message did, without the receivers' `backlog` of
 * the moment (it steers pushback then, and is no answer to a retry). Every publish result carries
 * one; kept, it made every result an object again: 100k live objects and a slow snapshot.
 */
function store(result: PublishResult): Stored {
  if (result.reasonCode === undefined && result.duplicate === undefined && result.hold === undefined) return result.matched;
  const kept: PublishResult = { matched: result.matched };
  if (result.reasonCode !== undefined) kept.reasonCode = result.reasonCode;
  if (result.duplicate !== undefined) kept.duplicate = result.duplicate;
  if (result.hold !== undefined) kept.hold = result.hold;
  return kept;
}

function load(s: Stored): PublishResult {
  return typeof s === 'number' ? { matched: s } : s;
}

/**
 * A cluster key is `<node>/<instance>/<sequence>` (ClusterClient): one front-end process's appends
 * in order. Its keys sit in a direct-mapped window indexed by the sequence, so a lookup is one read
 * of a typed array next to the previous one, where a Map of 100k strings missed the cache several
 * times per lookup (a fifth of a back end's time under a QoS 1 stream). The window doubles while a
 * new key would share a slot with a live one, up to MAX_WINDOW slots; there, the live key ends: its
 * front end has made MAX_WINDOW newer keys since. As deterministic as the ring: every replica
 * applies the same keys in the same order.
 */
class Source {
  /** Per slot: the sequence held (EMPTY: none), its ring entry, and its result's `matched` (OTHER: the result is in `others`). */
  seqs: Float64Array;
  entries: Int32Array;
  counts: Uint32Array;
  readonly others = new Map<number, PublishResult>();
  /** Entries of the eviction ring that belong to this source: at 0 it is dropped. */
  live = 0;
  constructor(
    readonly prefix: string,
    size: number,
  ) {
    this.seqs = new Float64Array(size).fill(EMPTY);
    this.entries = new Int32Array(size);
    this.counts = new Uint32Array(size);
  }
}

const EMPTY = -1;
const OTHER = 0xffffffff;
const FIRST_WINDOW = 1024;
const MAX_WINDOW = 1 << 17;
const SLASH = 47;
const ZERO = 48;

/** The result of a live slot. */
function resultAt(src: Source, slot: number, seq: number): PublishResult | undefined {
  const c = src.counts[slot];
  return c === OTHER ? src.others.get(seq) : { matched: c };
}

function setResult(src: Source, slot: number, seq: number, result: PublishResult): void {
  const s = store(result);
  if (src.counts[slot] === OTHER) src.others.delete(seq);
  if (typeof s === 'number' && Number.isInteger(s) && s >= 0 && s < OTHER) src.counts[slot] = s;
  else {
    src.counts[slot] = OTHER;
    src.others.set(seq, load(s));
  }
}

/**
 * Doubles the window until `seq`'s slot holds no live key, or it has MAX_WINDOW slots. Only the key
 * in `seq`'s slot now can meet it in a larger window (both are the same modulo the present size),
 * and live keys never meet when it grows: sequences apart modulo n are apart modulo 2n.
 */
function grow(src: Source, seq: number): void {
  const held = src.seqs[seq % src.seqs.length];
  let size = src.seqs.length;
  while (size < MAX_WINDOW) {
    size *= 2;
    if (held % size !== seq % size) break;
  }
  if (size === src.seqs.length) return;
  const seqs = new Float64Array(size).fill(EMPTY);
  const entries = new Int32Array(size);
  const counts = new Uint32Array(size);
  for (let i = 0; i < src.seqs.length; i++) {
    const s = src.seqs[i];
    if (s === EMPTY) continue;
    const slot = s % size;
    seqs[slot] = s;
    entries[slot] = src.entries[i];
    counts[slot] = src.counts[i];
  }
  src.seqs = seqs;
  src.entries = entries;
  src.counts = counts;
}

export class AppliedKeys {
  private readonly sources = new Map<string, Source>();
  /** Keys of any other form (tests, another key format), by name. */
  private readonly plain = new Map<string, Stored>();
  /** The keys in insertion order, a ring of `capacity` entries (the oldest is evicted first): a plain key's string, or a cluster key's source and sequence. */
  private ring: Array<Source | string> = [];
  private readonly ringSeqs: Float64Array;
  private head = 0;
  private count = 0;
  /** The keys as bytes, oldest first; the first `skip` keys of blocks[0] are evicted. */
  private blocks: Block[] = [];
  private skip = 0;
  /** What `parse` found: the key's source (undefined: none yet), its prefix and sequence. */
  private hit: Source | undefined;
  private hitPrefix = '';
  private hitSeq = 0;
  private last: Source | undefined;

  constructor(private readonly capacity = APPLIED_KEYS_CAPACITY) {
    this.ringSeqs = new Float64Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  /**
   * Splits a cluster key into source and sequence (false: another form). Only the canonical
   * decimal form counts (no leading zero, 15 digits at most), so one sequence is one key.
   */
  private parse(key: string): boolean {
    const n = key.length;
    let i = n - 1;
    while (i >= 0) {
      const c = key.charCodeAt(i);
      if (c < ZERO || c > ZERO + 9) break;
      i--;
    }
    const digits = n - 1 - i;
    if (digits === 0 || digits > 15 || i < 0 || key.charCodeAt(i) !== SLASH) return false;
    if (digits > 1 && key.charCodeAt(i + 1) === ZERO) return false;
    let seq = 0;
    for (let j = i + 1; j < n; j++) seq = seq * 10 + (key.charCodeAt(j) - ZERO);
    this.hitSeq = seq;
    const last = this.last;
    if (last !== undefined && last.prefix.length === i + 1 && key.startsWith(last.prefix)) {
      this.hit = last;
      return true;
    }
    this.hitPrefix = key.slice(0, i + 1);
    this.hit = this.sources.get(this.hitPrefix);
    if (this.hit !== undefined) this.last = this.hit;
    return true;
  }

  get(key: string): PublishResult | undefined {
    if (!this.parse(key)) {
      const s = this.plain.get(key);
      return s === undefined ? undefined : load(s);
    }
    const src = this.hit;
    if (src === undefined) return undefined;
    const seq = this.hitSeq;
    const slot = seq % src.seqs.length;
    return src.seqs[slot] === seq ? resultAt(src, slot, seq) : undefined;
  }

  remember(key: string, result: PublishResult): void {
    if (!this.parse(key)) {
      // One lookup, not has() then set(): the key is new nearly always.
      const before = this.plain.size;
      this.plain.set(key, store(result));
      if (this.plain.size === before) return; // a known key: new result, same place in the order (as a Map does)
      this.count++;
      this.append(key);
      this.push(key, 0);
      return;
    }
    const seq = this.hitSeq;
    let src = this.hit;
    if (src === undefined) {
      src = new Source(this.hitPrefix, FIRST_WINDOW);
      this.sources.set(src.prefix, src);
      this.last = src;
    }
    let slot = seq % src.seqs.length;
    if (src.seqs[slot] === seq) return setResult(src, slot, seq, result); // a known key: new result, same place
    if (src.seqs[slot] !== EMPTY) {
      grow(src, seq);
      slot = seq % src.seqs.length;
      if (src.seqs[slot] !== EMPTY) this.forget(src, slot);
    }
    src.seqs[slot] = seq;
    setResult(src, slot, seq, result);
    src.live++;
    this.count++;
    this.append(key);
    src.entries[slot] = this.push(src, seq);
  }

  /** A live key leaves its window (evicted, or replaced at MAX_WINDOW); its ring entry stays until the ring passes it. */
  private forget(src: Source, slot: number): void {
    if (src.counts[slot] === OTHER) src.others.delete(src.seqs[slot]);
    src.seqs[slot] = EMPTY;
    this.count--;
  }

  /** Appends an entry to the ring, evicting the oldest when full; returns the entry's index. */
  private push(entry: Source | string, seq: number): number {
    if (this.ring.length < this.capacity) {
      this.ringSeqs[this.ring.length] = seq;
      return this.ring.push(entry) - 1;
    }
    const at = this.head;
    const oldest = this.ring[at];
    const oldSeq = this.ringSeqs[at];
    this.ring[at] = entry;
    this.ringSeqs[at] = seq;
    this.head = at + 1 === this.capacity ? 0 : at + 1;
    if (typeof oldest === 'string') {
      if (this.plain.delete(oldest)) this.count--;
    } else {
      const slot = oldSeq % oldest.seqs.length;
      if (oldest.seqs[slot] === oldSeq && oldest.entries[slot] === at) this.forget(oldest, slot);
      if (--oldest.live === 0) {
        this.sources.delete(oldest.prefix);
        if (this.last === oldest) this.last = undefined;
      }
    }
    if (++this.skip === this.blocks[0].count) {
      this.blocks.shift();
      this.skip = 0;
    }
    return at;
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
      if (this.get(key) === undefined) this.remember(key, result);
    }
  }

  /**
   * Every ring entry oldest first, with its result, or undefined where its key is no longer live
   * (replaced at MAX_WINDOW: a snapshot keeps the entry, as the key bytes do, and a restore that
   * remembers every entry in order ends it again the same way).
   */
  private walk(visit: (entry: Source | string, seq: number, result: PublishResult | undefined) => void): void {
    const n = this.ring.length;
    const first = n < this.capacity ? 0 : this.head;
    for (let k = 0; k < n; k++) {
      const at = first + k < n ? first + k : first + k - n;
      const entry = this.ring[at];
      const seq = this.ringSeqs[at];
      if (typeof entry === 'string') {
        const s = this.plain.get(entry);
        visit(entry, 0, s === undefined ? undefined : load(s));
        continue;
      }
      const slot = seq % entry.seqs.length;
      visit(entry, seq, entry.seqs[slot] === seq && entry.entries[slot] === at ? resultAt(entry, slot, seq) : undefined);
    }
  }

  /** The live keys, oldest first, for inspection and tests. */
  entries(): Array<[string, PublishResult]> {
    const out: Array<[string, PublishResult]> = [];
    this.walk((entry, seq, result) => {
      if (result !== undefined) out.push([typeof entry === 'string' ? entry : entry.prefix + String(seq), result]);
    });
    return out;
  }

  snapshot(): AppliedKeysState {
    const counts = new Float64Array(this.ring.length);
    const others: Array<[number, PublishResult]> = [];
    let i = 0;
    this.walk((_entry, _seq, result) => {
      const s = result === undefined ? 0 : store(result);
      if (typeof s === 'number') counts[i] = s;
      else {
        counts[i] = NaN;
        others.push([i, s]);
      }
      i++;
    });
    // Views of the bytes written so far: appends go after them, evictions do not touch bytes.
    return { blocks: this.blocks.map((b) => b.bytes.subarray(0, b.used)), skip: this.skip, counts, others };
  }

  restore(state: unknown): void {
    this.sources.clear();
    this.plain.clear();
    this.last = undefined;
    this.ring = [];
    this.head = 0;
    this.count = 0;
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
