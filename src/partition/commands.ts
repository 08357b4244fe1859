/**
 * Commands that drive a partition. A partition's state is a pure function of the ordered list of
 * commands it has applied, so the same list can be written to a durable log, replayed after a crash,
 * or shipped down a replication chain. Every command therefore carries its own `now` (wall clock, ms):
 * the state machine never reads a clock.
 */
import type { AckKind } from '../core/broker-core.js';
import type { ConnectRequest, DisconnectRequest, Message, SubscriptionRequest } from '../core/types.js';
import type { KvRequest } from './kv-store.js';
import type { HandoverState } from './handover.js';

/** The front end's request as a command; the username stays with the front end (authorization). */
export interface ConnectCommand extends Omit<ConnectRequest, 'username'> {
  type: 'connect';
  now: number;
}

export interface DisconnectCommand extends DisconnectRequest {
  type: 'disconnect';
  now: number;
}

export interface SubscribeCommand {
  type: 'subscribe';
  now: number;
  clientId: string;
  connectionId: number;
  subs: SubscriptionRequest[];
}

export interface UnsubscribeCommand {
  type: 'unsubscribe';
  now: number;
  clientId: string;
  connectionId: number;
  filters: string[];
}

export interface PublishCommand {
  type: 'publish';
  now: number;
  clientId: string;
  message: Message;
  /** Inbound QoS 2 packet id: makes the publish idempotent until released. */
  packetId?: number;
  /**
   * On a cluster (`PartitionLimits.cluster`) the share groups (`{group}/{filter}`) this partition
   * serves for this message; it serves no other group, since each group gets a message once
   * cluster-wide and the front end picked the partition for it. Ignored on a single node.
   */
  groups?: string[];
  /** Cluster: a share group's message redispatched from another partition (a member's session ended): `groups` only, no direct subscriber. */
  groupsOnly?: boolean;
  /**
   * Cluster: idempotency key of a QoS 1/2 append (publisher, front-end connection, per-connection
   * sequence). A front end retries an append whose head died unanswered against the new head; the
   * partition answers a key it has applied with the remembered result instead of routing again
   * (partition/applied-keys.ts).
   */
  key?: string;
  /**
   * Cluster, QoS 0 only: the front-end instance that already wrote this message to every live
   * connection of its own whose subscriptions match (cluster/client/direct-qos0.ts). The partition
   * skips the sessions whose live connection is on that front end.
   */
  direct?: number;
  /**
   * With `direct`: that front end wrote only to its connections below this cluster-wide connection
   * id (its CONNECTs from this id on were unanswered: it did not know their subscriptions yet). The
   * partition delivers to the others as usual.
   */
  directBelow?: number;
}

export interface ReleaseCommand {
  type: 'release';
  now: number;
  clientId: string;
  connectionId: number;
  packetId: number;
}

export interface AckCommand {
  type: 'ack';
  now: number;
  clientId: string;
  connectionId: number;
  packetId: number;
  kind: AckKind;
  reasonCode: number;
}

/**
 * Acknowledgements of one connection and kind in a row, as a front end reads them from one socket
 * chunk (a subscriber's PUBACKs: 20 per message of a cluster's fan-out). The same as one AckCommand
 * per entry, applied in order; one command instead of many to decode, log and dispatch.
 */
export interface AcksCommand {
  type: 'acks';
  now: number;
  clientId: string;
  connectionId: number;
  kind: AckKind;
  packetIds: number[];
  /** Parallel to packetIds. */
  reasonCodes: number[];
}

/**
 * The front end's verdict on one live connection: `stalled` when it took no bytes and acknowledged
 * nothing for the configured time. Only a stalled (or offline) session's queue is bounded by the
 * queue policy; a draining one is protected by pushing back on the publishers instead.
 */
export interface FlowCommand {
  type: 'flow';
  now: number;
  clientId: string;
  connectionId: number;
  stalled: boolean;
}

/** Advances time: delayed wills, session expiry, retained and queued message expiry. */
export interface TickCommand {
  type: 'tick';
  now: number;
}

/** After a restart no connection is live any more: every session goes offline as if its socket broke. */
export interface RestartCommand {
  type: 'restart';
  now: number;
  /** Time of the last command before the crash: connections are taken to have ended then. */
  crashedAt: number;
}

/** A state-store (DSS) operation on the keys this partition holds (see kv-store.ts). */
export interface KvCommand {
  type: 'kv';
  now: number;
  request: KvRequest;
}

/**
 * Cluster: state-store KEYNOTIFY registrations of connections that ended, for a partition that
 * holds keys but not the session (it cannot see that connection end). Sent by the front end of a
 * connection when it ends (`connectionId`), and by a back end for every connection of a front end
 * that died (`frontEnd`: its instance number).
 */
export type UnwatchCommand =
  | { type: 'unwatch'; now: number; clientId: string; connectionId: number }
  | { type: 'unwatch'; now: number; frontEnd: number };

/**
 * Live re-partitioning (src/partition/handover.ts): the sessions and state-store keys of the slots
 * [from, to) leave this partition. Applied through the chain, so the cut is the same on every
 * replica; the result is the state the target imports.
 */
export interface ExportCommand {
  type: 'export';
  now: number;
  /** The handover's id (the epoch of the map that started it); a second export of the same move answers the first result. */
  move: number;
  from: number;
  to: number;
}

/** The other half of a handover: the exported state joins this partition (idempotent per move). */
export interface ImportCommand {
  type: 'import';
  now: number;
  move: number;
  state: HandoverState;
}

export type Command =
  | ConnectCommand
  | DisconnectCommand
  | SubscribeCommand
  | UnsubscribeCommand
  | PublishCommand
  | ReleaseCommand
  | AckCommand
  | AcksCommand
  | FlowCommand
  | TickCommand
  | RestartCommand
  | KvCommand
  | UnwatchCommand
  | ExportCommand
  | ImportCommand;
