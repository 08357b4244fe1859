/**
 * A copy in memory nobody else shares (never the pool of small Buffers): it may be moved to another
 * thread (a store's `transferList`) without emptying any other view.
 */
export function ownCopy(b: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(b.length);
  b.copy(copy);
  return copy;
}

/** `b` itself when it owns all of its memory, else ownCopy(b): what can be moved to another thread. */
export function movable(b: Buffer): Buffer {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : ownCopy(b);
}
