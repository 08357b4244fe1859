/**
 * The state store's MQTT 5 responder: an in-process system client of the broker. It opens a session
 * through `BrokerCore.connect` with its own sink, subscribes to the request topic, and answers every
 * request on the request's Response Topic with its Correlation Data, exactly as Azure IoT MQ's state
 * store does. The keys live in the partition state machine (`core.kv`), not here: this class only
 * translates between RESP3-over-MQTT and `KvRequest`/`KvResult`.
 *
 * Authorization of keys (Azure's `stateStoreResources`) is the `authorize` hook: the security room
 * supplies it; without it every key is allowed.
 *
 * On a cluster (`local`) each front end's responder answers the requests of its own clients, handed
 * over by the core with the requester's connection (`BrokerCore.tapRequests`) instead of through a
 * subscription: a KEYNOTIFY registration is then tied to that connection wherever the key lives, and
 * key authorization sees the listener the client came through.
 */
import type { Logger } from 'pino';
import type { BrokerCore } from '../core/broker-core.js';
import type { Delivery, Message, SessionSink } from '../core/types.js';
import { KvErrors, STATESTORE_NOTIFY_PREFIX, STATESTORE_REQUEST_TOPIC, type KvRequest } from '../partition/kv-store.js';
import { accessOf, encodeResult, parseOp } from './protocol.js';
import { encodeError, parseCommand } from './resp3.js';

export { STATESTORE_NOTIFY_PREFIX, STATESTORE_REQUEST_TOPIC };

/** Client id of the responder's session. Front ends should refuse it (and all of `$edgemq/`) for network clients. */
export const STATESTORE_CLIENT_ID = '$edgemq/statestore';
/** System clients use negative connection ids, so they never collide with the front end's (1, 2, ...). */
export const STATESTORE_CONNECTION_ID = -1;

export type StateStoreAccess = 'read' | 'write';

/** Decides whether `clientId` may read or write `key` (Azure: Read = GET/KEYNOTIFY, Write = SET/DEL/VDEL). */
export type StateStoreAuthorizer = (clientId: string, key: Buffer, access: StateStoreAccess) => boolean | Promise<boolean>;

export interface StateStoreResponderOptions {
  core: BrokerCore;
  log?: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  authorize?: StateStoreAuthorizer;
  /** A cluster runs one responder per front end, each with its own client id (origin of its replies). Default: the single node's. */
  clientId?: string;
  /** Cluster: take the requests of this front end's clients from the core (`tapRequests`) instead of subscribing. */
  local?: boolean;
}

interface Pending {
  message: Message;
  /** Cluster: the requester's connection (cluster-wide id). */
  connectionId?: number;
  /** The delivery to acknowledge once answered (subscription mode). */
  delivery?: Delivery;
}

export class StateStoreResponder {
  private readonly queue: Pending[] = [];
  private draining = false;
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly sink: SessionSink = {
    deliver: (d) => this.enqueue({ message: d.message, delivery: d }),
    release: (packetId) => this.core.acknowledge(this.clientId, STATESTORE_CONNECTION_ID, packetId, 'pubcomp'),
    kick: (reasonCode) => {
      this.opts.log?.warn({ reasonCode }, 'state store session was closed by the broker; reconnecting');
      if (!this.stopped) this.reconnectTimer = setTimeout(() => void this.start().catch((err: Error) => this.opts.log?.warn({ err: err.message }, 'state store session not resumed')), 200);
    },
  };

  private readonly clientId: string;

  constructor(private readonly opts: StateStoreResponderOptions) {
    this.clientId = opts.clientId ?? STATESTORE_CLIENT_ID;
  }

  private enqueue(p: Pending): void {
    this.queue.push(p);
    // Requests arrive from inside the core (a partition, or a client's publish): never call back into it synchronously.
    if (!this.draining) setImmediate(() => void this.drain());
  }

  private get core(): BrokerCore {
    return this.opts.core;
  }

