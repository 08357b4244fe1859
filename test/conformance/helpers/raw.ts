/**
 * A raw MQTT client over a plain TCP socket, built on mqtt-packet: sends arbitrary packets (or bytes) and
 * hands back the parsed packets the broker sends, so tests can withhold acknowledgements, observe DUP flags,
 * packet identifiers, topic aliases and the exact DISCONNECT / CONNACK reason codes.
 */
import net from 'node:net';
import mqttPacket from 'mqtt-packet';
import type { Packet, IConnackPacket, IConnectPacket, IPublishPacket, IDisconnectPacket, ISubackPacket } from 'mqtt-packet';

export type ProtocolVersion = 4 | 5;

export interface RawConnectOptions {
  protocolVersion?: ProtocolVersion;
  clientId?: string;
  clean?: boolean;
  keepalive?: number;
  properties?: IConnectPacket['properties'];
  will?: IConnectPacket['will'];
  username?: string;
  password?: Buffer;
}

const DEFAULT_WAIT = 3000;

export class RawClient {
  readonly socket: net.Socket;
  readonly protocolVersion: ProtocolVersion;
  /** Packets received and not yet taken by expectPacket. */
  readonly queue: Packet[] = [];
  /** Every packet received, in order. */
  readonly received: Packet[] = [];
  closed = false;
  parseError?: Error;
  private waiters: Array<() => void> = [];
  private nextId = 1;
  private readonly closedPromise: Promise<void>;

  constructor(socket: net.Socket, protocolVersion: ProtocolVersion) {
    this.socket = socket;
    this.protocolVersion = protocolVersion;
    const parser = mqttPacket.parser({ protocolVersion });
    parser.on('packet', (p: Packet) => {
      this.queue.push(p);
      this.received.push(p);
      this.wake();
    });
    parser.on('error', (e: Error) => {
      this.parseError = e;
      this.wake();
    });
    socket.on('data', (d) => parser.parse(d));
    socket.on('error', () => undefined);
    this.closedPromise = new Promise((resolve) => {
      socket.once('close', () => {
        this.closed = true;
        this.wake();
        resolve();
      });
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  static open(port: number, protocolVersion: ProtocolVersion = 5, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, host);
      s.setNoDelay(true);
      s.once('connect', () => resolve(new RawClient(s, protocolVersion)));
      s.once('error', reject);
    });
  }

  /** A packet identifier not used before on this client. */
  packetId(): number {
    const id = this.nextId;
    this.nextId = (this.nextId % 65535) + 1;
    return id;
  }

  send(packet: Packet | Record<string, unknown>): void {
    const buf = mqttPacket.generate(packet as Packet, { protocolVersion: this.protocolVersion });
    this.socket.write(buf);
  }

