/**
 * Delays between reconnect attempts: exponential from `minMs` to `maxMs`, with "full jitter" in the
 * upper half (each delay is drawn from [d/2, d]). The jitter keeps the many bridge clients of one
 * connector (one per route and share) from reconnecting in lock-step after a cloud outage.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt; each call doubles the ceiling until `maxMs`. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  /** After a successful connection the next failure starts again from `minMs`. */
  reset(): void {
    this.attempt = 0;
  }
}
