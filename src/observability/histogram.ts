/**
 * A latency histogram of plain numbers, for paths too hot for a library call per observation (the
 * storage room's writes): `observe` is a short loop over fixed bounds and two additions. The
 * metrics room turns it into a Prometheus histogram at scrape time (`histogramMetric`).
 */

/** Seconds: 50 µs to 5 s, the span between a page-cache write and a stalled fsync. */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export class LatencyHistogram {
  /** counts[i]: observations in (bounds[i-1], bounds[i]]; the last slot is +Inf. Not cumulative. */
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[] = LATENCY_BUCKETS_SECONDS) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(seconds: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }
}
