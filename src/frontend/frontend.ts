/**
 * The front end of one process: opens the listeners of its BrokerListener resources, turns each
 * accepted stream into a Connection, and runs one coarse watchdog for all of them (connect
 * timeout, keep-alive at 1.5x, packets stalled half-way) instead of a timer per socket.
 */
import net from 'node:net';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Logger } from 'pino';
import type { ClientLimits, ListenerPort, ListenerSettings } from '../config/model.js';
import type { BrokerCore } from '../core/broker-core.js';
import { RC } from '../mqtt/reason-codes.js';
import type { Channel, ChannelContext, ChannelRegistry } from './channel.js';
import { Connection, peerCertificateChain } from './connection.js';
import { openAccess, type Authenticator, type Authorizer, type PortSecurity } from './ports.js';
import { judge, pauseCount } from './pushback.js';
import { deliveryLatency } from './delivery-sampler.js';
import type { LatencyHistogram } from '../observability/histogram.js';

export interface FrontEndOptions {
  core: BrokerCore;
  limits: ClientLimits;
  listeners: ListenerSettings[];
  host: string;
  log: Logger;
  authn?: Authenticator;
  authz?: Authorizer;
  /**
   * Per-port TLS and authentication/authorization (the security room). Without it every port is
   * plain and anonymous, which is only allowed on a loopback address.
   */
  security?: (listener: ListenerSettings, port: ListenerPort, index: number) => PortSecurity;
  /**
   * Plain TCP connections read into one shared buffer, each read copied out (util/shared-reads.ts): for
   * a front end whose core keeps no payload past the event-loop turn (a cluster front end).
   */
  sharedReads?: boolean;
}

/** Where a connection came in: for re-checks when security configuration changes. */
export interface PortChannel {
  listener: string;
  portIndex: number;
  channel: Channel;
}

/** One live connection as operators see it (admin API, console). */
export interface ClientInfo {
  clientId: string;
  connected: boolean;
  listener: string;
  remoteAddress: string;
  protocolVersion: 3 | 4 | 5;
  username?: string;
  /** When the socket was accepted (ms epoch). */
  since: number;
}

export interface OpenListener {
  name: string;
  protocol: ListenerPort['protocol'];
  host: string;
  port: number;
  tls?: boolean;
}