  sendRaw(bytes: Buffer | number[]): void {
    this.socket.write(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes));
  }

  /** Next queued packet (removed from the queue) with this cmd; other packets stay queued. */
  async expectPacket<T extends Packet = Packet>(
    cmd: Packet['cmd'],
    timeoutMs = DEFAULT_WAIT,
    pred: (p: T) => boolean = () => true,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.queue.findIndex((p) => p.cmd === cmd && pred(p as T));
      if (i >= 0) return this.queue.splice(i, 1)[0] as T;
      const left = deadline - Date.now();
      if (left <= 0 || this.closed) {
        throw new Error(
          `expected ${cmd} packet${this.closed ? ' but the connection closed' : ` within ${timeoutMs} ms`}; queued: ${this.describeQueue()}`,
        );
      }
      await this.waitForChange(left);
    }
  }

  /** Next packet of any kind. */
  async nextPacket(timeoutMs = DEFAULT_WAIT): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.queue.length) return this.queue.shift()!;
      const left = deadline - Date.now();
      if (left <= 0 || this.closed) throw new Error(`expected a packet; ${this.closed ? 'connection closed' : 'timeout'}`);
      await this.waitForChange(left);
    }
  }

  /** Waits `ms` and returns the packets of this cmd that arrived (and are queued), removing them. */
  async collectFor(cmd: Packet['cmd'], ms: number): Promise<Packet[]> {
    await sleep(ms);
    const out = this.queue.filter((p) => p.cmd === cmd);
    for (const p of out) this.queue.splice(this.queue.indexOf(p), 1);
    return out;
  }

  /** Asserts no packet of this cmd arrives within ms. */
  async expectNoPacket(cmd: Packet['cmd'], ms = 500): Promise<void> {
    const got = await this.collectFor(cmd, ms);
    if (got.length) throw new Error(`expected no ${cmd} packet, got ${got.length}: ${JSON.stringify(got.map(short))}`);
  }

  /** Resolves when the broker closes the connection; rejects after timeoutMs. */
  async expectClose(timeoutMs = DEFAULT_WAIT): Promise<void> {
    if (this.closed) return;
    let t: NodeJS.Timeout | undefined;
    await Promise.race([
      this.closedPromise,
      new Promise<void>((_, reject) => {
        t = setTimeout(() => reject(new Error(`expected the broker to close the connection within ${timeoutMs} ms; queued: ${this.describeQueue()}`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(t));
  }

  /**
   * Expects the broker to end the connection because of a protocol violation. For MQTT 5 with `strict`, a DISCONNECT
   * carrying `reasonCode` must precede the close (spec 4.13: the server sends DISCONNECT with the reason code where it
   * can); without `strict`, a bare close is accepted but a DISCONNECT, if sent, must carry the code.
   */
  async expectDisconnect(reasonCode: number | number[], opts: { strict?: boolean; timeoutMs?: number } = {}): Promise<IDisconnectPacket | undefined> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_WAIT;
    await this.expectClose(timeoutMs);
    const d = this.received.find((p) => p.cmd === 'disconnect') as IDisconnectPacket | undefined;
    const codes = Array.isArray(reasonCode) ? reasonCode : [reasonCode];
    if (this.protocolVersion === 5) {
      if (!d && opts.strict) throw new Error(`expected DISCONNECT with reason ${hex(codes)} before close, got a bare close; received: ${this.describeReceived()}`);
      if (d && !codes.includes(d.reasonCode ?? 0)) throw new Error(`expected DISCONNECT reason ${hex(codes)}, got ${hex([d.reasonCode ?? 0])}`);
    } else if (d) {
      throw new Error('a 3.1.1 server must never send DISCONNECT');
    }
    return d;
  }

  private waitForChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.waiters.push(done);
    });
  }

  describeQueue(): string {
    return JSON.stringify(this.queue.map(short));
  }

  describeReceived(): string {
    return JSON.stringify(this.received.map(short));
  }

  // ---- convenience operations ----

  async subscribe(
    filters: Array<{ topic: string; qos: 0 | 1 | 2; nl?: boolean; rap?: boolean; rh?: number }>,
    properties?: ISubackPacket['properties'] & { subscriptionIdentifier?: number },
  ): Promise<ISubackPacket> {
    const messageId = this.packetId();
    this.send({ cmd: 'subscribe', messageId, subscriptions: filters.map((f) => ({ nl: false, rap: false, rh: 0, ...f })), properties });
    return this.expectPacket<ISubackPacket>('suback', DEFAULT_WAIT, (p) => p.messageId === messageId);
  }

  publish(topic: string, payload: string | Buffer, opts: { qos?: 0 | 1 | 2; retain?: boolean; dup?: boolean; messageId?: number; properties?: IPublishPacket['properties'] } = {}): number | undefined {
    const qos = opts.qos ?? 0;
    const messageId = qos > 0 ? (opts.messageId ?? this.packetId()) : undefined;
    this.send({ cmd: 'publish', topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, qos, retain: opts.retain ?? false, dup: opts.dup ?? false, messageId, properties: opts.properties });
    return messageId;
  }

  puback(messageId: number): void {
    this.send({ cmd: 'puback', messageId });
  }

  disconnect(reasonCode = 0, properties?: IDisconnectPacket['properties']): void {
    this.send(this.protocolVersion === 5 ? { cmd: 'disconnect', reasonCode, properties } : { cmd: 'disconnect' });
  }

  destroy(): void {
    this.socket.destroy();
  }

  end(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 200).unref();
    return this.closedPromise;
  }
}

function short(p: Packet): unknown {
  const o: Record<string, unknown> = { ...(p as unknown as Record<string, unknown>) };
  if (Buffer.isBuffer(o.payload)) o.payload = (o.payload as Buffer).length > 40 ? `<${(o.payload as Buffer).length} bytes>` : (o.payload as Buffer).toString();
  delete o.length;
  return o;
}

function hex(codes: number[]): string {
  return codes.map((c) => '0x' + c.toString(16).padStart(2, '0')).join('|');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Opens a socket, sends CONNECT, and returns the client and its CONNACK. */
export async function rawConnect(port: number, opts: RawConnectOptions = {}): Promise<{ client: RawClient; connack: IConnackPacket }> {
  const protocolVersion = opts.protocolVersion ?? 5;
  const client = await RawClient.open(port, protocolVersion);
  client.send({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion,
    clean: opts.clean ?? true,
    clientId: opts.clientId ?? '',
    keepalive: opts.keepalive ?? 60,
    properties: protocolVersion === 5 ? opts.properties : undefined,
    will: opts.will,
    username: opts.username,
    password: opts.password,
  });
  const connack = await client.expectPacket<IConnackPacket>('connack');
  return { client, connack };
}

/** CONNACK return code for either protocol version. */
export function connackCode(c: IConnackPacket): number {
  return (c.reasonCode ?? c.returnCode ?? 0) as number;
}
