/**
 * Binds one byte stream (TCP socket or WebSocket stream) to one Channel: decoding with a
 * per-connection mqtt-packet parser, batched writes (one cork/uncork per tick, so a burst of
 * deliveries becomes one writev), and the limits that must hold before a packet is even parsed:
 * maximum packet size and the first-packet rules.
 */
import { X509Certificate } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import mqttPacket from 'mqtt-packet';
import { MqttError } from '../mqtt/errors.js';
import { RC } from '../mqtt/reason-codes.js';
import { Channel, type ChannelContext, type Transport } from './channel.js';
import { installStrictProperties } from './strict-properties.js';

interface ParserInternals {
  packet: { length: number; cmd?: string };
  settings: { protocolVersion?: number };
  _parseLength(): boolean;
  _emitError(err: Error): void;
  _list: { length: number };
}

export class Connection implements Transport {
  readonly channel: Channel;
  private readonly parser: mqttPacket.Parser;
  private corked = false;
  private closed = false;
  private failed = false;
  /** Coarse timestamps maintained by the watchdog (ms). */
  lastPacketAt: number;
  partialSince = 0;
  keepAliveMs = 0;
  readonly openedAt: number;

  constructor(
    private readonly stream: Duplex & { remoteAddress?: string; writableLength: number },
    ctx: ChannelContext,
    remoteAddress: string,
    private readonly maxPacketSize: number,
    now: number,
    private readonly onClose: (c: Connection) => void,
    /** The verified client certificate chain of a TLS connection, leaf first (see `peerCertificateChain`). */
    readonly clientCertificates?: X509Certificate[],
  ) {
    this.remoteAddress = remoteAddress;
    this.openedAt = now;
    this.lastPacketAt = now;
    this.channel = new Channel({ ...ctx, onKeepAlive: (s) => (this.keepAliveMs = s * 1500) }, this);
    this.parser = mqttPacket.parser({ protocolVersion: 4 });
    this.guardPacketSize();
    installStrictProperties(this.parser);
    this.parser.on('packet', (p) => this.onPacket(p));
    this.parser.on('error', (err) => this.onParseError(err));
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('error', () => this.destroy());
    stream.on('close', () => this.destroy());
    stream.on('end', () => this.destroy());
  }

  readonly remoteAddress: string;

  get backlog(): number {
    return this.stream.writableLength;
  }

  /**
   * Checks the Remaining Length as soon as it is decoded, before the parser buffers the body,
   * so an oversized packet costs us its header, not its size [MQTT-3.2.2-15].
   */
  private guardPacketSize(): void {
    const p = this.parser as unknown as ParserInternals;
    const parseLength = p._parseLength;
    const max = this.maxPacketSize;
    p._parseLength = function (this: ParserInternals) {
      const done = parseLength.call(this);
      if (done && 1 + varIntSize(this.packet.length) + this.packet.length > max) {
        this._emitError(new MqttError(RC.PacketTooLarge, `packet of ${this.packet.length} bytes exceeds ${max}`));
        return false;
      }
      return done;
    };
  }

  private onData(chunk: Buffer): void {
    if (this.failed || this.closed) return;
    this.parser.parse(chunk);
    if (this.failed) return;
    const buffered = (this.parser as unknown as ParserInternals)._list.length;
    this.partialSince = buffered > 0 ? this.partialSince || Date.now() : 0;
  }

  private onPacket(p: mqttPacket.Packet): void {
    if (this.failed) return;
    this.lastPacketAt = Date.now();
    if (p.cmd === 'connect') {
      // Later packets are decoded with the version CONNECT announced (v5 adds properties).
      (this.parser as unknown as ParserInternals).settings.protocolVersion = (p as mqttPacket.IConnectPacket).protocolVersion;
    }
    this.channel.handle(p);
  }

  private onParseError(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    if (!this.channel.started && /protocol version/i.test(err.message)) {
      this.channel.refuseProtocol(new MqttError(RC.UnsupportedProtocolVersion, err.message)); // [MQTT-3.1.2-2]
      return;
    }
    this.channel.failAfterPending(err instanceof MqttError ? err : new MqttError(parseErrorCode(err.message), err.message));
  }

  write(bytes: Buffer): void {
    if (this.closed) return;
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      process.nextTick(uncork, this);
    }
    this.stream.write(bytes);
  }

  flush(): void {
    if (!this.corked) return;
    this.corked = false;
    this.stream.uncork();
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.stream.end();
    // A peer that does not read its last bytes must not keep the socket alive.
    setTimeout(() => this.stream.destroy(), 2000).unref();
    this.finish();
  }

  destroy(): void {
    if (!this.closed) {
      this.closed = true;
      this.stream.destroy();
    }
    this.finish();
  }

  private finished = false;
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.channel.onTransportClosed();
    this.onClose(this);
  }
}

/**
 * The client certificate chain of a TLS socket, leaf first: `undefined` when the client sent none,
 * 'rejected' when it sent one the trusted CAs do not vouch for (wrong CA, expired, ...): such a
 * socket is closed before it can speak MQTT.
 */
export function peerCertificateChain(socket: TLSSocket): X509Certificate[] | undefined | 'rejected' {
  const leaf = socket.getPeerCertificate(true);
  if (!leaf || !leaf.raw) return undefined;
  if (!socket.authorized) return 'rejected';
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  for (let c: typeof leaf | undefined = leaf; c?.raw && !seen.has(c.fingerprint256); c = c.issuerCertificate) {
    seen.add(c.fingerprint256);
    chain.push(new X509Certificate(c.raw));
  }
  return chain;
}

function uncork(c: Connection): void {
  c.flush();
}

/**
 * mqtt-packet reports every decoding failure as a plain Error; a few of them are well-formed
 * packets that break a protocol rule, which the spec answers with 0x82 rather than 0x81.
 */
function parseErrorCode(message: string): number {
  if (/Invalid subscribe QoS|Invalid retain handling|no payload specified/i.test(message)) return RC.ProtocolError;
  return RC.MalformedPacket;
}

function varIntSize(n: number): number {
  return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4;
}
