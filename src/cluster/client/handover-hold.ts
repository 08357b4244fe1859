/**
 * A sender's part in a handover (live re-partitioning; the whole protocol is described in
 * src/cluster/handover.ts). Every process that sends commands to partitions (front ends, and back
 * ends routing wills) runs one inside its ClusterClient.
 *
 * While the map names a moving slot range from partition A:
 * - new publishes are held, all of them: any publish may match a subscription of a moving session,
 *   and the index cannot say which (it knows partitions, not sessions). They are routed by the
 *   index once the move is over, so they reach the sessions where they live then;
 * - new commands for A (session commands, state-store requests) are held, and sent after the move
 *   to the partition that owns their key then;
 * - once the publishes this process had in flight are answered (none straddles the cut: the rest
 *   of a QoS 2 publish goes out before), it sends A a `barrier` on the same link as its commands,
 *   so A knows that everything this process will ever send it for the old layout is applied.
 * When the map says the move is over, what was held is released in order, after this process's
 * index has applied the target partition's feed up to the position the import returned (the moved
 * sessions' subscriptions are in the index), or after `FEED_WAIT_MS`.
 */
import type { ClusterMap, SlotMove } from '../map.js';

/** The longest a sender waits for the target's feed before it releases what it held anyway. */
export const FEED_WAIT_MS = 3000;
/** How often a refused barrier is sent again (the source's link is down or its head is changing). */
const BARRIER_RETRY_MS = 100;

export interface HoldOptions {
  /** Sends the barrier to the move's source partition; `done(true)` once it is acknowledged. */
  sendBarrier(move: SlotMove, done: (ok: boolean) => void): void;
  /** Resolves once the index has applied `partition`'s feed up to `seq`. */
  feedReached(partition: number, seq: number): Promise<void>;
  /** Told when a barrier has waited `BARRIER_LATE_MS` for publishes in flight (diagnosis of a handover that does not end). */
  late?(move: SlotMove, inflight: number): void;
}

/** A barrier held back this long by unanswered publishes is reported (`late`). */
const BARRIER_LATE_MS = 5000;

export class HandoverHold {
  private move: SlotMove | undefined;
  private releasing = 0;
  private held: Array<() => void> = [];
  private barrierDone = false;
  /** The source's head the barrier went to: a new head (failover) has not seen it and gets it again. */
  private barrierHead: string | undefined;
  private barrierSending = false;
  /** The head of the moving range's source in the current map. */
  private head: string | undefined;
  /** Publishes somebody waits for that are not answered yet. */
  private inflight = 0;
  /** Publishes and commands held so far (reports, tests). */
  heldTotal = 0;

  constructor(private readonly opts: HoldOptions) {}

  /** True while new publishes must wait. */
  get holding(): boolean {
    return this.move !== undefined || this.releasing > 0;
  }

  /** True while a new command for `partition` must wait. */
  holds(partition: number): boolean {
    return this.releasing > 0 || (this.move !== undefined && this.move.source === partition);
  }

  hold(send: () => void): void {
    this.heldTotal++;
    this.held.push(send);
  }

  publishStarted(): void {
    this.inflight++;
  }

  publishAnswered(): void {
    this.inflight--;
    if (this.inflight === 0) this.maybeBarrier();
  }

  onMap(map: ClusterMap): void {
    const m = map.moving;
    if (this.move && m?.id !== this.move.id) this.finish(this.move, map);
    if (m && this.move?.id !== m.id) {
      this.move = m;
      this.barrierDone = false;
    }
    const head = m ? map.partitions.find((p) => p.id === m.source)?.chain[0] : undefined;
    if (this.barrierDone && head !== this.barrierHead) this.barrierDone = false;
    this.head = head;
    this.maybeBarrier();
  }

  private finish(move: SlotMove, map: ClusterMap): void {
    this.move = undefined;
    this.releasing++;
    const h = map.handedOver;
    const fed = h && h.id === move.id ? this.opts.feedReached(h.partition, h.feedSeq) : Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((r) => (timer = setTimeout(r, FEED_WAIT_MS)));
    void Promise.race([fed, late]).then(() => {
      clearTimeout(timer);
      this.releasing--;
      if (this.holding) return; // the next move started: it keeps holding, in order
      const held = this.held;
      this.held = [];
      for (const send of held) send();
    });
  }

  private maybeBarrier(): void {
    const move = this.move;
    if (!move || this.barrierDone || this.barrierSending) return;
    if (this.inflight > 0) {
      setTimeout(() => {
        if (this.move?.id === move.id && !this.barrierDone && !this.barrierSending && this.inflight > 0) this.opts.late?.(move, this.inflight);
      }, BARRIER_LATE_MS).unref();
      return;
    }
    this.barrierSending = true;
    const head = this.head;
    this.opts.sendBarrier(move, (ok) => {
      this.barrierSending = false;
      if (this.move?.id !== move.id || this.head !== head) return this.maybeBarrier();
      if (ok) {
        this.barrierDone = true;
        this.barrierHead = head;
      } else setTimeout(() => this.maybeBarrier(), BARRIER_RETRY_MS).unref();
    });
  }
}
