/**
 * The last-resort QoS 0 guard on a cluster link. Links push back instead of shedding: a front end
 * holds back publishers whose messages go to a link that is behind (remote-core.ts), a back end
 * stops reading front ends while one of them is behind with its deliveries (backend-node.ts). So a
 * link's backlog stays near its 1 MiB pushback mark plus one event-loop turn of input, and QoS 0 is
 * shed only where pushback cannot act: a peer that stopped taking bytes (a stalled front end), or
 * a backlog past QOS0_LINK_HARD_LIMIT_BYTES fed by senders that cannot be paused (wills,
 * notifications). As for a stalled subscriber on one node (frontend.ts), the drops are counted
 * ($SYS dropped) and logged once per episode with the peer, and again when it ends.
 */
import type { Logger } from 'pino';

/** Unsent bytes on a link past which QoS 0 is dropped even for a peer that still drains (as QOS0_HARD_LIMIT_BYTES for a client). */
export const QOS0_LINK_HARD_LIMIT_BYTES = 64 * 1024 * 1024;

export class Qos0ShedGuard {
  /** QoS 0 messages dropped over the life of the process. */
  dropped = 0;
  /** Peers in a shedding episode, with the drops of the episode. */
  private readonly episodes = new Map<string, number>();

  constructor(
    private readonly log: Logger,
    /** What is shed, for the log: "QoS 0 publishes to a back end", "QoS 0 deliveries to a front end". */
    private readonly what: string,
  ) {}

  /**
   * Whether a QoS 0 message for `peer` is dropped. `stalled`: the peer took nothing for the stall
   * time while bytes waited for it. Cheap when nothing is wrong: one comparison.
   */
  shed(peer: string, backlog: number, stalled: boolean): boolean {
    if (!stalled && backlog <= QOS0_LINK_HARD_LIMIT_BYTES) {
      if (this.episodes.size > 0 && this.episodes.has(peer)) this.end(peer, backlog);
      return false;
    }
    this.dropped++;
    const n = this.episodes.get(peer);
    if (n === undefined) {
      this.episodes.set(peer, 1);
      this.log.warn({ peer, backlogBytes: backlog, stalled }, `${this.what} shed: the link is ${stalled ? 'stalled' : 'past its hard limit'} (counted in $SYS/broker/messages/dropped)`);
    } else {
      this.episodes.set(peer, n + 1);
    }
    return true;
  }

  /** The peer drained, or its link is gone: the episode ends. */
  end(peer: string, backlog = 0): void {
    const n = this.episodes.get(peer);
    if (n === undefined) return;
    this.episodes.delete(peer);
    this.log.warn({ peer, backlogBytes: backlog, dropped: n }, `${this.what}: shedding ended`);
  }
}
