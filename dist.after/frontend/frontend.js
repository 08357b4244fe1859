/**
 * The front end of one process: opens the listeners of its BrokerListener resources, turns each
 * accepted stream into a Connection, and runs one coarse watchdog for all of them (connect
 * timeout, keep-alive at 1.5x, packets stalled half-way) instead of a timer per socket.
 */
import net from 'node:net';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { RC } from '../mqtt/reason-codes.js';
import { Connection, peerCertificateChain } from './connection.js';
import { openAccess } from './ports.js';
import { judge } from './pushback.js';
/** 127.0.0.0/8, ::1, localhost: the only addresses served without authentication by default. */
export function isLoopbackHost(host) {
    const h = host.replace(/^\[|\]$/g, '').toLowerCase();
    if (h === 'localhost' || h === '::1')
        return true;
    const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
    return net.isIPv4(v4) && v4.startsWith('127.');
}
const WATCHDOG_MS = 250;
export class FrontEnd {
    opts;
    connections = new Map();
    servers = [];
    wss = [];
    watchdog;
    byClientId = new Map();
    droppedByClosed = 0;
    whereOf = new WeakMap();
    contexts = new WeakMap();
    open = [];
    constructor(opts) {
        this.opts = opts;
        this.watchdog = setInterval(() => this.checkTimeouts(), WATCHDOG_MS);
        this.watchdog.unref();
    }
    get connectionCount() {
        return this.connections.size;
    }
    /** QoS 0 messages shed for stalled readers, over every connection this front end has served. */
    droppedQos0() {
        let n = this.droppedByClosed;
        for (const c of this.connections.keys())
            n += c.channel.droppedQos0;
        return n;
    }
    async start() {
        for (const l of this.opts.listeners) {
            for (const [i, port] of l.ports.entries())
                await this.listen(l, port, i);
        }
    }
    portSecurity(l, port, index) {
        if (this.opts.security)
            return this.opts.security(l, port, index);
        if (!isLoopbackHost(this.opts.host)) {
            throw new Error(`BrokerListener/${l.name}: refusing to serve ${this.opts.host}:${port.port} without authentication (no security configured)`);
        }
        return { authn: () => this.opts.authn ?? openAccess, authz: () => this.opts.authz ?? openAccess };
    }
    async listen(l, port, index) {
        const host = this.opts.host;
        const ps = this.portSecurity(l, port, index);
        // A TLS handshake that never completes is held to the same deadline as a missing CONNECT.
        const tlsOptions = ps.tls ? { handshakeTimeout: this.opts.limits.connectTimeoutMs, ...ps.tls } : undefined;
        const where = { listener: l.name, portIndex: index };
        let server;
        if (port.protocol === 'websockets') {
            const answer426 = (_req, res) => {
                res.writeHead(426, { 'content-type': 'text/plain' }).end('this port speaks MQTT over WebSocket (subprotocol "mqtt")\n');
            };
            const httpServer = tlsOptions ? https.createServer(tlsOptions, answer426) : http.createServer(answer426);
            const wss = new WebSocketServer({
                server: httpServer,
                maxPayload: this.opts.limits.maxPacketSizeBytes + 8,
                handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
            });
            wss.on('connection', (ws, req) => {
                const certs = ps.tls ? peerCertificateChain(req.socket) : undefined;
                if (certs === 'rejected')
                    return ws.terminate();
                const stream = createWebSocketStream(ws);
                this.accept(stream, where, req.socket.remoteAddress ?? '', ps, certs);
            });
            this.wss.push(wss);
            server = httpServer;
        }
        else if (tlsOptions) {
            server = tls.createServer(tlsOptions, (socket) => {
                socket.setNoDelay(true);
                const certs = peerCertificateChain(socket);
                if (certs === 'rejected')
                    return void socket.destroy(); // untrusted or expired client certificate
                this.accept(socket, where, socket.remoteAddress ?? '', ps, certs);
            });
        }
        else {
            server = net.createServer((socket) => {
                socket.setNoDelay(true);
                this.accept(socket, where, socket.remoteAddress ?? '', ps, undefined);
            });
        }
        if (ps.tls) {
            // Failed handshakes (wrong CA, plain MQTT on a TLS port) are the client's problem, not ours.
            server.on('tlsClientError', (err) => this.opts.log.debug({ listener: l.name, err: err.message }, 'TLS handshake failed'));
            ps.attachServer?.(server);
        }
        await new Promise((resolve, reject) => {
            server.once('error', (err) => reject(new Error(`BrokerListener/${l.name}: cannot listen on ${host}:${port.port}: ${err.code ?? err.message}`)));
            server.listen(port.port, host, () => resolve());
        });
        const actual = server.address().port;
        this.servers.push(server);
        this.open.push({ name: l.name, protocol: port.protocol, host, port: actual, tls: ps.tls !== undefined });
        this.opts.log.info({ listener: l.name, host, port: actual, protocol: port.protocol, tls: ps.tls !== undefined }, 'listening');
    }
    accept(stream, where, remote, ps, clientCertificates) {
        const c = new Connection(stream, this.contextFor(where.listener, ps), remote, this.opts.limits.maxPacketSizeBytes, Date.now(), (closed) => {
            this.droppedByClosed += closed.channel.droppedQos0;
            this.connections.delete(closed);
        }, clientCertificates);
        this.connections.set(c, where);
        this.whereOf.set(c.channel, where);
    }
    /**
     * The channel context of a listener's connections, shared by all of them (one object fewer per
     * idle connection) and rebuilt when a configuration reload gives the port new security.
     */
    contextFor(listener, ps) {
        const authn = ps.authn();
        const authz = ps.authz();
        const cached = this.contexts.get(ps);
        if (cached && cached.listener === listener && cached.authn === authn && cached.authz === authz)
            return cached;
        const ctx = { core: this.opts.core, limits: this.opts.limits, listener, authn, authz, registry: this };
        this.contexts.set(ps, ctx);
        return ctx;
    }
    checkTimeouts() {
        const now = Date.now();
        const connectTimeout = this.opts.limits.connectTimeoutMs;
        for (const c of this.connections.keys()) {
            if (!c.channel.started) {
                if (now - c.openedAt > connectTimeout)
                    c.destroy(); // no CONNECT in time: nothing to answer
            }
            else if (c.channel.credentialsExpireAt > 0 && now >= c.channel.credentialsExpireAt) {
                c.destroy(); // credentials expired without re-authentication: close the TCP connection, as Azure IoT MQ does
            }
            else if (c.channel.inputPaused) {
                c.lastPacketAt = now; // pushback stopped reading it: its packets are waiting in the socket, not missing
            }
            else if (c.keepAliveMs > 0 && now - c.lastPacketAt > c.keepAliveMs) {
                c.channel.timeout(RC.KeepAliveTimeout); // [MQTT-3.1.2-22]
            }
            else if (c.partialSince > 0 && now - c.partialSince > Math.max(connectTimeout, c.keepAliveMs)) {
                c.destroy(); // a packet stalled half-way
            }
            if (c.channel.flowState !== undefined && c.channel.connected)
                this.judgeReader(c, now);
        }
    }
    /** The stall verdict on a subscriber the pushback has met (see pushback.ts). */
    judgeReader(c, now) {
        const ch = c.channel;
        const f = ch.flowState;
        const pending = c.backlog > 0 || f.unacked > 0 || f.queueBehind;
        const verdict = judge(f, pending, c.drainedBytes + f.acks, now, this.opts.limits.stalledSubscriberSeconds * 1000);
        if (verdict === undefined)
            return;
        const drops = f.episodeDrops;
        ch.setStalled(verdict === 'stalled');
        if (verdict === 'stalled') {
            this.opts.log.warn({ clientId: ch.clientId, seconds: this.opts.limits.stalledSubscriberSeconds, backlogBytes: c.backlog, unacknowledged: f.unacked }, 'subscriber stalled: it no longer slows its publishers; its QoS 0 messages and queue overflow are dropped (counted in $SYS/broker/messages/dropped)');
        }
        else {
            this.opts.log.warn({ clientId: ch.clientId, droppedQos0: drops }, 'stalled subscriber is draining again');
        }
    }
    /** Every live channel with the listener port it came in on. */
    portChannels() {
        return [...this.connections].map(([c, where]) => ({ ...where, channel: c.channel }));
    }
    /** The live channel of one client (at most one: a new connection takes the session over). */
    portChannelsOf(clientId) {
        const channel = this.byClientId.get(clientId);
        const where = channel && this.whereOf.get(channel);
        return channel && where ? [{ ...where, channel }] : [];
    }
    /** ChannelRegistry: keeps the client id index current. */
    opened(channel) {
        this.byClientId.set(channel.clientId, channel);
    }
    closed(channel) {
        if (this.byClientId.get(channel.clientId) === channel)
            this.byClientId.delete(channel.clientId);
    }
    async close() {
        clearInterval(this.watchdog);
        for (const w of this.wss)
            w.close();
        for (const s of this.servers)
            s.close();
        for (const c of this.connections.keys())
            c.channel.kick(RC.ServerShuttingDown);
        for (const c of [...this.connections.keys()])
            c.destroy();
    }
}
//# sourceMappingURL=frontend.js.map