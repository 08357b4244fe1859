/**
 * Publish-to-delivery latency of real traffic, sampled: one client PUBLISH in 64 is stamped when
 * its packet has been read, and every delivery of that same message written to a subscriber's
 * socket is observed. One sample is followed at a time (the next stamp replaces it), so the hot
 * path costs a counter increment per publish and one reference comparison per delivery, plus two
 * clock reads per 64 publishes (most of the cost: about 10 ns per message in a micro-benchmark);
 * the histogram is plain numbers read at scrape time (`edgemq_delivery_latency_seconds`).
 *
 * In-process only: it follows the message object from the publisher's channel through the
 * partition to the subscriber's, as in `edgemq serve`. A cluster front end receives deliveries
 * decoded from a back end's frames, never the object its client published, so it observes nothing
 * and the self-check probe measures the cluster path.
 */
import { performance } from 'node:perf_hooks';
import type { Message } from '../core/types.js';
import { LatencyHistogram } from '../observability/histogram.js';

/** A power of two: the test is a mask. */
const EVERY_MASK = 63;

export const deliveryLatency = new LatencyHistogram();

let tick = 0;
let sample: Message | undefined;
let stampedAt = 0;

/** A client's PUBLISH, about to be routed. */
export function published(m: Message): void {
  tick = (tick + 1) & EVERY_MASK; // stays a small integer
  if (tick !== 0) return;
  sample = m;
  stampedAt = performance.now();
}

/** A delivery written to a subscriber's socket (retained-on-subscribe copies are not publish latency). */
export function delivered(m: Message, retained: boolean): void {
  if (m !== sample || retained) return;
  deliveryLatency.observe((performance.now() - stampedAt) / 1000);
}
