/**
 * A raw TCP connection to the broker: writes arbitrary bytes, parses whatever the broker answers with mqtt-packet
 * (v4 or v5 parser) and records when and how the socket closed. Tests assert on exact packets and reason codes.
 */
import net from 'node:net';
import mqttPacket from 'mqtt-packet';
import { connect as connectBytes, type Version } from './packets.js';

const RECEIVED_CAP = 1 << 20;

export type Packet = mqttPacket.Packet & { reasonCode?: number; returnCode?: number; granted?: number[] };

export class RawConn {
  readonly socket: net.Socket;
  readonly packets: Packet[] = [];
  /** The bytes the broker sent (the first RECEIVED_CAP of them; `receivedTruncated` tells when more came). */
  received = Buffer.alloc(0);
  receivedTruncated = false;
  /** Set when the broker's bytes did not parse: the broker produced garbage. */
  parseError?: Error;
  closed = false;
  closedAt?: number;
  readonly openedAt = Date.now();
  socketError?: Error;
  private consumed = 0;
  private waiters: Array<() => void> = [];
  private parser: ReturnType<typeof mqttPacket.parser>;
  /** Acknowledge incoming QoS 1/2 PUBLISH packets (PUBACK / PUBREC, PUBCOMP for PUBREL) like a normal client. */
  autoAck = false;

  private constructor(socket: net.Socket, readonly version: Version) {
    this.socket = socket;
    this.parser = mqttPacket.parser({ protocolVersion: version });
    this.parser.on('packet', (raw: mqttPacket.Packet) => {
      const p = raw as Packet;
      this.packets.push(p);
      if (this.autoAck) this.ack(p);
      this.wake();
    });
    this.parser.on('error', (e: Error) => {
      this.parseError ??= e;
      this.wake();
    });
    socket.on('data', (d: Buffer) => {
      if (this.received.length < RECEIVED_CAP) this.received = Buffer.concat([this.received, d]);
      else this.receivedTruncated = true;
      if (!this.parseError) this.parser.parse(d);
    });
    socket.on('error', (e) => {
      this.socketError = e;
    });
    socket.on('close', () => {
      this.closed = true;
      this.closedAt = Date.now();
      this.wake();
    });
  }

  static open(port: number, version: Version = 5, host = '127.0.0.1'): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, host);
      s.setNoDelay(true);
      const c = new RawConn(s, version);
      s.once('connect', () => resolve(c));
      s.once('error', reject);
    });
  }

  /** Open, send CONNECT (clean start) and wait for a successful CONNACK. */
  static async connected(
    port: number,
    version: Version,
    clientId: string,
    extra: Partial<mqttPacket.IConnectPacket> = {},
  ): Promise<RawConn> {
    const c = await RawConn.open(port, version);
    c.send(connectBytes(version, clientId, extra));
    const ack = await c.waitFor('connack');
    const rc = version === 5 ? ack.reasonCode : ack.returnCode;
    if (rc !== 0) throw new Error(`CONNACK for ${clientId} refused: ${rc}`);
    return c;
  }

  send(bytes: Buffer | Uint8Array | number[]): void {
    if (this.closed || this.socket.destroyed) return;
    this.socket.write(Buffer.from(bytes as Uint8Array));
  }

  private ack(p: Packet): void {
    if (p.cmd === 'publish' && p.qos === 1) this.sendPacket({ cmd: 'puback', messageId: p.messageId });
    else if (p.cmd === 'publish' && p.qos === 2) this.sendPacket({ cmd: 'pubrec', messageId: p.messageId });
    else if (p.cmd === 'pubrel') this.sendPacket({ cmd: 'pubcomp', messageId: p.messageId });
  }

  /** Drop the packets collected so far (long runs) while keeping the consumption cursor consistent. */
  clearPackets(): void {
    this.packets.length = 0;
    this.consumed = 0;
  }

  /** Send a valid packet encoded by mqtt-packet. */
  sendPacket(p: mqttPacket.Packet): void {
    this.send(mqttPacket.generate(p, { protocolVersion: this.version }));
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  private changed(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  describe(): string {
    return (
      `packets=${JSON.stringify(this.packets.map(summary))} closed=${this.closed}` +
      (this.parseError ? ` parseError=${this.parseError.message}` : '') +
      ` bytes=${this.received.toString('hex').slice(0, 200)}`
    );
  }

  /** The next not yet consumed packet of this type (packets of other types before it are skipped). */
  async waitFor<C extends Packet['cmd']>(cmd: C, timeoutMs = 5000): Promise<Extract<Packet, { cmd: C }> & Packet> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let i = this.consumed; i < this.packets.length; i++) {
        if (this.packets[i].cmd === cmd) {
          this.consumed = i + 1;
          return this.packets[i] as Extract<Packet, { cmd: C }> & Packet;
        }
      }
      if (this.closed) throw new Error(`connection closed while waiting for ${cmd}: ${this.describe()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${cmd}: ${this.describe()}`);
      await this.changed(left);
    }
  }

  /** Resolves once the broker closed the socket; rejects after the timeout. */
  async waitClosed(timeoutMs = 5000): Promise<Packet[]> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`broker did not close the connection within ${timeoutMs} ms: ${this.describe()}`);
      await this.changed(left);
    }
    return this.packets;
  }

  /** Packets received after the CONNACK (the reaction to what the test sent). */
  afterConnack(): Packet[] {
    const i = this.packets.findIndex((p) => p.cmd === 'connack');
    return this.packets.slice(i + 1);
  }

  /** A PINGREQ/PINGRESP round trip: proves the connection is still served. */
  async ping(timeoutMs = 3000): Promise<void> {
    this.send([0xc0, 0x00]);
    await this.waitFor('pingresp', timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export function summary(p: Packet): string {
  const rc = p.reasonCode ?? p.returnCode;
  return `${p.cmd}${rc !== undefined ? `(0x${rc.toString(16)})` : ''}`;
}
