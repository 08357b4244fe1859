/**
 * The per-connection MQTT protocol machine for 3.1.1 and 5.0 (EMQX's "channel"): takes decoded
 * packets, enforces the protocol rules, talks to the back end only through `BrokerCore`, and writes
 * through a `Transport`. It never touches a socket and never knows where sessions live.
 *
 * Every rule violation is raised as an MqttError carrying the spec's reason code; `fail()` is the
 * one place that turns it into CONNACK (before the session exists) or DISCONNECT (after), or a bare
 * close for 3.1.1, which has no DISCONNECT from the server.
 */
import mqttPacket from 'mqtt-packet';
import type { ClientLimits } from '../config/model.js';
import type { BrokerCore, PublishOutcomeSink } from '../core/broker-core.js';
import type { ConnectResult, Delivery, Message, QoS, SessionSink } from '../core/types.js';
import { MqttError } from '../mqtt/errors.js';
import { RC, toV3Connack, toV3Suback } from '../mqtt/reason-codes.js';
import { validateTopicName } from '../topics/validate.js';
import { shortAck, type AckCmd } from './acks.js';
import { negotiateConnect, type ConnectTerms } from './connect-terms.js';
import { capExpiry, passThrough } from './message-properties.js';
import { encodeDelivery } from './outbound.js';
import { hasInvalidMqttString, isValidUtf8Payload } from './payload-format.js';
import * as pushback from './pushback.js';
import * as sampler from './delivery-sampler.js';
import { FlowState, QOS0_HARD_LIMIT_BYTES, SOCKET_BEHIND_BYTES, UNACKED_BEHIND, type FlowParty } from './pushback.js';
import type { Authenticator, Authorizer, ConnectFacts, Principal } from './ports.js';
import { sortSubscriptions, sortUnsubscriptions } from './subscription-requests.js';
import { InboundAliases, OutboundAliases } from './topic-alias.js';

export interface Transport {
  /** The verified client certificate chain of a TLS connection, leaf first. */
  readonly clientCertificates?: import('node:crypto').X509Certificate[];
  /**
   * Queue bytes for the socket (writes are batched per tick by the transport). False once the
   * unsent bytes reach the stream's high-water mark (then `backlog` is worth a look).
   */
  write(bytes: Buffer): boolean;
  /** `write` of `bytes` with `packetId` at `packetIdAt`; `bytes` are shared with other connections and stay as they are. */
  writeStamped(bytes: Buffer, packetIdAt: number, packetId: number): boolean;
  /** Bytes accepted but not yet handed to the kernel: how far behind the reader is. */
  readonly backlog: number;
  /** A counter that moves whenever the kernel takes bytes (progress of a reader, for the stall verdict). */
  readonly drainedBytes: number;
  /** Stop and restart reading the socket (pushback on a publisher, see pushback.ts). */
  pauseInput(): void;
  resumeInput(): void;
  /** Call `drained(channel)` once the backlog is written out, or the connection ends. */
  watchDrain(): void;
  /** The effective keep-alive (seconds) once connected, so the watchdog can enforce 1.5x. */
  setKeepAlive(seconds: number): void;
  /** Flush and close. Idempotent. */
  close(): void;
  readonly remoteAddress: string;
}

export interface ChannelContext {
  core: BrokerCore;
  limits: ClientLimits;
  listener: string;
  authn: Authenticator;
  authz: Authorizer;
  /** Told when a channel's session opens and when the channel ends (the front end's client id index). */
  registry?: ChannelRegistry;
}

export interface ChannelRegistry {
  opened(channel: Channel): void;
  closed(channel: Channel): void;
}

type State = 'new' | 'connecting' | 'connected' | 'closed';

/** Packets a client may pipeline behind its CONNECT while authentication runs. */
const MAX_EARLY_PACKETS = 1000;

let nextConnectionId = 1;
const SESSION_OPEN: Promise<unknown> = Promise.resolve();