  async start(): Promise<void> {
    this.stopped = false;
    if (this.opts.local) {
      if (!this.core.tapRequests) throw new Error('this broker core cannot hand state-store requests to a local responder');
      this.core.tapRequests(STATESTORE_REQUEST_TOPIC, (message, connectionId) => {
        if (!this.stopped) this.enqueue({ message, connectionId });
      });
      return;
    }
    await this.core.connect(
      {
        clientId: this.clientId,
        connectionId: STATESTORE_CONNECTION_ID,
        protocolVersion: 5,
        cleanStart: true,
        sessionExpirySeconds: 0,
        receiveMaximum: 65535,
      },
      this.sink,
    );
    const [rc] = await this.core.subscribe(this.clientId, STATESTORE_CONNECTION_ID, [
      { filter: STATESTORE_REQUEST_TOPIC, qos: 1, noLocal: true, retainAsPublished: false, retainHandling: 2, subscriptionId: 0 },
    ]);
    if (rc === undefined || rc >= 0x80) throw new Error(`state store could not subscribe to its request topic (reason ${rc})`);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    if (this.opts.local) return;
    await this.core.disconnect({ clientId: this.clientId, connectionId: STATESTORE_CONNECTION_ID, normal: true });
  }

  /** Requests are answered one at a time, in arrival order, so one client's requests keep their order. */
  private async drain(): Promise<void> {
    this.draining = true;
    try {
      for (let p = this.queue.shift(); p; p = this.queue.shift()) {
        try {
          await this.handle(p.message, p.connectionId);
        } catch (err) {
          this.opts.log?.error({ err }, 'state store request failed');
        }
        const d = p.delivery;
        if (!d) continue;
        if (d.qos === 1) this.core.acknowledge(this.clientId, STATESTORE_CONNECTION_ID, d.packetId, 'puback');
        else if (d.qos === 2) this.core.acknowledge(this.clientId, STATESTORE_CONNECTION_ID, d.packetId, 'pubrec');
      }
    } finally {
      this.draining = false;
    }
  }

  private async handle(m: Message, connectionId: number | undefined): Promise<void> {
    const responseTopic = m.properties?.responseTopic;
    if (!responseTopic) {
      this.opts.log?.debug({ client: m.origin }, 'state store request without a response topic ignored');
      return;
    }
    if (responseTopic === STATESTORE_REQUEST_TOPIC || responseTopic.startsWith(STATESTORE_NOTIFY_PREFIX.slice(0, -1))) {
      this.opts.log?.warn({ client: m.origin, responseTopic }, 'state store request with a forbidden response topic ignored');
      return;
    }
    const { payload, version } = await this.execute(m, connectionId);
    const response: Message = { topic: responseTopic, payload, qos: m.qos === 0 ? 0 : 1, retain: false, origin: this.clientId };
    // No empty userProperties object: mqtt-packet then writes a PUBLISH that never reaches the client.
    const properties: NonNullable<Message['properties']> = {};
    if (version) properties.userProperties = { __ts: version };
    if (m.properties?.correlationData) properties.correlationData = m.properties.correlationData;
    if (properties.userProperties || properties.correlationData) response.properties = properties;
    if (m.expiresAt !== undefined) response.expiresAt = m.expiresAt;
    await this.core.publish(this.clientId, response);
  }

  private async execute(m: Message, connectionId: number | undefined): Promise<{ payload: Buffer; version?: string }> {
    const args = parseCommand(m.payload);
    if (!args) return { payload: encodeError(KvErrors.syntax) };
    const parsed = parseOp(args);
    if (!parsed.ok) return { payload: encodeError(parsed.message) };
    const authorize = this.opts.authorize;
    if (authorize) {
      const { read, write } = accessOf(parsed.op);
      for (const [keys, access] of [[read, 'read'], [write, 'write']] as const) {
        for (const key of keys) {
          if (!(await authorize(m.origin, key, access))) return { payload: encodeError(KvErrors.notAuthorized) };
        }
      }
    }
    const req: KvRequest = { clientId: m.origin, op: parsed.op };
    if (connectionId !== undefined) req.connectionId = connectionId;
    const props = m.properties?.userProperties;
    const ts = first(props?.__ts) ?? first(props?.Timestamp);
    const ft = first(props?.__ft) ?? first(props?.FencingToken);
    if (ts !== undefined) req.timestamp = ts;
    if (ft !== undefined) req.fencingToken = ft;
    const result = await this.core.kv(req);
    return { payload: encodeResult(result), version: result.type === 'error' ? undefined : result.version };
  }
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
