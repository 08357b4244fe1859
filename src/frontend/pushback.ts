/**
 * Overload protection: when a subscriber is behind but still draining, the broker stops reading
 * the sockets of the publishers whose messages go to it (TCP backpressure, as HiveMQ's overload
 * protection does) instead of dropping messages it already acknowledged. Only a subscriber that
 * stopped draining (no bytes taken, nothing acknowledged for `stalledSubscriberSeconds`) is
 * "stalled": then it no longer holds anyone back, and the queue policy applies to it instead.
 *
 * Everything here is decided by the front end from its own connections plus what the core says
 * through its callbacks, so the same holds for an in-process and a remote BrokerCore:
 * - a subscriber's socket backlog, seen when a delivery is written while a publisher's message is
 *   being routed (the in-process core delivers synchronously): that publisher waits for the
 *   subscriber's 'drain';
 * - `PublishResult.backlog`, the longest queue of a draining session the message waited in: the
 *   publisher waits until a delivery reports that a subscriber which was behind caught up
 *   (`Delivery.backlog`), or at most `QUEUE_RETRY_MS`, then tries again;
 * - the stalled verdict goes to the core as data (`BrokerCore.setStalled`), so the partition's
 *   state machine stays free of clocks.
 *
 * The state lives in one object per connection, made when a connection first takes part.
 */

/** A connection as pushback sees it. */
export interface FlowParty {
  readonly flow: FlowState;
  pauseInput(): void;
  resumeInput(): void;
  /** Ask for `drained(this)` once the socket's backlog is written out (or the connection ends). */
  watchDrain(): void;
}

export class FlowState {
  // ---- as a publisher
  /** Reasons this connection's input is paused (subscribers it waits for, plus the queue wait). */
  blockers = 0;
  queueWaiting = false;
  // ---- as a subscriber
  /** Publishers paused until this connection's socket drains. */
  waiters: FlowParty[] | undefined;
  /** Its session queue was long: a delivery showing it short again lets queue-waiting publishers go on. */
  queueBehind = false;
  stalled = false;
  /** QoS 1/2 deliveries written and not yet acknowledged. */
  unacked = 0;
  /** Acknowledgements received (progress, compared by the watchdog). */
  acks = 0;
  lastProgress = -1;
  quietSince = 0;
  /** QoS 0 messages dropped during the current stalled episode. */
  episodeDrops = 0;
}

/** Socket backlog (bytes accepted, not yet taken by the kernel) at which a subscriber is behind. */
export const SOCKET_BEHIND_BYTES = 1024 * 1024;
/**
 * Unacknowledged QoS 1/2 deliveries at which a subscriber is behind: a 3.1.1 client may be sent up
 * to 65535, which would park a second of traffic in socket buffers (delivery latency) before the
 * byte threshold noticed. Released again at half of it.
 */
export const UNACKED_BEHIND = 2000;
/** Past this a QoS 0 message is dropped even for a draining subscriber: memory stays bounded for publishers that cannot be paused. */
export const QOS0_HARD_LIMIT_BYTES = 64 * 1024 * 1024;
/** Longest a publisher waits for a queue it cannot see (a remote subscriber, one that stalls) before trying again. */
const QUEUE_RETRY_MS = 50;

/** The publisher whose message is being routed right now (in-process core: deliveries happen inside the call). */
let current: FlowParty | undefined;
const queueWaiters: FlowParty[] = [];
let retryTimer: NodeJS.Timeout | undefined;
/** Times a publisher's input was paused, over the life of the process (metric `edgemq_publishers_throttled`). */
let pauses = 0;

export function pauseCount(): number {
  return pauses;
}

/** Session queue length at which a draining subscriber holds its publishers back. */
export function queueHigh(queueLength: number): number {
  return Math.max(1, Math.min(2000, queueLength >> 1));
}

export function routing(p: FlowParty | undefined): void {
  current = p;
}

/**
 * A subscriber is behind (socket backlog, or too many unacknowledged deliveries) while the current
 * publisher's message is written to it: the publisher waits for its 'drain' or its acknowledgements.
 */
export function socketBehind(sub: FlowParty): void {
  const f = sub.flow; // made here too when nobody waits, so the watchdog judges this reader
  const p = current;
  if (p === undefined || p === sub || f.stalled) return;
  if (f.waiters === undefined) {
    f.waiters = [p];
    sub.watchDrain();
  } else if (f.waiters.includes(p)) {
    return;
  } else {
    f.waiters.push(p);
  }
  block(p);
}

/** The subscriber's socket drained, it stalled, or it ended: the publishers waiting for it go on. */
export function drained(sub: FlowParty): void {
  const f = sub.flow;
  const waiters = f.waiters;
  if (waiters === undefined) return;
  f.waiters = undefined;
  for (let i = 0; i < waiters.length; i++) unblock(waiters[i]);
}

/** The core reports that the publisher's message waited behind `backlog` messages of a draining session. */
export function queued(p: FlowParty, backlog: number, high: number): void {
  if (backlog < high) return;
  const f = p.flow;
  if (f.queueWaiting) return;
  f.queueWaiting = true;
  queueWaiters.push(p);
  block(p);
  retryTimer ??= setTimeout(releaseQueueWaiters, QUEUE_RETRY_MS);
}

/** A delivery to `sub` reports its session queue's length. */
export function deliveredWithBacklog(sub: FlowParty, backlog: number, high: number): void {
  const f = sub.flow;
  if (backlog >= high) {
    f.queueBehind = true;
  } else if (f.queueBehind && backlog <= high >> 2) {
    f.queueBehind = false;
    releaseQueueWaiters();
  }
}

/** Publishers waiting for a queue go on; one whose subscriber is still behind is told so by its next outcome. */
export function releaseQueueWaiters(): void {
  if (retryTimer !== undefined) {
    clearTimeout(retryTimer);
    retryTimer = undefined;
  }
  const n = queueWaiters.length;
  if (n === 0) return;
  const list = queueWaiters.splice(0, n);
  for (let i = 0; i < n; i++) {
    list[i].flow.queueWaiting = false;
    unblock(list[i]);
  }
}

function block(p: FlowParty): void {
  if (p.flow.blockers++ === 0) {
    pauses++;
    p.pauseInput();
  }
}

function unblock(p: FlowParty): void {
  const f = p.flow;
  if (f.blockers > 0 && --f.blockers === 0) p.resumeInput();
}

/**
 * The watchdog's look at one subscriber: `pending` when something waits to be taken or
 * acknowledged, `progress` a counter that moves when it takes bytes or acknowledges. Returns the
 * new verdict when it changed.
 */
export function judge(f: FlowState, pending: boolean, progress: number, now: number, stallMs: number): 'stalled' | 'draining' | undefined {
  if (!pending || progress !== f.lastProgress) {
    f.lastProgress = progress;
    f.quietSince = now;
    if (f.stalled) {
      f.stalled = false;
      return 'draining';
    }
    return undefined;
  }
  if (!f.stalled && now - f.quietSince >= stallMs) {
    f.stalled = true;
    return 'stalled';
  }
  return undefined;
}
