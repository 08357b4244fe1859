/**
 * A link's commands waiting for their replies, by request id. Ids are handed out one after another
 * and mostly answered in that order, so each sits in the slot of its low bits; an id whose slot is
 * still taken by an older one that waits long (a keyed append across a failover, a slow request)
 * goes to a Map beside. A Map for all of them cost a set, a get and a delete per command with a
 * rehash now and then: the front end's busiest lines after the publish itself (fan-in QoS 1 profile).
 */
const SLOTS = 1 << 15;
const MASK = SLOTS - 1;

export class PendingTable<T> {
  private readonly slots: Array<T | undefined> = new Array<T | undefined>(SLOTS).fill(undefined);
  private readonly ids = new Float64Array(SLOTS);
  /** Per slot, the order in which it was set (entries() gives sending order across the id wrap). */
  private readonly orders = new Float64Array(SLOTS);
  private readonly overflow = new Map<number, { value: T; order: number }>();
  private order = 0;
  private count = 0;

  get size(): number {
    return this.count;
  }

  set(id: number, value: T): void {
    const s = id & MASK;
    const order = ++this.order;
    if (this.slots[s] === undefined) {
      this.slots[s] = value;
      this.ids[s] = id;
      this.orders[s] = order;
    } else this.overflow.set(id, { value, order });
    this.count++;
  }

  /** The value of `id`, removed from the table (undefined: none waits). */
  take(id: number): T | undefined {
    const s = id & MASK;
    const v = this.slots[s];
    if (v !== undefined && this.ids[s] === id) {
      this.slots[s] = undefined;
      this.count--;
      return v;
    }
    if (this.overflow.size === 0) return undefined;
    const o = this.overflow.get(id);
    if (o === undefined) return undefined;
    this.overflow.delete(id);
    this.count--;
    return o.value;
  }

  /** Every entry, in the order they were set. */
  entries(): Array<[number, T]> {
    const all: Array<[number, T, number]> = [];
    if (this.count > 0) {
      for (let s = 0; s < SLOTS; s++) {
        const v = this.slots[s];
        if (v !== undefined) all.push([this.ids[s], v, this.orders[s]]);
      }
      for (const [id, o] of this.overflow) all.push([id, o.value, o.order]);
    }
    return all.sort((a, b) => a[2] - b[2]).map(([id, v]) => [id, v]);
  }

  clear(): void {
    if (this.count === 0) return;
    this.slots.fill(undefined);
    this.overflow.clear();
    this.count = 0;
  }
}
