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
import { MqttError } from '../mqtt/errors.js';
import { RC, toV3Connack, toV3Suback } from '../mqtt/reason-codes.js';
import { validateTopicName } from '../topics/validate.js';
import { shortAck } from './acks.js';
import { negotiateConnect } from './connect-terms.js';
import { capExpiry, passThrough } from './message-properties.js';
import { encodeDelivery } from './outbound.js';
import { hasInvalidMqttString, isValidUtf8Payload } from './payload-format.js';
import * as pushback from './pushback.js';
import { FlowState, QOS0_HARD_LIMIT_BYTES, SOCKET_BEHIND_BYTES } from './pushback.js';
import { sortSubscriptions, sortUnsubscriptions } from './subscription-requests.js';
import { InboundAliases, OutboundAliases } from './topic-alias.js';
/** Packets a client may pipeline behind its CONNECT while authentication runs. */
const MAX_EARLY_PACKETS = 1000;
let nextConnectionId = 1;
export class Channel {
    ctx;
    transport;
    connectionId = nextConnectionId++;
    state = 'new';
    version = 4;
    clientId = '';
    principal;
    /** When the credentials run out (ms epoch), 0 = never; the watchdog closes the connection then. */
    credentialsExpireAt = 0;
    facts;
    sessionExpiry = 0;
    clientMaxPacket = 268435460;
    inboundAliases;
    outboundAliases;
    /** Inbound QoS 1/2 PUBLISHes not yet acknowledged, for the Receive Maximum we advertised. */
    inboundInflight = 0;
    /** Packets (or a decoding error) that arrived behind CONNECT while it is processed, in order. */
    early;
    /** CONNECT parameters kept while an enhanced authentication exchange runs. */
    pendingConnect;
    /** While a SUBSCRIBE is being processed, deliveries wait so that SUBACK goes first. */
    holding = 0;
    /** Deliveries and PUBRELs that must wait for CONNACK or SUBACK, in order ({pubrel} = a PUBREL to re-send). */
    held;
    dropped = 0;
    connectSeen = false;
    /**
     * `core.connect` once asked, until the channel ends: a socket that ends before CONNACK must still
     * take the session offline, after the connect has settled (so a remote core sees them in order).
     */
    opening;
    /** Pushback and stall state, made when the connection first takes part (most never do). */
    flowState;
    constructor(ctx, transport) {
        this.ctx = ctx;
        this.transport = transport;
    }
    get connected() {
        return this.state === 'connected';
    }
    /** True once a CONNECT arrived (the connect timeout no longer applies). */
    get started() {
        return this.state !== 'new';
    }
    /** A method, not a field read, so TypeScript does not narrow it away across awaits. */
    isClosed() {
        return this.state === 'closed';
    }
    /** The authenticated principal, for re-checks when security configuration changes. */
    get identity() {
        return this.principal;
    }
    get droppedQos0() {
        return this.dropped;
    }
    // ---- FlowParty (pushback.ts) ------------------------------------------------------------------
    get flow() {
        return (this.flowState ??= new FlowState());
    }
    /** Reading is paused by pushback (the keep-alive clock does not run against the client then). */
    get inputPaused() {
        return this.flowState !== undefined && this.flowState.blockers > 0;
    }
    pauseInput() {
        this.transport.pauseInput();
    }
    resumeInput() {
        this.transport.resumeInput();
    }
    watchDrain() {
        this.transport.watchDrain();
    }
    /**
     * The front end's stall verdict: a stalled subscriber holds no publisher back any more, its QoS 0
     * messages are dropped and the core applies the queue policy to its session.
     */
    setStalled(stalled) {
        if (this.isClosed() || !this.clientId)
            return;
        this.ctx.core.setStalled(this.clientId, this.connectionId, stalled);
        if (stalled) {
            pushback.drained(this);
            pushback.releaseQueueWaiters();
        }
        else if (this.flowState) {
            this.flowState.episodeDrops = 0;
        }
    }
    /** Entry point for every decoded packet. Never throws. */
    handle(packet) {
        if (this.isClosed())
            return;
        if (this.state === 'connecting') {
            if (packet.cmd === 'connect')
                return this.fail(new MqttError(RC.ProtocolError, 'second CONNECT'));
            // AUTH belongs to the CONNECT only during enhanced authentication; otherwise it waits its turn like any packet.
            if (packet.cmd === 'auth' && this.pendingConnect)
                return this.guard(this.onAuth(packet));
            this.early ??= [];
            if (this.early.length >= MAX_EARLY_PACKETS)
                return this.fail(new MqttError(RC.ReceiveMaximumExceeded, 'too many packets before CONNACK'));
            this.early.push(packet);
            return;
        }
        try {
            if (packet.cmd === 'connect' && this.state === 'new') {
                this.connectSeen = true;
                this.version = packet.protocolVersion;
            }
            this.dispatch(packet);
        }
        catch (err) {
            this.fail(err);
        }
    }
    dispatch(packet) {
        if (this.state === 'new') {
            // The first packet must be CONNECT [MQTT-3.1.0-1].
            if (packet.cmd !== 'connect')
                throw new MqttError(RC.ProtocolError, `expected CONNECT, got ${packet.cmd}`);
            return this.guard(this.onConnect(packet));
        }
        switch (packet.cmd) {
            case 'publish':
                return this.onPublish(packet);
            case 'puback':
                return this.onAck(packet, 'puback');
            case 'pubrec':
                return this.onAck(packet, 'pubrec');
            case 'pubcomp':
                return this.onAck(packet, 'pubcomp');
            case 'pubrel':
                return this.guard(this.onPubrel(packet));
            case 'subscribe':
                return this.guard(this.onSubscribe(packet));
            case 'unsubscribe':
                return this.guard(this.onUnsubscribe(packet));
            case 'pingreq':
                return this.send({ cmd: 'pingresp' });
            case 'disconnect':
                return this.onDisconnect(packet);
            case 'auth':
                return this.guard(this.onAuth(packet));
            case 'connect':
                throw new MqttError(RC.ProtocolError, 'second CONNECT'); // [MQTT-3.1.0-2]
            default:
                // CONNACK, SUBACK, ... are server-to-client only.
                throw new MqttError(RC.ProtocolError, `unexpected ${packet.cmd} from a client`);
        }
    }
    guard(p) {
        p.catch((err) => this.fail(err));
    }
    // ---- CONNECT ----------------------------------------------------------------------------------
    async onConnect(p) {
        this.state = 'connecting';
        this.version = p.protocolVersion;
        const terms = negotiateConnect(p, this.ctx.limits);
        this.clientId = terms.clientId;
        this.sessionExpiry = terms.sessionExpiry;
        if (terms.clientMaxPacket !== undefined)
            this.clientMaxPacket = terms.clientMaxPacket;
        if (this.version === 5 && this.ctx.limits.topicAliasMaximum > 0)
            this.inboundAliases = new InboundAliases(this.ctx.limits.topicAliasMaximum);
        if (terms.outboundAliasMaximum > 0)
            this.outboundAliases = new OutboundAliases(terms.outboundAliasMaximum);
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
        if (this.isClosed())
            return this.abandoned(verdict.ok === true ? verdict : undefined, terms);
        if (verdict.ok === 'continue') {
            this.send({ cmd: 'auth', reasonCode: RC.ContinueAuthentication, properties: { authenticationMethod: props.authenticationMethod, authenticationData: verdict.authenticationData } });
            this.pendingConnect = terms;
            return;
        }
        if (!verdict.ok)
            throw new MqttError(verdict.reasonCode, verdict.message ?? 'authentication failed');
        this.admit(verdict.principal, verdict.expiresAt);
        await this.openSession(terms);
    }
    /** Accepts an authenticated principal, if authorization lets it connect with this client id. */
    admit(principal, expiresAt) {
        if (this.facts)
            this.facts.password = undefined; // not needed after CONNECT; re-authentication uses AUTH data
        if (!this.ctx.authz.canConnect(principal))
            throw new MqttError(RC.NotAuthorized, 'not authorized to connect');
        this.principal = principal;
        this.credentialsExpireAt = expiresAt ?? 0;
    }
    /**
     * The socket ended while authentication ran. An accepted CONNECT still opens its session and
     * ends it at once, as a broker reading CONNECT and EOF in one go does: the will goes out, a
     * persistent session starts its expiry, a clean one is removed.
     */
    abandoned(accepted, c) {
        if (!accepted || !c || !this.ctx.authz.canConnect(accepted.principal))
            return;
        this.principal = accepted.principal;
        this.requestSession(c);
        this.releaseSession(false, false, undefined);
    }
    requestSession(c) {
        const opening = this.ctx.core.connect({
            clientId: this.clientId,
            connectionId: this.connectionId,
            protocolVersion: this.version,
            cleanStart: c.cleanStart,
            sessionExpirySeconds: this.sessionExpiry,
            receiveMaximum: c.receiveMaximum,
            will: c.will,
            username: this.principal?.username,
        }, this);
        this.opening = opening;
        return opening;
    }
    async openSession(c) {
        const limits = this.ctx.limits;
        const { sessionPresent } = await this.requestSession(c);
        if (this.isClosed())
            return;
        const properties = {};
        if (this.version === 5) {
            properties.receiveMaximum = limits.receiveMaximum;
            properties.maximumPacketSize = limits.maxPacketSizeBytes;
            properties.topicAliasMaximum = limits.topicAliasMaximum;
            // A capped Session Expiry Interval is announced in CONNACK (MQTT 5 3.2.2.3.2).
            if (c.sessionExpiry !== c.sessionExpiryAsked)
                properties.sessionExpiryInterval = c.sessionExpiry;
            if (c.assigned)
                properties.assignedClientIdentifier = this.clientId;
            if (c.serverKeepAlive !== undefined)
                properties.serverKeepAlive = c.serverKeepAlive;
            if (this.facts?.authenticationMethod)
                properties.authenticationMethod = this.facts.authenticationMethod;
        }
        this.send({ cmd: 'connack', sessionPresent, returnCode: 0, reasonCode: 0, properties: this.version === 5 ? properties : undefined });
        // Only enhanced authentication (AUTH re-authentication) needs the CONNECT facts later; without
        // it an idle connection does not keep them (nor the authenticator's per-connection state).
        if (!this.facts?.authenticationMethod)
            this.facts = undefined;
        this.state = 'connected';
        this.ctx.registry?.opened(this);
        this.transport.setKeepAlive(c.keepAlive);
        this.flushHeld(); // the resumed session's messages, which arrived before CONNACK went out
        const early = this.early;
        this.early = undefined;
        if (early)
            for (const item of early) {
                if (item instanceof MqttError)
                    return this.fail(item);
                this.handle(item);
            }
    }
    // ---- AUTH -------------------------------------------------------------------------------------
    async onAuth(p) {
        if (this.version !== 5)
            throw new MqttError(RC.ProtocolError, 'AUTH needs MQTT 5');
        const method = p.properties?.authenticationMethod;
        if (!this.facts?.authenticationMethod || method !== this.facts.authenticationMethod) {
            throw new MqttError(RC.ProtocolError, 'AUTH without the authentication method of CONNECT'); // [MQTT-4.12.0-7]
        }
        const reauth = this.state === 'connected';
        if (reauth && p.reasonCode !== RC.ReAuthenticate)
            throw new MqttError(RC.ProtocolError, 're-authentication must use reason 0x19');
        if (!reauth && p.reasonCode !== RC.ContinueAuthentication)
            throw new MqttError(RC.ProtocolError, 'AUTH during CONNECT must use reason 0x18');
        this.facts.authenticationData = p.properties?.authenticationData;
        const verdict = await this.ctx.authn.continueAuth(this.facts, reauth);
        if (this.isClosed())
            return reauth ? undefined : this.abandoned(verdict.ok === true ? verdict : undefined, this.pendingConnect);
        if (verdict.ok === 'continue') {
            this.send({ cmd: 'auth', reasonCode: RC.ContinueAuthentication, properties: { authenticationMethod: method, authenticationData: verdict.authenticationData } });
            return;
        }
        if (!verdict.ok)
            throw new MqttError(verdict.reasonCode, verdict.message ?? 'authentication failed');
        this.admit(verdict.principal, verdict.expiresAt);
        if (reauth) {
            this.send({ cmd: 'auth', reasonCode: RC.Success, properties: { authenticationMethod: method } });
            return;
        }
        const pending = this.pendingConnect;
        this.pendingConnect = undefined;
        if (!pending)
            throw new MqttError(RC.ProtocolError, 'AUTH without a pending CONNECT');
        await this.openSession(pending);
    }
    // ---- PUBLISH from the client ------------------------------------------------------------------
    onPublish(p) {
        const qos = p.qos;
        const packetId = p.messageId ?? 0;
        // A zero packet id decodes fine but breaks [MQTT-2.2.1-3]: a Protocol Error, as Mosquitto also answers.
        if (qos > 0 && packetId === 0)
            throw new MqttError(RC.ProtocolError, 'QoS > 0 PUBLISH without packet id');
        const props = p.properties;
        if (props?.subscriptionIdentifier !== undefined)
            throw new MqttError(RC.ProtocolError, 'a client PUBLISH may not carry a Subscription Identifier'); // [MQTT-3.3.4-6]
        let topic = p.topic;
        if (props?.topicAlias !== undefined) {
            if (!this.inboundAliases)
                throw new MqttError(RC.TopicAliasInvalid, 'topic aliases are disabled'); // [MQTT-3.3.2-9]
            if (Array.isArray(props.topicAlias))
                throw new MqttError(RC.ProtocolError, 'topic alias given twice');
            topic = this.inboundAliases.resolve(topic, props.topicAlias);
        }
        else if (topic.length === 0) {
            throw new MqttError(this.version === 5 ? RC.ProtocolError : RC.TopicNameInvalid, 'empty topic without alias');
        }
        if (hasInvalidMqttString(topic))
            throw new MqttError(RC.MalformedPacket, 'topic is not valid UTF-8');
        validateTopicName(topic);
        if (qos > 0) {
            // Receive Maximum is an MQTT 5 agreement; 3.1.1 clients never heard of it.
            if (this.version === 5 && this.inboundInflight >= this.ctx.limits.receiveMaximum) {
                throw new MqttError(RC.ReceiveMaximumExceeded, 'more unacknowledged QoS 1/2 PUBLISHes than Receive Maximum'); // [MQTT-3.3.4-9]
            }
            this.inboundInflight++;
        }
        const payload = p.payload;
        if (props?.payloadFormatIndicator && !isValidUtf8Payload(payload)) {
            if (qos === 0)
                throw new MqttError(RC.PayloadFormatInvalid, 'payload is not UTF-8');
            return this.ackPublish(qos, packetId, RC.PayloadFormatInvalid);
        }
        if (this.principal && !this.ctx.authz.canPublish(this.principal, topic)) {
            return qos === 0 ? undefined : this.ackPublish(qos, packetId, this.version === 5 ? RC.NotAuthorized : RC.Success);
        }
        const message = { topic, payload, qos, retain: p.retain, origin: this.clientId };
        if (props) {
            const pass = passThrough(props);
            if (pass)
                message.properties = pass;
        }
        const expiry = capExpiry(this.ctx.limits, props?.messageExpiryInterval);
        if (expiry !== undefined) {
            message.expiresAt = Date.now() + expiry * 1000;
            if (props?.messageExpiryInterval === undefined)
                message.expiryHidden = true;
        }
        // Deliveries made inside the call are to subscribers this publisher may have to wait for.
        pushback.routing(this);
        if (qos === 0) {
            void this.ctx.core.publish(this.clientId, message); // never rejects (BrokerCore contract)
        }
        else {
            // The packet id and QoS ride in the tag, so no closure is made per message.
            this.ctx.core.publishAcked(this.clientId, message, qos === 2 ? packetId : undefined, this.publishOutcome, packetId | (qos << 16));
        }
        pushback.routing(undefined);
    }
    publishOutcome = {
        publishDone: (tag, r, err) => {
            const packetId = tag & 0xffff;
            const qos = (tag >>> 16);
            if (err === undefined) {
                if (r.backlog)
                    pushback.queued(this, r.backlog, pushback.queueHigh(this.ctx.limits.subscriberQueueLimit.length));
                this.ackPublish(qos, packetId, r.reasonCode ?? (r.matched === 0 && !r.duplicate ? RC.NoMatchingSubscribers : RC.Success));
            }
            else if (this.version === 5 && err instanceof MqttError) {
                this.ackPublish(qos, packetId, err.reasonCode); // MQTT 5 can refuse one message and keep the connection
            }
            else {
                this.fail(err); // 3.1.1 has no way to say "not stored"
            }
        },
    };
    ackPublish(qos, packetId, reasonCode) {
        if (this.isClosed())
            return;
        if (qos === 1)
            this.inboundInflight--;
        // A QoS 2 flow keeps counting against Receive Maximum until PUBCOMP, unless PUBREC refused it.
        if (qos === 2 && reasonCode >= 0x80)
            this.inboundInflight--;
        this.sendAck(qos === 1 ? 'puback' : 'pubrec', packetId, reasonCode);
    }
    async onPubrel(p) {
        const rc = await this.ctx.core.release(this.clientId, this.connectionId, packetIdOf(p));
        if (this.isClosed())
            return;
        if (rc === RC.Success)
            this.inboundInflight--;
        this.sendAck('pubcomp', p.messageId ?? 0, rc);
    }
    onAck(p, kind) {
        const f = this.flowState;
        if (f !== undefined) {
            f.acks++;
            // A QoS 1 flow ends with PUBACK, QoS 2 with PUBCOMP or a refusing PUBREC.
            if (f.unacked > 0 && (kind !== 'pubrec' || (p.reasonCode ?? 0) >= 0x80))
                f.unacked--;
        }
        this.ctx.core.acknowledge(this.clientId, this.connectionId, packetIdOf(p), kind, p.reasonCode ?? 0);
    }
    // ---- SUBSCRIBE / UNSUBSCRIBE ------------------------------------------------------------------
    async onSubscribe(p) {
        const principal = this.principal;
        const { codes, accepted, slots } = sortSubscriptions(p, (filter) => !principal || this.ctx.authz.canSubscribe(principal, filter), this.ctx.limits.subscribeDeniedReasonCode);
        this.holding++;
        try {
            if (accepted.length > 0) {
                const granted = await this.ctx.core.subscribe(this.clientId, this.connectionId, accepted);
                granted.forEach((g, k) => (codes[slots[k]] = g));
            }
            if (this.isClosed())
                return;
            this.send({ cmd: 'suback', messageId: p.messageId, granted: this.version === 5 ? codes : codes.map(toV3Suback) });
        }
        finally {
            this.holding--;
            if (this.holding === 0)
                this.flushHeld();
        }
    }
    async onUnsubscribe(p) {
        const { codes, accepted, slots } = sortUnsubscriptions(p.unsubscriptions);
        if (accepted.length > 0) {
            const results = await this.ctx.core.unsubscribe(this.clientId, this.connectionId, accepted);
            results.forEach((r, k) => (codes[slots[k]] = r));
        }
        if (this.isClosed())
            return;
        this.send(this.version === 5 ? { cmd: 'unsuback', messageId: p.messageId, granted: codes } : { cmd: 'unsuback', messageId: p.messageId });
    }
    // ---- DISCONNECT -------------------------------------------------------------------------------
    onDisconnect(p) {
        const rc = p.reasonCode ?? 0;
        let expiry;
        const asked = p.properties?.sessionExpiryInterval;
        if (asked !== undefined) {
            // Raising expiry from 0 at DISCONNECT is a Protocol Error [MQTT-3.14.2-2].
            if (this.sessionExpiry === 0 && asked > 0)
                throw new MqttError(RC.ProtocolError, 'session expiry was 0 at CONNECT');
            expiry = Math.min(asked, this.ctx.limits.maxSessionExpirySeconds);
        }
        this.end(rc !== RC.DisconnectWithWill, expiry);
        this.transport.close();
    }
    // ---- SessionSink: work pushed by the back end -------------------------------------------------
    deliver(d) {
        if (this.isClosed())
            return;
        if (this.holding > 0 || this.state !== 'connected') {
            (this.held ??= []).push(d);
            return;
        }
        this.write(d);
    }
    flushHeld() {
        const held = this.held;
        if (!held)
            return;
        this.held = undefined;
        for (const d of held) {
            if ('pubrel' in d)
                this.sendAck('pubrel', d.pubrel, RC.Success);
            else
                this.write(d);
        }
    }
    write(d) {
        const f = this.flowState;
        if (d.qos === 0 && ((f !== undefined && f.stalled) || this.transport.backlog > QOS0_HARD_LIMIT_BYTES)) {
            this.dropped++; // a stalled reader loses QoS 0 instead of holding up anyone else
            if (f !== undefined)
                f.episodeDrops++;
            return;
        }
        let enc;
        try {
            enc = encodeDelivery(d, this.version, this.outboundAliases, this.clientMaxPacket, Date.now());
        }
        catch {
            enc = 'too-large'; // unencodable: never let it throw back into the back end that is delivering
        }
        if (typeof enc === 'string') {
            // Not sendable (expired or too large for the client): complete the flow as if it had been delivered.
            if (d.qos === 1)
                this.ctx.core.acknowledge(this.clientId, this.connectionId, d.packetId, 'puback');
            else if (d.qos === 2)
                this.ctx.core.acknowledge(this.clientId, this.connectionId, d.packetId, 'pubrec', RC.UnspecifiedError);
            return;
        }
        this.transport.write(enc.first);
        if (enc.second)
            this.transport.write(enc.second);
        if (d.qos > 0)
            this.flow.unacked++;
        if (d.backlog || (f !== undefined && f.queueBehind))
            pushback.deliveredWithBacklog(this, d.backlog ?? 0, pushback.queueHigh(this.ctx.limits.subscriberQueueLimit.length));
        if (this.transport.backlog > SOCKET_BEHIND_BYTES)
            pushback.socketBehind(this);
    }
    release(packetId) {
        if (this.isClosed())
            return;
        // A resumed session's PUBRELs must follow CONNACK like its PUBLISHes [MQTT-3.2.0-1].
        if (this.holding > 0 || this.state !== 'connected') {
            (this.held ??= []).push({ pubrel: packetId });
            return;
        }
        this.sendAck('pubrel', packetId, RC.Success);
    }
    kick(reasonCode) {
        if (this.isClosed())
            return;
        if (this.version === 5)
            this.send({ cmd: 'disconnect', reasonCode });
        this.state = 'closed';
        this.transport.close();
    }
    // ---- teardown ---------------------------------------------------------------------------------
    /** The transport lost its socket (or the watchdog fired). */
    onTransportClosed() {
        this.end(false, undefined);
    }
    /** Keep-alive or connect timeout. */
    timeout(reasonCode) {
        this.fail(new MqttError(reasonCode, 'timeout'));
    }
    ended = false;
    end(normal, sessionExpirySeconds) {
        if (this.ended)
            return;
        this.ended = true;
        const wasSession = this.state === 'connected' || this.state === 'closed';
        this.state = 'closed';
        this.ctx.registry?.closed(this);
        if (this.flowState)
            pushback.drained(this); // publishers waiting for this subscriber go on
        this.releaseSession(wasSession, normal, sessionExpirySeconds);
    }
    /** Takes the session the core opened (or is opening) for this channel offline. */
    releaseSession(settled, normal, sessionExpirySeconds) {
        const opening = this.opening;
        this.opening = undefined;
        if (!opening || !this.clientId || !this.principal)
            return; // the core never heard of a session
        const req = { clientId: this.clientId, connectionId: this.connectionId, normal, sessionExpirySeconds };
        if (settled)
            void this.ctx.core.disconnect(req).catch(ignore);
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
    failAfterPending(err) {
        if (this.state === 'connecting')
            (this.early ??= []).push(err);
        else
            this.fail(err);
    }
    /** The CONNECT could not even be decoded (unknown protocol level): answer in the 3.1.1 form every client reads. */
    refuseProtocol(err) {
        this.connectSeen = true;
        this.version = 4;
        this.fail(err);
    }
    /** The one place where a failure becomes CONNACK, DISCONNECT or a bare close. */
    fail(err) {
        if (this.state === 'closed' && this.ended)
            return;
        const rc = err instanceof MqttError ? err.reasonCode : RC.UnspecifiedError;
        try {
            if (this.state === 'new' || this.state === 'connecting') {
                // Without a CONNECT there is nobody to answer: the connection is just closed [MQTT-3.1.0-1].
                if (this.connectSeen) {
                    this.send(this.version === 5
                        ? { cmd: 'connack', sessionPresent: false, reasonCode: rc, properties: { reasonString: reasonText(err) } }
                        : { cmd: 'connack', sessionPresent: false, returnCode: toV3Connack(rc) });
                }
            }
            else if (this.version === 5 && this.state === 'connected') {
                this.send({ cmd: 'disconnect', reasonCode: rc, properties: { reasonString: reasonText(err) } });
            }
        }
        catch {
            // the farewell could not be encoded: close without it
        }
        this.end(false, undefined);
        this.transport.close();
    }
    /** A 3.1.1 acknowledgement, or an MQTT 5 one with reason 0x00, is four fixed bytes. */
    sendAck(cmd, packetId, reasonCode) {
        if (this.version !== 5 || reasonCode === RC.Success)
            this.transport.write(shortAck(cmd, packetId));
        else
            this.send({ cmd, messageId: packetId, reasonCode });
    }
    send(packet) {
        this.transport.write(encodePacket(packet, this.version));
    }
}
function ignore() { }
/** mqtt-packet decodes an acknowledgement too short to hold a packet id without complaint. */
function packetIdOf(p) {
    const id = p.messageId;
    if (id === undefined || !Number.isInteger(id) || id < 1 || id > 65535)
        throw new MqttError(RC.MalformedPacket, 'acknowledgement without a valid packet id');
    return id;
}
/** The Reason String for the client: our own protocol messages, never the text of an unexpected internal error. */
function reasonText(err) {
    return err instanceof MqttError ? err.message.slice(0, 200) : 'internal error';
}
/**
 * mqtt-packet signals an encoding failure by returning what it wrote so far, e.g. a bare fixed
 * header; writing that would leave the client mid-packet. Check the frame is whole.
 */
function encodePacket(packet, version) {
    const bytes = mqttPacket.generate(packet, { protocolVersion: version });
    let remaining = 0;
    let i = 1;
    for (let mul = 1; i < bytes.length && i <= 4; i++, mul *= 128) {
        remaining += (bytes[i] & 0x7f) * mul;
        if ((bytes[i] & 0x80) === 0)
            break;
    }
    if (bytes.length < 2 || bytes.length !== i + 1 + remaining)
        throw new Error(`mqtt-packet could not encode a ${String(packet.cmd)} packet`);
    return bytes;
}
//# sourceMappingURL=channel.js.map