export class Channel implements SessionSink, FlowParty {
  readonly connectionId = nextConnectionId++;
  private state: State = 'new';
  version: 3 | 4 | 5 = 4;
  clientId = '';
  private principal: Principal | undefined;
  /** When the credentials run out (ms epoch), 0 = never; the watchdog closes the connection then. */
  credentialsExpireAt = 0;
  private facts: ConnectFacts | undefined;
  private sessionExpiry = 0;
  private clientMaxPacket = 268435460;
  private inboundAliases: InboundAliases | undefined;
  private outboundAliases: OutboundAliases | undefined;
  /** Inbound QoS 1/2 PUBLISHes not yet acknowledged, for the Receive Maximum we advertised. */
  private inboundInflight = 0;
  /** Packets (or a decoding error) that arrived behind CONNECT while it is processed, in order. */
  private early: Array<mqttPacket.Packet | MqttError> | undefined;
  /** CONNECT parameters kept while an enhanced authentication exchange runs. */
  private pendingConnect: ConnectTerms | undefined;
  /** While a SUBSCRIBE is being processed, deliveries wait so that SUBACK goes first. */
  private holding = 0;
  /** Deliveries and PUBRELs that must wait for CONNACK or SUBACK, in order ({pubrel} = a PUBREL to re-send). */
  private held: Array<Delivery | { pubrel: number; rc: number }> | undefined;
  private dropped = 0;
  private connectSeen = false;
  /**
   * `core.connect` once asked, until the channel ends: a socket that ends before CONNACK must still
   * take the session offline, after the connect has settled (so a remote core sees them in order).
   */
  private opening: Promise<unknown> | undefined;
  /** Pushback and stall state, made when the connection first takes part (most never do). */
  flowState: FlowState | undefined;

  constructor(
    private readonly ctx: ChannelContext,
    private readonly transport: Transport,
  ) {}

  get connected(): boolean {
    return this.state === 'connected';
  }

  /** True once a CONNECT arrived (the connect timeout no longer applies). */
  get started(): boolean {
    return this.state !== 'new';
  }

  /** A method, not a field read, so TypeScript does not narrow it away across awaits. */
  private isClosed(): boolean {
    return this.state === 'closed';
  }

  /** The authenticated principal, for re-checks when security configuration changes. */
  get identity(): Principal | undefined {
    return this.principal;
  }

  get droppedQos0(): number {
    return this.dropped;
  }

  // ---- FlowParty (pushback.ts) ------------------------------------------------------------------

  get flow(): FlowState {
    return (this.flowState ??= new FlowState());
  }

  /** Reading is paused by pushback (the keep-alive clock does not run against the client then). */
  get inputPaused(): boolean {
    return this.flowState !== undefined && this.flowState.blockers > 0;
  }

  pauseInput(): void {
    this.transport.pauseInput();
  }

  resumeInput(): void {
    this.transport.resumeInput();
  }

  watchDrain(): void {
    this.transport.watchDrain();
  }

  /**
   * The front end's stall verdict: a stalled subscriber holds no publisher back any more, its QoS 0
   * messages are dropped and the core applies the queue policy to its session.
   */
  setStalled(stalled: boolean): void {
    if (this.isClosed() || !this.clientId) return;
    this.ctx.core.setStalled(this.clientId, this.connectionId, stalled);
    if (stalled) {
      pushback.drained(this);
      pushback.releaseQueueWaiters();
    } else if (this.flowState) {
      this.flowState.episodeDrops = 0;
    }
  }

  /** Entry point for every decoded packet. Never throws. */
  handle(packet: mqttPacket.Packet): void {
    if (this.isClosed()) return;
    if (this.state === 'connecting') {
      if (packet.cmd === 'connect') return this.fail(new MqttError(RC.ProtocolError, 'second CONNECT'));
      // AUTH belongs to the CONNECT only during enhanced authentication; otherwise it waits its turn like any packet.
      if (packet.cmd === 'auth' && this.pendingConnect) return this.guard(this.onAuth(packet as mqttPacket.IAuthPacket));
      this.early ??= [];
      if (this.early.length >= MAX_EARLY_PACKETS) return this.fail(new MqttError(RC.ReceiveMaximumExceeded, 'too many packets before CONNACK'));
      this.early.push(packet);
      return;
    }
    try {
      if (packet.cmd === 'connect' && this.state === 'new') {
        this.connectSeen = true;
        this.version = (packet as mqttPacket.IConnectPacket).protocolVersion as 3 | 4 | 5;
      }
      this.dispatch(packet);
    } catch (err) {
      this.fail(err);
    }
  }

