/**
 * The vocabulary shared by the front end and the back end: messages, subscriptions, deliveries.
 * Plain data only (Buffers, numbers, strings), so every value can cross a process boundary or be
 * written to a command log unchanged.
 */

export type QoS = 0 | 1 | 2;

/** MQTT 5 PUBLISH properties that travel with a message from publisher to subscribers unchanged. */
export interface PassThroughProperties {
  payloadFormatIndicator?: boolean;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: Record<string, string | string[]>;
}

export interface Message {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  /** Client id of the publisher ('' for broker-originated messages such as $SYS and wills of unknown origin). */
  origin: string;
  /** Absolute wall-clock expiry in ms, from Message Expiry Interval; undefined = never. */
  expiresAt?: number;
  /** The expiry comes from the broker's cap, not the publisher: enforced, but not sent to subscribers. */
  expiryHidden?: boolean;
  properties?: PassThroughProperties;
}

export interface SubscriptionOptions {
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  /** Subscription Identifier (v5), 0 = none. */
  subscriptionId: number;
}

export interface SubscriptionRequest extends SubscriptionOptions {
  /** The filter as the client sent it, including a `$share/{group}/` prefix if any. */
  filter: string;
}

export interface Will {
  /** `expiresAt` is unset here: a will's Message Expiry Interval counts from when it is published. */
  message: Message;
  /** Will Delay Interval in seconds (v5); 0 = publish at once. */
  delaySeconds: number;
  /** Message Expiry Interval of the will (seconds), applied when it is published. */
  expirySeconds?: number;
}

/**
 * One message for one session, as the back end hands it to the front end that holds the live connection.
 * `packetId` is 0 for QoS 0. The same `message` object is shared by every delivery of one publish so the
 * front end can encode it once.
 */
export interface Delivery {
  message: Message;
  qos: QoS;
  packetId: number;
  dup: boolean;
  /** Retain flag as it goes on the wire (retain-as-published, or true for retained-on-subscribe). */
  retain: boolean;
  /** Subscription identifiers of every matching subscription of this session (v5). */
  subscriptionIds?: number[];
  /**
   * Messages still queued for this session behind this one (not yet in flight). The front end
   * uses it to tell when a subscriber it pushed back for has caught up.
   */
  backlog?: number;
}

/** Where the back end pushes work for one live connection; implemented by the front end. */
export interface SessionSink {
  /** Deliver a PUBLISH. Called synchronously from inside the back end; must not throw. */
  deliver(d: Delivery): void;
  /** Send a PUBREL for an outbound QoS 2 message (after PUBREC, or again after reconnect); 0x92 = no such flow. */
  release(packetId: number, reasonCode?: number): void;
  /** The session was taken over or ended by the broker: close the connection with this reason code. */
  kick(reasonCode: number): void;
}

export interface ConnectRequest {
  clientId: string;
  /** Unique per network connection, so late commands of an old connection are ignored after a takeover. */
  connectionId: number;
  protocolVersion: 3 | 4 | 5;
  cleanStart: boolean;
  /** Session Expiry Interval granted (already capped by limits); 3.1.1: 0 if clean, else 'never' (0xFFFFFFFF). */
  sessionExpirySeconds: number;
  /** Outbound window: the client's Receive Maximum (capped), 3.1.1: broker default. */
  receiveMaximum: number;
  will?: Will;
  /** Username and attributes of the authenticated principal (used by authorization later). */
  username?: string;
}

export interface ConnectResult {
  sessionPresent: boolean;
  /** Cluster: the resumed session's subscriptions, for the front end's own QoS 0 routing (cluster/client/direct-qos0.ts). */
  subscriptions?: SubscriptionRequest[];
}

export interface PublishResult {
  /** Number of sessions the message was routed to (0 -> PUBACK 0x10 No matching subscribers in v5). */
  matched: number;
  /** Set when the message was not accepted (e.g. quota). */
  reasonCode?: number;
  /** A re-sent QoS 2 PUBLISH whose packet id was still held: not routed again. */
  duplicate?: boolean;
  /**
   * Cluster, with `duplicate`: the idempotency key under which the first sending went to the other
   * partitions. The front end sends the rest of the fan-out again under it (partitions that applied
   * it drop it): the front end of the first sending may have died before it did.
   */
  hold?: string;
  /**
   * The longest queue of a draining (online, not stalled) session this message had to wait in:
   * how far behind the slowest healthy receiver is. The front end pushes back on the publisher
   * when it grows (see frontend/pushback.ts).
   */
  backlog?: number;
}

export interface DisconnectRequest {
  clientId: string;
  connectionId: number;
  /** True when the client sent DISCONNECT 0x00: the will is discarded. */
  normal: boolean;
  /** DISCONNECT may lower/raise the Session Expiry Interval (v5). */
  sessionExpirySeconds?: number;
}
