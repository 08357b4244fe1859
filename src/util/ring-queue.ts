/**
 * A FIFO queue on a growable ring buffer: O(1) push/shift without the O(n) cost of Array#shift,
 * and without per-element allocation. Session queues use it on every queued delivery.
 */
export class RingQueue<T> {
  private items: (T | undefined)[];
  private head = 0;
  private count = 0;

  /** Starts empty (most sessions never queue anything); grows to 8, then doubles. */
  constructor(initialCapacity = 0) {
    this.items = new Array(initialCapacity);
  }

  get length(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) % this.items.length] = item;
    this.count++;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.count--;
    return item;
  }

  /** Removes the newest item. */
  pop(): T | undefined {
    if (this.count === 0) return undefined;
    this.count--;
    const at = (this.head + this.count) % this.items.length;
    const item = this.items[at];
    this.items[at] = undefined;
    return item;
  }

  peek(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.count = 0;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.count; i++) yield this.items[(this.head + i) % this.items.length] as T;
  }

  /** Keeps the items for which `keep` returns true, in order. */
  filter(keep: (item: T) => boolean): void {
    const kept: T[] = [];
    for (const item of this) if (keep(item)) kept.push(item);
    this.clear();
    for (const item of kept) this.push(item);
  }

  private grow(): void {
    const next = new Array<T | undefined>(Math.max(8, this.items.length * 2));
    for (let i = 0; i < this.count; i++) next[i] = this.items[(this.head + i) % this.items.length];
    this.items = next;
    this.head = 0;
  }
}