  private dispatch(packet: mqttPacket.Packet): void {
    if (this.state === 'new') {
      // The first packet must be CONNECT [MQTT-3.1.0-1].
      if (packet.cmd !== 'connect') throw new MqttError(RC.ProtocolError, `expected CONNECT, got ${packet.cmd}`);
      return this.guard(this.onConnect(packet as mqttPacket.IConnectPacket));
    }
    switch (packet.cmd) {
      case 'publish':
        return this.onPublish(packet as mqttPacket.IPublishPacket);
      case 'puback':
        return this.onAck(packet as mqttPacket.IPubackPacket, 'puback');
      case 'pubrec':
        return this.onAck(packet as mqttPacket.IPubrecPacket, 'pubrec');
      case 'pubcomp':
        return this.onAck(packet as mqttPacket.IPubcompPacket, 'pubcomp');
      case 'pubrel':
        return this.guard(this.onPubrel(packet as mqttPacket.IPubrelPacket));
      case 'subscribe':
        return this.guard(this.onSubscribe(packet as mqttPacket.ISubscribePacket));
      case 'unsubscribe':
        return this.guard(this.onUnsubscribe(packet as mqttPacket.IUnsubscribePacket));
      case 'pingreq':
        return this.send({ cmd: 'pingresp' });
      case 'disconnect':
        return this.onDisconnect(packet as mqttPacket.IDisconnectPacket);
      case 'auth':
        return this.guard(this.onAuth(packet as mqttPacket.IAuthPacket));
      case 'connect':
        throw new MqttError(RC.ProtocolError, 'second CONNECT'); // [MQTT-3.1.0-2]
      default:
        // CONNACK, SUBACK, ... are server-to-client only.
        throw new MqttError(RC.ProtocolError, `unexpected ${packet.cmd} from a client`);
    }
  }

  private guard(p: Promise<void>): void {
    p.catch((err) => this.fail(err));
  }

  // ---- CONNECT ----------------------------------------------------------------------------------

  private async onConnect(p: mqttPacket.IConnectPacket): Promise<void> {
    this.state = 'connecting';
    this.version = p.protocolVersion as 3 | 4 | 5;
    // Known before the terms are checked: a refusing CONNACK must fit it too [MQTT-3.1.2-24].
    if (this.version === 5 && p.properties?.maximumPacketSize !== undefined) this.clientMaxPacket = p.properties.maximumPacketSize;
    const terms = negotiateConnect(p, this.ctx.limits);
    this.clientId = terms.clientId;
    this.sessionExpiry = terms.sessionExpiry;
    if (terms.clientMaxPacket !== undefined) this.clientMaxPacket = terms.clientMaxPacket;
    if (this.version === 5 && this.ctx.limits.topicAliasMaximum > 0) this.inboundAliases = new InboundAliases(this.ctx.limits.topicAliasMaximum);
    if (terms.outboundAliasMaximum > 0) this.outboundAliases = new OutboundAliases(terms.outboundAliasMaximum);

    const props = p.properties ?? {};
    this.facts = {
      clientId: terms.clientId,
      username: p.username,
      password: p.password,
      protocolVersion: this.version,
      authenticationMethod: props.authenticationMethod,
      authenticationData: props.authenticationData,
      listener: this.ctx.listener,
      remoteAddress: this.transport.remoteAddress,
      clientCertificates: this.transport.clientCertificates,
    };
    const verdict = await this.ctx.authn.authenticate(this.facts);
    if (this.isClosed()) return this.abandoned(verdict.ok === true ? verdict : undefined, terms);
    if (verdict.ok === 'continue') {
      this.send({ cmd: 'auth', reasonCode: RC.ContinueAuthentication, properties: { authenticationMethod: props.authenticationMethod, authenticationData: verdict.authenticationData } });
      this.pendingConnect = terms;
      return;
    }
    if (!verdict.ok) throw new MqttError(verdict.reasonCode, verdict.message ?? 'authentication failed');
    this.admit(verdict.principal, verdict.expiresAt);
    await this.openSession(terms);
  }

  /** Accepts an authenticated principal, if authorization lets it connect with this client id. */
  private admit(principal: Principal, expiresAt: number | undefined): void {
    if (this.facts) this.facts.password = undefined; // not needed after CONNECT; re-authentication uses AUTH data
    if (!this.ctx.authz.canConnect(principal)) throw new MqttError(RC.NotAuthorized, 'not authorized to connect');
    this.principal = principal;
    this.credentialsExpireAt = expiresAt ?? 0;
  }

  /**
   * The socket ended while authentication ran. An accepted CONNECT still opens its session and
   * ends it at once, as a broker reading CONNECT and EOF in one go does: the will goes out, a
   * persistent session starts its expiry, a clean one is removed.
   */
  private abandoned(accepted: { principal: Principal } | undefined, c: ConnectTerms | undefined): void {
    if (!accepted || !c || !this.ctx.authz.canConnect(accepted.principal)) return;
    this.principal = accepted.principal;
    this.requestSession(c);
    this.releaseSession(false, false, undefined);
  }

