/**
 * One client's session as the back end keeps it: subscriptions, the outbound queue and inflight
 * window (with the packet ids they were sent under), inbound QoS 2 ids awaiting PUBREL, the will,
 * and expiry. Plain state; the rules that change it live in `partition.ts`.
 */
import type { Message, QoS, SubscriptionRequest, Will } from '../core/types.js';
import { RingQueue } from '../util/ring-queue.js';
import type { ShareGroup } from './routes.js';

export const NEVER_EXPIRES = 0xffffffff;

const EMPTY_MAP: ReadonlyMap<never, never> = new Map<never, never>();

/** A message waiting for, or travelling to, one session. */
export interface Pending {
  message: Message;
  qos: QoS;
  retain: boolean;
  subscriptionIds?: number[];
  /** Set when the message reached this session through a shared subscription, so it can be redispatched. */
  share?: ShareGroup;
}

export interface Inflight extends Pending {
  packetId: number;
  /** 'publish': PUBLISH sent, waiting for PUBACK/PUBREC. 'pubrel': PUBREL sent, waiting for PUBCOMP. */
  stage: 'publish' | 'pubrel';
}

export class Session {
  /** 0 while no connection is live. */
  connectionId = 0;
  protocolVersion: 3 | 4 | 5 = 4;
  sessionExpirySeconds = 0;
  /** When an offline session ends (ms); undefined while online or when it never expires. */
  expiresAt: number | undefined;
  receiveMaximum = 65535;
  /** The live connection stopped draining (front end's verdict, FlowCommand): the queue policy applies. */
  stalled = false;
  readonly queue = new RingQueue<Pending>();
  // Most sessions of an edge site are publishers that never subscribe or receive QoS 1/2, so the
  // collections below are created on first write; reads of an absent one see a shared empty one.
  private subs: Map<string, SubscriptionRequest> | undefined;
  private flight: Map<number, Inflight> | undefined;
  private qos2In: Map<number, string> | undefined;
  will: Will | undefined;
  /** When a delayed will is due (ms), set while the connection is gone and the delay runs. */
  willAt: number | undefined;
  /** Next packet identifier to try (persisted so a restored session continues the sequence). */
  nextId = 1;

  /** Scratch fields for aggregating overlapping subscriptions during one publish (see Router). */
  matchEpoch = 0;
  matchQos: QoS = 0;
  matchRetain = false;
  matchSubIds: number[] | undefined;
  matchNoLocalOnly = false;

  constructor(readonly clientId: string) {}

  get subscriptions(): ReadonlyMap<string, SubscriptionRequest> {
    return this.subs ?? EMPTY_MAP;
  }

  writableSubscriptions(): Map<string, SubscriptionRequest> {
    return (this.subs ??= new Map());
  }

  /** Insertion order is send order, which is the order to re-send in after a reconnect. */
  get inflight(): ReadonlyMap<number, Inflight> {
    return this.flight ?? EMPTY_MAP;
  }

  writableInflight(): Map<number, Inflight> {
    return (this.flight ??= new Map());
  }

  /**
   * Inbound QoS 2 packet ids between PUBLISH and PUBREL, each with its hold: the idempotency key
   * of the cluster append that took the id ('' on a single node or unkeyed). The publish was routed
   * to the other partitions under that key, so a resend through another front end can route it
   * again under the same key and partitions that already applied it drop it (cluster-client.ts).
   */
  get incomingQos2(): ReadonlyMap<number, string> {
    return this.qos2In ?? EMPTY_MAP;
  }

  writableIncomingQos2(): Map<number, string> {
    return (this.qos2In ??= new Map());
  }

  get online(): boolean {
    return this.connectionId !== 0;
  }

  /** Next free packet identifier, skipping ids still in flight. Deterministic so replay reproduces it. */
  allocatePacketId(): number {
    for (let tries = 0; tries < 65535; tries++) {
      const id = this.nextId;
      this.nextId = id === 65535 ? 1 : id + 1;
      if (!this.inflight.has(id)) return id;
    }
    return 0;
  }
}
