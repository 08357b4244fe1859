/**
 * Small packets bound for one socket, copied into one slab and handed to the stream as one Buffer
 * per flush. Why: a stream keeps an entry object per `write()` until the kernel takes the bytes,
 * and a subscriber that is behind holds thousands of them (1 MiB of 70-byte deliveries is ~15,000
 * entries plus their buffers), which every young-generation GC copies. Copying a small packet
 * costs less than that; large ones (payloads above COALESCE_MAX) are written as they are, never
 * copied.
 *
 * A slab is never written over once a part of it was handed to the stream: the next bytes go after
 * it, and a full slab is replaced, not reused (the stream may still hold it).
 */
export const COALESCE_MAX = 2048;
const SLAB_BYTES = 64 * 1024;

export class WriteBatch {
  private slab: Buffer | undefined;
  /** Start of the bytes not yet handed out, and end of the bytes copied in. */
  private from = 0;
  private to = 0;

  /** Something was added since the last `wasUsed()`: the connection is still busy. */
  private used = false;

  /** Bytes copied in and not yet taken. */
  get pending(): number {
    return this.to - this.from;
  }

  /**
   * Copies `bytes` in. False when they are too large to be batched, or there is no slab or no room
   * in it: the caller takes what is pending first (order), then writes them itself or renews.
   */
  add(bytes: Buffer): boolean {
    const n = bytes.length;
    const slab = this.slab;
    if (n > COALESCE_MAX || slab === undefined || this.to + n > slab.length) return false;
    slab.set(bytes, this.to);
    this.to += n;
    this.used = true;
    return true;
  }

  /**
   * `add` for a packet whose shared bytes need this connection's packet id at `packetIdAt`: copied
   * and stamped in the slab, so a QoS 1/2 fan-out makes no buffer of its own per subscriber.
   */
  addStamped(bytes: Buffer, packetIdAt: number, packetId: number): boolean {
    const at = this.to;
    if (!this.add(bytes)) return false;
    // By hand: Buffer's writeUInt16BE validates its arguments on every call, and this is per delivery.
    this.slab![at + packetIdAt] = packetId >> 8;
    this.slab![at + packetIdAt + 1] = packetId & 0xff;
    return true;
  }

  /** Whether anything was added since the last call (the watchdog's idle test). */
  wasUsed(): boolean {
    const used = this.used;
    this.used = false;
    return used;
  }

  /** A fresh slab; call with nothing pending. */
  renew(): void {
    this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    this.from = 0;
    this.to = 0;
  }

  /** The pending bytes, as a view the stream may keep; undefined when there are none. */
  take(): Buffer | undefined {
    if (this.to === this.from) return undefined;
    const out = this.slab!.subarray(this.from, this.to);
    this.from = this.to;
    return out;
  }
}