  private requestSession(c: ConnectTerms): Promise<ConnectResult> {
    const opening = this.ctx.core.connect(
      {
        clientId: this.clientId,
        connectionId: this.connectionId,
        protocolVersion: this.version,
        cleanStart: c.cleanStart,
        sessionExpirySeconds: this.sessionExpiry,
        receiveMaximum: c.receiveMaximum,
        will: c.will,
        username: this.principal?.username,
      },
      this,
    );
    this.opening = opening;
    return opening;
  }

  private async openSession(c: ConnectTerms): Promise<void> {
    const limits = this.ctx.limits;
    const opening = this.requestSession(c);
    const { sessionPresent } = await opening;
    // An open session only needs the fact that it is open; an idle connection keeps no promise.
    if (this.opening === opening) this.opening = SESSION_OPEN;
    if (this.isClosed()) return;
    const properties: Record<string, unknown> = {};
    if (this.version === 5) {
      properties.receiveMaximum = limits.receiveMaximum;
      properties.maximumPacketSize = limits.maxPacketSizeBytes;
      properties.topicAliasMaximum = limits.topicAliasMaximum;
      // A capped Session Expiry Interval is announced in CONNACK (MQTT 5 3.2.2.3.2).
      if (c.sessionExpiry !== c.sessionExpiryAsked) properties.sessionExpiryInterval = c.sessionExpiry;
      if (c.assigned) properties.assignedClientIdentifier = this.clientId;
      if (c.serverKeepAlive !== undefined) properties.serverKeepAlive = c.serverKeepAlive;
      if (this.facts?.authenticationMethod) properties.authenticationMethod = this.facts.authenticationMethod;
    }
    // Clean Start/Session means no session is present [MQTT-3.2.2-1]; MQTT 3.1 has no such bit (its byte is reserved).
    const present = sessionPresent && !c.cleanStart && this.version !== 3;
    this.send({ cmd: 'connack', sessionPresent: present, returnCode: 0, reasonCode: 0, properties: this.version === 5 ? properties : undefined });
    // Only enhanced authentication (AUTH re-authentication) needs the CONNECT facts later; without
    // it an idle connection does not keep them (nor the authenticator's per-connection state).
    if (!this.facts?.authenticationMethod) this.facts = undefined;
    this.state = 'connected';
    this.ctx.registry?.opened(this);
    this.transport.setKeepAlive(c.keepAlive);
    this.flushHeld(); // the resumed session's messages, which arrived before CONNACK went out
    const early = this.early;
    this.early = undefined;
    if (early) for (const item of early) {
      if (item instanceof MqttError) return this.fail(item);
      this.handle(item);
    }
  }


  // ---- AUTH -------------------------------------------------------------------------------------

  private async onAuth(p: mqttPacket.IAuthPacket): Promise<void> {
    if (this.version !== 5) throw new MqttError(RC.ProtocolError, 'AUTH needs MQTT 5');
    const method = p.properties?.authenticationMethod;
    if (!this.facts?.authenticationMethod || method !== this.facts.authenticationMethod) {
      throw new MqttError(RC.ProtocolError, 'AUTH without the authentication method of CONNECT'); // [MQTT-4.12.0-7]
    }
    const reauth = this.state === 'connected';
    if (reauth && p.reasonCode !== RC.ReAuthenticate) throw new MqttError(RC.ProtocolError, 're-authentication must use reason 0x19');
    if (!reauth && p.reasonCode !== RC.ContinueAuthentication) throw new MqttError(RC.ProtocolError, 'AUTH during CONNECT must use reason 0x18');
    this.facts.authenticationData = p.properties?.authenticationData;
    const verdict = await this.ctx.authn.continueAuth(this.facts, reauth);
    if (this.isClosed()) return reauth ? undefined : this.abandoned(verdict.ok === true ? verdict : undefined, this.pendingConnect);
    if (verdict.ok === 'continue') {
      this.send({ cmd: 'auth', reasonCode: RC.ContinueAuthentication, properties: { authenticationMethod: method, authenticationData: verdict.authenticationData } });
      return;
    }
    if (!verdict.ok) throw new MqttError(verdict.reasonCode, verdict.message ?? 'authentication failed');
    this.admit(verdict.principal, verdict.expiresAt);
    if (reauth) {
      this.send({ cmd: 'auth', reasonCode: RC.Success, properties: { authenticationMethod: method } });
      return;
    }
    const pending = this.pendingConnect;
    this.pendingConnect = undefined;
    if (!pending) throw new MqttError(RC.ProtocolError, 'AUTH without a pending CONNECT');
    await this.openSession(pending);
  }

