/**
 * The front end of one process: opens the listeners of its BrokerListener resources, turns each
 * accepted stream into a Connection, and runs one coarse watchdog for all of them (connect
 * timeout, keep-alive at 1.5x, packets stalled half-way) instead of a timer per socket.
 */
import net from 'node:net';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Logger } from 'pino';
import type { ClientLimits, ListenerPort, ListenerSettings } from '../config/model.js';
import type { BrokerCore } from '../core/broker-core.js';
import { RC } from '../mqtt/reason-codes.js';
import { Connection } from './connection.js';
import { openAccess, type Authenticator, type Authorizer } from './ports.js';

export interface FrontEndOptions {
  core: BrokerCore;
  limits: ClientLimits;
  listeners: ListenerSettings[];
  host: string;
  log: Logger;
  authn?: Authenticator;
  authz?: Authorizer;
}

export interface OpenListener {
  name: string;
  protocol: ListenerPort['protocol'];
  host: string;
  port: number;
}

const WATCHDOG_MS = 250;

export class FrontEnd {
  private readonly connections = new Set<Connection>();
  private readonly servers: Array<net.Server | http.Server> = [];
  private readonly wss: WebSocketServer[] = [];
  private readonly watchdog: NodeJS.Timeout;
  readonly open: OpenListener[] = [];

  constructor(private readonly opts: FrontEndOptions) {
    this.watchdog = setInterval(() => this.checkTimeouts(), WATCHDOG_MS);
    this.watchdog.unref();
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  async start(): Promise<void> {
    for (const l of this.opts.listeners) {
      for (const port of l.ports) await this.listen(l, port);
    }
  }

  private async listen(l: ListenerSettings, port: ListenerPort): Promise<void> {
    const host = this.opts.host;
    let server: net.Server | http.Server;
    if (port.protocol === 'websockets') {
      const httpServer = http.createServer((_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end('this port speaks MQTT over WebSocket (subprotocol "mqtt")\n');
      });
      const wss = new WebSocketServer({
        server: httpServer,
        maxPayload: this.opts.limits.maxPacketSizeBytes + 8,
        handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
      });
      wss.on('connection', (ws, req) => {
        const stream = createWebSocketStream(ws) as unknown as ConstructorParameters<typeof Connection>[0];
        this.accept(stream, l.name, req.socket.remoteAddress ?? '');
      });
      this.wss.push(wss);
      server = httpServer;
    } else {
      server = net.createServer((socket) => {
        socket.setNoDelay(true);
        this.accept(socket, l.name, socket.remoteAddress ?? '');
      });
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new Error(`BrokerListener/${l.name}: cannot listen on ${host}:${port.port}: ${err.code ?? err.message}`)),
      );
      server.listen(port.port, host, () => resolve());
    });
    const actual = (server.address() as AddressInfo).port;
    this.servers.push(server);
    this.open.push({ name: l.name, protocol: port.protocol, host, port: actual });
    this.opts.log.info({ listener: l.name, host, port: actual, protocol: port.protocol }, 'listening');
  }

  private accept(stream: ConstructorParameters<typeof Connection>[0], listener: string, remote: string): void {
    const c = new Connection(
      stream,
      {
        core: this.opts.core,
        limits: this.opts.limits,
        listener,
        authn: this.opts.authn ?? openAccess,
        authz: this.opts.authz ?? openAccess,
      },
      remote,
      this.opts.limits.maxPacketSizeBytes,
      Date.now(),
      (closed) => this.connections.delete(closed),
    );
    this.connections.add(c);
  }

  private checkTimeouts(): void {
    const now = Date.now();
    const connectTimeout = this.opts.limits.connectTimeoutMs;
    for (const c of this.connections) {
      if (!c.channel.started) {
        if (now - c.openedAt > connectTimeout) c.destroy(); // no CONNECT in time: nothing to answer
      } else if (c.channel.credentialsExpireAt > 0 && now >= c.channel.credentialsExpireAt) {
        c.destroy(); // credentials expired without re-authentication: close the TCP connection, as Azure IoT MQ does
      } else if (c.keepAliveMs > 0 && now - c.lastPacketAt > c.keepAliveMs) {
        c.channel.timeout(RC.KeepAliveTimeout); // [MQTT-3.1.2-22]
      } else if (c.partialSince > 0 && now - c.partialSince > Math.max(connectTimeout, c.keepAliveMs)) {
        c.destroy(); // a packet stalled half-way
      }
    }
  }

  /** Every live channel, e.g. to end sessions a changed authorization policy no longer allows. */
  channels(): Iterable<import('./channel.js').Channel> {
    return [...this.connections].map((c) => c.channel);
  }

  async close(): Promise<void> {
    clearInterval(this.watchdog);
    for (const w of this.wss) w.close();
    for (const s of this.servers) s.close();
    for (const c of this.connections) c.channel.kick(RC.ServerShuttingDown);
    for (const c of [...this.connections]) c.destroy();
  }
}