/** 127.0.0.0/8, ::1, localhost: the only addresses served without authentication by default. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return net.isIPv4(v4) && v4.startsWith('127.');
}

const WATCHDOG_MS = 250;

export class FrontEnd implements ChannelRegistry {
  private readonly connections = new Map<Connection, { listener: string; portIndex: number }>();
  private readonly servers: Array<net.Server | http.Server> = [];
  private readonly wss: WebSocketServer[] = [];
  private readonly watchdog: NodeJS.Timeout;
  private readonly byClientId = new Map<string, Channel>();
  private droppedByClosed = 0;
  private readonly whereOf = new WeakMap<Channel, { listener: string; portIndex: number }>();
  private readonly contexts = new WeakMap<PortSecurity, ChannelContext>();
  readonly open: OpenListener[] = [];

  constructor(private readonly opts: FrontEndOptions) {
    this.watchdog = setInterval(() => this.checkTimeouts(), WATCHDOG_MS);
    this.watchdog.unref();
  }

  /** Every listener opened and still listening (readiness). */
  get listening(): boolean {
    return this.servers.length > 0 && this.servers.every((s) => s.listening);
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** QoS 0 messages shed for stalled readers, over every connection this front end has served. */
  droppedQos0(): number {
    let n = this.droppedByClosed;
    for (const c of this.connections.keys()) n += c.channel.droppedQos0;
    return n;
  }

  /** Sampled publish-to-delivery latency of client traffic (delivery-sampler.ts; shared by the process's front ends). */
  get deliveryLatency(): LatencyHistogram {
    return deliveryLatency;
  }

  /** Times a publisher was read more slowly because subscribers it feeds were behind (pushback.ts). */
  publishersThrottled(): number {
    return pauseCount();
  }

  async start(): Promise<void> {
    for (const l of this.opts.listeners) {
      for (const [i, port] of l.ports.entries()) await this.listen(l, port, i);
    }
  }

  private portSecurity(l: ListenerSettings, port: ListenerPort, index: number): PortSecurity {
    if (this.opts.security) return this.opts.security(l, port, index);
    if (!isLoopbackHost(this.opts.host)) {
      throw new Error(`BrokerListener/${l.name}: refusing to serve ${this.opts.host}:${port.port} without authentication (no security configured)`);
    }
    return { authn: () => this.opts.authn ?? openAccess, authz: () => this.opts.authz ?? openAccess };
  }

  private async listen(l: ListenerSettings, port: ListenerPort, index: number): Promise<void> {
    const host = this.opts.host;
    const ps = this.portSecurity(l, port, index);
    // A TLS handshake that never completes is held to the same deadline as a missing CONNECT.
    const tlsOptions = ps.tls ? { handshakeTimeout: this.opts.limits.connectTimeoutMs, ...ps.tls } : undefined;
    const where = { listener: l.name, portIndex: index };
    let server: net.Server | http.Server;
    if (port.protocol === 'websockets') {
      const answer426 = (_req: http.IncomingMessage, res: http.ServerResponse) => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end('this port speaks MQTT over WebSocket (subprotocol "mqtt")\n');
      };
      const httpServer = tlsOptions ? https.createServer(tlsOptions, answer426) : http.createServer(answer426);
      const wss = new WebSocketServer({
        server: httpServer,
        maxPayload: this.opts.limits.maxPacketSizeBytes + 8,
        handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
      });
      wss.on('connection', (ws, req) => {
        const certs = ps.tls ? peerCertificateChain(req.socket as tls.TLSSocket) : undefined;
        if (certs === 'rejected') return ws.terminate();
        const stream = createWebSocketStream(ws) as unknown as ConstructorParameters<typeof Connection>[0];
        this.accept(stream, where, req.socket.remoteAddress ?? '', ps, certs);
      });
      this.wss.push(wss);
      server = httpServer;
    } else if (tlsOptions) {
      server = tls.createServer(tlsOptions, (socket) => {
        socket.setNoDelay(true);
        const certs = peerCertificateChain(socket);
        if (certs === 'rejected') return void socket.destroy(); // untrusted or expired client certificate
        this.accept(socket, where, socket.remoteAddress ?? '', ps, certs);
      });
    } else {
      server = net.createServer((socket) => {
        socket.setNoDelay(true);
        const c = this.accept(socket, where, socket.remoteAddress ?? '', ps, undefined);
        if (this.opts.sharedReads) c.readIntoSharedBuffer();
      });
    }
    if (ps.tls) {
      // Failed handshakes (wrong CA, plain MQTT on a TLS port) are the client's problem, not ours.
      server.on('tlsClientError', (err: Error) => this.opts.log.debug({ listener: l.name, err: err.message }, 'TLS handshake failed'));
      ps.attachServer?.(server as tls.Server);
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new Error(`BrokerListener/${l.name}: cannot listen on ${host}:${port.port}: ${err.code ?? err.message}`)),
      );
      server.listen(port.port, host, () => resolve());
    });
    const actual = (server.address() as AddressInfo).port;
    this.servers.push(server);
    this.open.push({ name: l.name, protocol: port.protocol, host, port: actual, tls: ps.tls !== undefined });
    this.opts.log.info({ listener: l.name, host, port: actual, protocol: port.protocol, tls: ps.tls !== undefined }, 'listening');
  }

  private accept(
    stream: ConstructorParameters<typeof Connection>[0],
    where: { listener: string; portIndex: number },
    remote: string,
    ps: PortSecurity,
    clientCertificates: import('node:crypto').X509Certificate[] | undefined,
  ): Connection {
    const c = new Connection(
      stream,
      this.contextFor(where.listener, ps),
      remote,
      this.opts.limits.maxPacketSizeBytes,
      Date.now(),
      (closed) => {
        this.droppedByClosed += closed.channel.droppedQos0;
        this.connections.delete(closed);
      },
      clientCertificates,
    );
    this.connections.set(c, where);
    this.whereOf.set(c.channel, where);
    return c;
  }

  /**
   * The channel context of a listener's connections, shared by all of them (one object fewer per
   * idle connection) and rebuilt when a configuration reload gives the port new security.
   */
  private contextFor(listener: string, ps: PortSecurity): ChannelContext {
    const authn = ps.authn();
    const authz = ps.authz();
    const cached = this.contexts.get(ps);
    if (cached && cached.listener === listener && cached.authn === authn && cached.authz === authz) return cached;
    const ctx: ChannelContext = { core: this.opts.core, limits: this.opts.limits, listener, authn, authz, registry: this };
    this.contexts.set(ps, ctx);
    return ctx;
  }

  private checkTimeouts(): void {
    const now = Date.now();
    const connectTimeout = this.opts.limits.connectTimeoutMs;
    for (const c of this.connections.keys()) {
      c.trimIdle();
      if (!c.channel.started) {
        if (now - c.openedAt > connectTimeout) c.destroy(); // no CONNECT in time: nothing to answer
      } else if (c.channel.credentialsExpireAt > 0 && now >= c.channel.credentialsExpireAt) {
        c.destroy(); // credentials expired without re-authentication: close the TCP connection, as Azure IoT MQ does
      } else if (c.channel.inputPaused) {
        c.lastPacketAt = now; // pushback stopped reading it: its packets are waiting in the socket, not missing
      } else if (c.keepAliveMs > 0 && now - c.lastPacketAt > c.keepAliveMs) {
        c.channel.timeout(RC.KeepAliveTimeout); // [MQTT-3.1.2-22]
      } else if (c.partialSince > 0 && now - c.partialSince > Math.max(connectTimeout, c.keepAliveMs)) {
        c.destroy(); // a packet stalled half-way
      }
      if (c.channel.flowState !== undefined && c.channel.connected) this.judgeReader(c, now);
    }
  }

  /** The stall verdict on a subscriber the pushback has met (see pushback.ts). */
  private judgeReader(c: Connection, now: number): void {
    const ch = c.channel;
    const f = ch.flowState!;
    const pending = c.backlog > 0 || f.unacked > 0 || f.queueBehind;
    const verdict = judge(f, pending, c.drainedBytes + f.acks, now, this.opts.limits.stalledSubscriberSeconds * 1000);
    if (verdict === undefined) return;
    const drops = f.episodeDrops;
    ch.setStalled(verdict === 'stalled');
    if (verdict === 'stalled') {
      this.opts.log.warn(
        { clientId: ch.clientId, seconds: this.opts.limits.stalledSubscriberSeconds, backlogBytes: c.backlog, unacknowledged: f.unacked },
        'subscriber stalled: it no longer slows its publishers; its QoS 0 messages and queue overflow are dropped (counted in $SYS/broker/messages/dropped)',
      );
    } else {
      this.opts.log.warn({ clientId: ch.clientId, droppedQos0: drops }, 'stalled subscriber is draining again');
    }
  }

  /** Every live channel with the listener port it came in on. */
  portChannels(): PortChannel[] {
    return [...this.connections].map(([c, where]) => ({ ...where, channel: c.channel }));
  }

  /** The live channel of one client (at most one: a new connection takes the session over). */
  portChannelsOf(clientId: string): PortChannel[] {
    const channel = this.byClientId.get(clientId);
    const where = channel && this.whereOf.get(channel);
    return channel && where ? [{ ...where, channel }] : [];
  }

  /** ChannelRegistry: keeps the client id index current. */
  opened(channel: Channel): void {
    this.byClientId.set(channel.clientId, channel);
  }

  closed(channel: Channel): void {
    if (this.byClientId.get(channel.clientId) === channel) this.byClientId.delete(channel.clientId);
  }

  /** Every accepted socket, connected or still in CONNECT. */
  clients(): ClientInfo[] {
    const out: ClientInfo[] = [];
    for (const [c, where] of this.connections) {
      const ch = c.channel;
      const username = ch.identity?.username;
      out.push({
        clientId: ch.clientId,
        connected: ch.connected,
        listener: where.listener,
        remoteAddress: c.remoteAddress,
        protocolVersion: ch.version,
        ...(username !== undefined ? { username } : {}),
        since: c.openedAt,
      });
    }
    return out;
  }

  /** Ends a client's connection (DISCONNECT with `reasonCode` for MQTT 5); false when it is not connected here. */
  disconnectClient(clientId: string, reasonCode: number = RC.AdministrativeAction): boolean {
    const channel = this.byClientId.get(clientId);
    if (!channel) return false;
    channel.kick(reasonCode);
    return true;
  }

  async close(): Promise<void> {
    clearInterval(this.watchdog);
    for (const w of this.wss) w.close();
    for (const s of this.servers) s.close();
    for (const c of this.connections.keys()) c.channel.kick(RC.ServerShuttingDown);
    for (const c of [...this.connections.keys()]) c.destroy();
  }
}