  // ---- PUBLISH from the client ------------------------------------------------------------------

  private onPublish(p: mqttPacket.IPublishPacket): void {
    const qos = p.qos as QoS;
    const packetId = p.messageId ?? 0;
    // A zero packet id decodes fine but breaks [MQTT-2.2.1-3]: a Protocol Error, as Mosquitto also answers.
    if (qos > 0 && packetId === 0) throw new MqttError(RC.ProtocolError, 'QoS > 0 PUBLISH without packet id');
    const props = p.properties;
    if (props?.subscriptionIdentifier !== undefined) throw new MqttError(RC.ProtocolError, 'a client PUBLISH may not carry a Subscription Identifier'); // [MQTT-3.3.4-6]
    let topic = p.topic;
    if (props?.topicAlias !== undefined) {
      if (!this.inboundAliases) throw new MqttError(RC.TopicAliasInvalid, 'topic aliases are disabled'); // [MQTT-3.3.2-9]
      if (Array.isArray(props.topicAlias)) throw new MqttError(RC.ProtocolError, 'topic alias given twice');
      topic = this.inboundAliases.resolve(topic, props.topicAlias);
    } else if (topic.length === 0) {
      throw new MqttError(this.version === 5 ? RC.ProtocolError : RC.TopicNameInvalid, 'empty topic without alias');
    }
    if (hasInvalidMqttString(topic)) throw new MqttError(RC.MalformedPacket, 'topic is not valid UTF-8');
    validateTopicName(topic);

    if (qos > 0) {
      // Receive Maximum is an MQTT 5 agreement; 3.1.1 clients never heard of it.
      if (this.version === 5 && this.inboundInflight >= this.ctx.limits.receiveMaximum) {
        throw new MqttError(RC.ReceiveMaximumExceeded, 'more unacknowledged QoS 1/2 PUBLISHes than Receive Maximum'); // [MQTT-3.3.4-9]
      }
      this.inboundInflight++;
    }
    const payload = p.payload as Buffer;
    if (props?.payloadFormatIndicator && !isValidUtf8Payload(payload)) {
      if (qos === 0) throw new MqttError(RC.PayloadFormatInvalid, 'payload is not UTF-8');
      return this.ackPublish(qos, packetId, RC.PayloadFormatInvalid);
    }
    if (this.principal && !this.ctx.authz.canPublish(this.principal, topic)) {
      return qos === 0 ? undefined : this.ackPublish(qos, packetId, this.version === 5 ? RC.NotAuthorized : RC.Success);
    }

    const message: Message = { topic, payload, qos, retain: p.retain, origin: this.clientId };
    if (props) {
      const pass = passThrough(props);
      if (pass) message.properties = pass;
    }
    const expiry = capExpiry(this.ctx.limits, props?.messageExpiryInterval);
    if (expiry !== undefined) {
      message.expiresAt = Date.now() + expiry * 1000;
      if (props?.messageExpiryInterval === undefined) message.expiryHidden = true;
    }

    sampler.published(message);
    // Deliveries made inside the call are to subscribers this publisher may have to wait for.
    pushback.routing(this);
    try {
      if (qos === 0) {
        void this.ctx.core.publish(this.clientId, message); // never rejects (BrokerCore contract)
      } else {
        // The packet id and QoS ride in the tag, so no closure is made per message.
        this.ctx.core.publishAcked(this.clientId, message, qos === 2 ? packetId : undefined, this.publishOutcome, packetId | (qos << 16));
      }
    } finally {
      pushback.routing(undefined);
    }
  }

  private readonly publishOutcome: PublishOutcomeSink = {
    publishDone: (tag, r, err) => {
      const packetId = tag & 0xffff;
      const qos = (tag >>> 16) as QoS;
      if (err === undefined) {
        if (r!.backlog) pushback.queued(this, r!.backlog, pushback.queueHigh(this.ctx.limits.subscriberQueueLimit.length));
        this.ackPublish(qos, packetId, r!.reasonCode ?? (r!.matched === 0 && !r!.duplicate ? RC.NoMatchingSubscribers : RC.Success));
      } else if (this.version === 5 && err instanceof MqttError) {
        this.ackPublish(qos, packetId, err.reasonCode); // MQTT 5 can refuse one message and keep the connection
      } else {
        this.fail(err); // 3.1.1 has no way to say "not stored"
      }
    },
  };

