import type {
  ConnectRequest,
  ConnectResult,
  DisconnectRequest,
  Message,
  PublishResult,
  SessionSink,
  SubscriptionRequest,
} from './types.js';
import type { KvRequest, KvResult } from '../partition/kv-store.js';
import type { BrokerStats } from './broker-stats.js';

export type { BrokerStats };

/**
 * The only door between the front end and the state of the broker. In-process on one node
 * (`LocalBrokerCore`), remote on a cluster. Every call is asynchronous because on a cluster every
 * call is a round trip; a promise resolves only once the change is as durable as the broker promises.
 */
export interface BrokerCore {
  /** Open or resume a session; takes over a live connection of the same client id. */
  connect(req: ConnectRequest, sink: SessionSink): Promise<ConnectResult>;

  /** The connection ended (DISCONNECT or socket loss): publish or schedule the will, start session expiry. */
  disconnect(req: DisconnectRequest): Promise<void>;

  /** Returns one reason code per request (granted QoS or failure). Retained messages follow through the sink. */
  subscribe(clientId: string, connectionId: number, subs: SubscriptionRequest[]): Promise<number[]>;

  /** Returns one reason code per filter (0x00 or 0x11 No subscription existed). */
  unsubscribe(clientId: string, connectionId: number, filters: string[]): Promise<number[]>;

  /**
   * Route a message. A QoS 0 publish resolves at once, never rejects and reports no match count
   * (`matched: -1`): nothing waits for it. For an inbound QoS 2 message `packetId` makes the publish idempotent: a repeated
   * PUBLISH with an id the session still holds is not routed again.
   */
  publish(clientId: string, message: Message, packetId?: number): Promise<PublishResult>;

  /**
   * `publish` for a client's QoS 1/2 PUBLISH, with the outcome reported to `sink` instead of a
   * promise: the hot path of every acknowledged message, without a promise or closure per message.
   * `sink.publishDone(tag, ...)` is called exactly once per call, in call order: before this returns
   * when there is nothing to wait for, else once the message is as durable as the broker promises.
   */
  publishAcked(clientId: string, message: Message, packetId: number | undefined, sink: PublishOutcomeSink, tag: number): void;

  /** PUBREL from the client for an inbound QoS 2 id; resolves to 0x00 or 0x92 Packet identifier not found. */
  release(clientId: string, connectionId: number, packetId: number): Promise<number>;

  /** Subscriber acknowledgements of outbound messages: PUBACK, PUBREC (or PUBREC with error), PUBCOMP. */
  acknowledge(clientId: string, connectionId: number, packetId: number, kind: AckKind, reasonCode?: number): void;

  /**
   * The front end's verdict on a live connection (see frontend/pushback.ts): `stalled` when it took
   * no bytes and acknowledged nothing for the configured time, false again once it drains. Only a
   * stalled (or offline) session's queue is held to the queue policy; for a draining one the
   * front end slows the publishers down instead, guided by `PublishResult.backlog`.
   */
  setStalled(clientId: string, connectionId: number, stalled: boolean): void;

  /** A state-store (DSS) operation, applied in the partition that holds the keys (see partition/kv-store.ts). */
  kv(request: KvRequest): Promise<KvResult>;

  /**
   * Cluster: every message a client of this front end publishes on `topic` is also handed to
   * `handler`, with the client's connection (cluster-wide id), once it is accepted (a QoS 2 resend
   * is handed over once). The state store answers its requests this way, from the front end holding
   * the requester's connection. Absent on one node, where the responder subscribes.
   */
  tapRequests?(topic: string, handler: (message: Message, connectionId: number) => void): void;

  /** Counters for $SYS topics and metrics. */
  stats(): BrokerStats;

  close(): Promise<void>;
}

export type AckKind = 'puback' | 'pubrec' | 'pubcomp';

/** Where `publishAcked` reports: the result, or the MqttError to answer the publisher with. */
export interface PublishOutcomeSink {
  publishDone(tag: number, result: PublishResult | undefined, error: Error | undefined): void;
}


/** One session as the admin API shows it. */
export interface SessionInfo {
  clientId: string;
  online: boolean;
  protocolVersion: 3 | 4 | 5;
  sessionExpirySeconds: number;
  /** When an offline session ends (ms epoch); absent while online or when it never expires. */
  expiresAt?: number;
  subscriptions: Array<{ filter: string; qos: number; noLocal: boolean; retainAsPublished: boolean; retainHandling: number; subscriptionId: number }>;
  queued: number;
  inflight: number;
  hasWill: boolean;
}

export interface RetainedInfo {
  topic: string;
  qos: number;
  bytes: number;
  expiresAt?: number;
}

/**
 * Read access to the back end's state for operators (admin API, console, `edgemq status`). Not on any
 * message path: each call walks the state it reports. On a cluster, the remote core asks the head
 * of every partition and answers from those that reply (hence promises).
 */
export interface BrokerInspector {
  sessions(): Promise<SessionInfo[]>;
  session(clientId: string): Promise<SessionInfo | undefined>;
  retained(): Promise<RetainedInfo[]>;
}