  private ackPublish(qos: QoS, packetId: number, reasonCode: number): void {
    if (this.isClosed()) return;
    if (qos === 1) this.inboundInflight--;
    // A QoS 2 flow keeps counting against Receive Maximum until PUBCOMP, unless PUBREC refused it.
    if (qos === 2 && reasonCode >= 0x80) this.inboundInflight--;
    this.sendAck(qos === 1 ? 'puback' : 'pubrec', packetId, reasonCode);
  }

  private async onPubrel(p: mqttPacket.IPubrelPacket): Promise<void> {
    const rc = await this.ctx.core.release(this.clientId, this.connectionId, packetIdOf(p));
    if (this.isClosed()) return;
    if (rc === RC.Success) this.inboundInflight--;
    this.sendAck('pubcomp', p.messageId ?? 0, rc);
  }

  private onAck(p: { messageId?: number; reasonCode?: number }, kind: 'puback' | 'pubrec' | 'pubcomp'): void {
    const f = this.flowState;
    if (f !== undefined) {
      f.acks++;
      // A QoS 1 flow ends with PUBACK, QoS 2 with PUBCOMP or a refusing PUBREC.
      if (f.unacked > 0 && (kind !== 'pubrec' || (p.reasonCode ?? 0) >= 0x80)) f.unacked--;
      if (f.waiters !== undefined && f.unacked <= UNACKED_BEHIND >> 1 && this.transport.backlog <= SOCKET_BEHIND_BYTES) pushback.drained(this);
    }
    this.ctx.core.acknowledge(this.clientId, this.connectionId, packetIdOf(p), kind, p.reasonCode ?? 0);
  }

  // ---- SUBSCRIBE / UNSUBSCRIBE ------------------------------------------------------------------

  private async onSubscribe(p: mqttPacket.ISubscribePacket): Promise<void> {
    const principal = this.principal;
    const { codes, accepted, slots } = sortSubscriptions(
      p,
      (filter) => !principal || this.ctx.authz.canSubscribe(principal, filter),
      this.ctx.limits.subscribeDeniedReasonCode,
    );
    this.holding++;
    try {
      if (accepted.length > 0) {
        const granted = await this.ctx.core.subscribe(this.clientId, this.connectionId, accepted);
        granted.forEach((g, k) => (codes[slots[k]] = g));
      }
      if (this.isClosed()) return;
      this.send({ cmd: 'suback', messageId: p.messageId, granted: this.version === 5 ? codes : codes.map(toV3Suback) });
    } finally {
      this.holding--;
      if (this.holding === 0) this.flushHeld();
    }
  }

  private async onUnsubscribe(p: mqttPacket.IUnsubscribePacket): Promise<void> {
    const { codes, accepted, slots } = sortUnsubscriptions(p);
    if (accepted.length > 0) {
      const results = await this.ctx.core.unsubscribe(this.clientId, this.connectionId, accepted);
      results.forEach((r, k) => (codes[slots[k]] = r));
    }
    if (this.isClosed()) return;
    this.send(this.version === 5 ? { cmd: 'unsuback', messageId: p.messageId, granted: codes } : { cmd: 'unsuback', messageId: p.messageId });
  }

  // ---- DISCONNECT -------------------------------------------------------------------------------

  private onDisconnect(p: mqttPacket.IDisconnectPacket): void {
    const rc = p.reasonCode ?? 0;
    let expiry: number | undefined;
    const asked = p.properties?.sessionExpiryInterval;
    if (asked !== undefined) {
      // Raising expiry from 0 at DISCONNECT is a Protocol Error [MQTT-3.14.2-2].
      if (this.sessionExpiry === 0 && asked > 0) throw new MqttError(RC.ProtocolError, 'session expiry was 0 at CONNECT');
      expiry = Math.min(asked, this.ctx.limits.maxSessionExpirySeconds);
    }
    this.end(rc !== RC.DisconnectWithWill, expiry);
    this.transport.close();
  }

  // ---- SessionSink: work pushed by the back end -------------------------------------------------

  deliver(d: Delivery): void {
    if (this.isClosed()) return;
    if (this.holding > 0 || this.state !== 'connected') {
      (this.held ??= []).push(d);
      return;
    }
    this.write(d);
  }

  private flushHeld(): void {
    const held = this.held;
    if (!held) return;
    this.held = undefined;
    for (const d of held) {
      if ('pubrel' in d) this.sendAck('pubrel', d.pubrel, d.rc);
      else this.write(d);
    }
  }

  private write(d: Delivery): void {
    const f = this.flowState;
    if (d.qos === 0 && ((f !== undefined && f.stalled) || this.transport.backlog > QOS0_HARD_LIMIT_BYTES)) {
      this.dropped++; // a stalled reader loses QoS 0 instead of holding up anyone else
      if (f !== undefined) f.episodeDrops++;
      return;
    }
    let enc: ReturnType<typeof encodeDelivery>;
    try {
      enc = encodeDelivery(d, this.version, this.outboundAliases, this.clientMaxPacket, Date.now);
    } catch {
      enc = 'too-large'; // unencodable: never let it throw back into the back end that is delivering
    }
    if (typeof enc === 'string') {
      // Not sendable (expired or too large for the client): complete the flow as if it had been delivered.
      if (d.qos === 1) this.ctx.core.acknowledge(this.clientId, this.connectionId, d.packetId, 'puback');
      else if (d.qos === 2) this.ctx.core.acknowledge(this.clientId, this.connectionId, d.packetId, 'pubrec', RC.UnspecifiedError);
      return;
    }
    let room = enc.packetIdAt < 0 ? this.transport.write(enc.first) : this.transport.writeStamped(enc.first, enc.packetIdAt, d.packetId);
    if (enc.second !== undefined) room = this.transport.write(enc.second);
    sampler.delivered(d.message, d.retain);
    // The common case (QoS 0, socket below its high-water mark, nothing queued) costs one test.
    if (d.qos > 0 || !room || d.backlog) this.wrote(d, room);
  }

  /** Pushback bookkeeping after a delivery was written (see pushback.ts). */
  private wrote(d: Delivery, room: boolean): void {
    const f = this.flow;
    if (d.qos > 0) f.unacked++;
    if (d.backlog || f.queueBehind) pushback.deliveredWithBacklog(this, d.backlog ?? 0, pushback.queueHigh(this.ctx.limits.subscriberQueueLimit.length));
    if ((!room && this.transport.backlog > SOCKET_BEHIND_BYTES) || f.unacked > UNACKED_BEHIND) pushback.socketBehind(this);
  }

  release(packetId: number, reasonCode: number = RC.Success): void {
    if (this.isClosed()) return;
    // A resumed session's PUBRELs must follow CONNACK like its PUBLISHes [MQTT-3.2.0-1].
    if (this.holding > 0 || this.state !== 'connected') {
      (this.held ??= []).push({ pubrel: packetId, rc: reasonCode });
      return;
    }
    this.sendAck('pubrel', packetId, reasonCode);
  }

  kick(reasonCode: number): void {
    if (this.isClosed()) return;
    // A connection still waiting for its CONNACK (taken over by a CONNECT applied in the same group
    // commit) is closed without a word: nothing but CONNACK may come first [MQTT-3.2.0-1].
    if (this.version === 5 && this.state === 'connected') this.send({ cmd: 'disconnect', reasonCode });
    this.state = 'closed';
    this.transport.close();
  }

  // ---- teardown ---------------------------------------------------------------------------------

  /** The transport lost its socket (or the watchdog fired). */
  onTransportClosed(): void {
    this.end(false, undefined);
  }

  /** Keep-alive or connect timeout. */
  timeout(reasonCode: number): void {
    this.fail(new MqttError(reasonCode, 'timeout'));
  }

  private ended = false;
  private end(normal: boolean, sessionExpirySeconds: number | undefined): void {
    if (this.ended) return;
    this.ended = true;
    const wasSession = this.state === 'connected' || this.state === 'closed';
    this.state = 'closed';
    this.ctx.registry?.closed(this);
    if (this.flowState) pushback.drained(this); // publishers waiting for this subscriber go on
    this.releaseSession(wasSession, normal, sessionExpirySeconds);
  }

  /** Takes the session the core opened (or is opening) for this channel offline. */
  private releaseSession(settled: boolean, normal: boolean, sessionExpirySeconds: number | undefined): void {
    const opening = this.opening;
    this.opening = undefined;
    if (!opening || !this.clientId || !this.principal) return; // the core never heard of a session
    const req = { clientId: this.clientId, connectionId: this.connectionId, normal, sessionExpirySeconds };
    if (settled) void this.ctx.core.disconnect(req).catch(ignore);
    else {
      // Ended during CONNECT (authentication done, connect or its durable write still running): the
      // session the core is opening goes offline like any other (will, expiry, clean session removed).
      const disconnect = () => void this.ctx.core.disconnect(req).catch(ignore);
      opening.then(disconnect, disconnect);
    }
  }

  /**
   * A decoding error behind a CONNECT that is still being processed: the CONNECT is answered first
   * (it was valid), then the error ends the connection, as if the bytes had come one by one.
   */
  failAfterPending(err: MqttError): void {
    if (this.state === 'connecting') (this.early ??= []).push(err);
    else this.fail(err);
  }

  /** The CONNECT could not even be decoded (unknown protocol level): answer in the 3.1.1 form every client reads. */
  refuseProtocol(err: MqttError): void {
    this.connectSeen = true;
    this.version = 4;
    this.fail(err);
  }

  /** The one place where a failure becomes CONNACK, DISCONNECT or a bare close. */
  fail(err: unknown): void {
    if (this.state === 'closed' && this.ended) return;
    const rc = err instanceof MqttError ? err.reasonCode : RC.UnspecifiedError;
    try {
      if (this.state === 'new' || this.state === 'connecting') {
        // Without a CONNECT there is nobody to answer: the connection is just closed [MQTT-3.1.0-1].
        // 3.1.1 has no CONNACK code for a malformed or invalid CONNECT: it closes without one [MQTT-3.1.4-1].
        if (this.connectSeen && (this.version === 5 || (rc !== RC.MalformedPacket && rc !== RC.ProtocolError))) {
          this.send(
            this.version === 5
              ? { cmd: 'connack', sessionPresent: false, reasonCode: rc, properties: { reasonString: reasonText(err) } }
              : { cmd: 'connack', sessionPresent: false, returnCode: toV3Connack(rc) },
          );
        }
      } else if (this.version === 5 && this.state === 'connected') {
        this.send({ cmd: 'disconnect', reasonCode: rc, properties: { reasonString: reasonText(err) } });
      }
    } catch {
      // the farewell could not be encoded: close without it
    }
    this.end(false, undefined);
    this.transport.close();
  }

  /** A 3.1.1 acknowledgement, or an MQTT 5 one with reason 0x00, is four fixed bytes. */
  private sendAck(cmd: AckCmd, packetId: number, reasonCode: number): void {
    if (this.version !== 5 || reasonCode === RC.Success) this.transport.write(shortAck(cmd, packetId));
    else this.send({ cmd, messageId: packetId, reasonCode });
  }

  private send(packet: Record<string, unknown>): void {
    let bytes = encodePacket(packet, this.version);
    if (bytes.length > this.clientMaxPacket) {
      // Never more than the client's Maximum Packet Size [MQTT-3.1.2-24]: the Reason String and User
      // Properties go first [MQTT-3.2.2-19/20, MQTT-3.14.2-3/4]; what still does not fit is not sent.
      const properties = packet.properties as Record<string, unknown> | undefined;
      if (properties) {
        const { reasonString: _r, userProperties: _u, ...required } = properties;
        bytes = encodePacket({ ...packet, properties: required }, this.version);
      }
      if (bytes.length > this.clientMaxPacket) return;
    }
    this.transport.write(bytes);
  }
}

function ignore(): void {}

/** mqtt-packet decodes an acknowledgement too short to hold a packet id without complaint. */
function packetIdOf(p: { messageId?: number }): number {
  const id = p.messageId;
  if (id === undefined || !Number.isInteger(id) || id < 1 || id > 65535) throw new MqttError(RC.MalformedPacket, 'acknowledgement without a valid packet id');
  return id;
}

/** The Reason String for the client: our own protocol messages, never the text of an unexpected internal error. */
function reasonText(err: unknown): string {
  return err instanceof MqttError ? err.message.slice(0, 200) : 'internal error';
}

/**
 * mqtt-packet signals an encoding failure by returning what it wrote so far, e.g. a bare fixed
 * header; writing that would leave the client mid-packet. Check the frame is whole.
 */
function encodePacket(packet: Record<string, unknown>, version: number): Buffer {
  const bytes = mqttPacket.generate(packet as unknown as mqttPacket.Packet, { protocolVersion: version as 3 | 4 | 5 });
  let remaining = 0;
  let i = 1;
  for (let mul = 1; i < bytes.length && i <= 4; i++, mul *= 128) {
    remaining += (bytes[i] & 0x7f) * mul;
    if ((bytes[i] & 0x80) === 0) break;
  }
  if (bytes.length < 2 || bytes.length !== i + 1 + remaining) throw new Error(`mqtt-packet could not encode a ${String(packet.cmd)} packet`);
  return bytes;
}
