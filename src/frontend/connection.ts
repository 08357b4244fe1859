/**
 * Binds one byte stream (TCP socket or WebSocket stream) to one Channel: decoding (the hot-path
 * decoder for whole PUBLISH/ack packets, an mqtt-packet parser made on demand for the rest),
 * batched writes (one cork/uncork per event-loop iteration, so a burst of deliveries becomes one
 * writev), and the limits that must hold before a packet is even parsed: maximum packet size and
 * the first-packet rules.
 */
import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import mqttPacket from 'mqtt-packet';
import { MqttError } from '../mqtt/errors.js';
import { RC } from '../mqtt/reason-codes.js';
import { Channel, type ChannelContext, type Transport } from './channel.js';
import { createParser, isIdle, type ConnectionPacketParser, type ParserOwner } from './mqtt-parser.js';
import { cutHotPacket, decodeHotPackets, type HotPacket, type HotPacketSink } from './hot-decode.js';
import * as pushback from './pushback.js';
import { COALESCE_MAX, WriteBatch } from './write-batch.js';
import { readIntoSharedBuffer } from '../util/shared-reads.js';

/**
 * A connection's first writes of an event-loop iteration go to the stream as they are (CONNACK,
 * a PUBACK or two: no slab for a quiet connection); the ones after are batched.
 */
const BATCH_AFTER_WRITES = 8;

const kConnection = Symbol('edgemq.connection');
type Stream = Duplex & { remoteAddress?: string; writableLength: number; [kConnection]?: Connection };

// Event handlers are shared functions that find their connection through a symbol, so an idle
// connection carries no closures (memory per idle connection is a benchmarked figure).
function onStreamData(this: Stream, chunk: Buffer): void {
  this[kConnection]!.onData(chunk);
}
function onStreamGone(this: Stream): void {
  this[kConnection]!.destroy();
}
function onStreamDrain(this: Stream): void {
  this[kConnection]!.drained();
}

export class Connection implements Transport, HotPacketSink, ParserOwner {
  readonly channel: Channel;
  /**
   * The general decoder, created when a chunk holds something the hot decoder does not take, and
   * dropped again once it has nothing half-parsed after a quiet chunk: an idle connection (the
   * common case at the edge) carries no parser at all, while a busy one keeps its parser.
   */
  private parser: ConnectionPacketParser | undefined;
  /** The start of a PUBLISH/ack the last chunk cut short (hot-decode.ts, cutHotPacket). */
  private carry: Buffer | undefined;
  private protocolVersion = 4;
  private parsedInChunk = 0;
  private corked = false;
  /**
   * Made when the connection first gets busy; null for a WebSocket stream, which turns each write
   * into a frame of its own and is left as it is.
   */
  private batch: WriteBatch | null | undefined;
  /** Writes since the last flush; past BATCH_AFTER_WRITES they are batched. */
  private writesNow = 0;
  private closed = false;
  private failed = false;
  /** Coarse timestamps maintained by the watchdog (ms). */
  lastPacketAt: number;
  partialSince = 0;
  keepAliveMs = 0;
  readonly openedAt: number;

  constructor(
    private readonly stream: Stream,
    ctx: ChannelContext,
    remoteAddress: string,
    readonly maxPacketSize: number,
    now: number,
    private readonly onClose: (c: Connection) => void,
    readonly clientCertificates?: X509Certificate[],
  ) {
    this.remoteAddress = remoteAddress;
    this.openedAt = now;
    this.lastPacketAt = now;
    this.channel = new Channel(ctx, this);
    this.batch = stream instanceof net.Socket ? undefined : null;
    stream[kConnection] = this;
    stream.on('data', onStreamData);
    stream.on('error', onStreamGone);
    stream.on('close', onStreamGone);
    stream.on('end', onStreamGone);
  }

  /**
   * Reads into the buffer all plain TCP connections share, copied out per read (util/shared-reads.ts
   * says when that is right); in the server's 'connection' handler, before anything was read.
   */
  readIntoSharedBuffer(): boolean {
    return this.stream instanceof net.Socket && readIntoSharedBuffer(this.stream, onStreamData as (this: net.Socket, chunk: Buffer) => void);
  }

  /** Called by the channel once CONNECT set the keep-alive (seconds); enforced at 1.5x [MQTT-3.1.2-22]. */
  setKeepAlive(seconds: number): void {
    this.keepAliveMs = seconds * 1500;
  }

  readonly remoteAddress: string;

  get backlog(): number {
    return this.stream.writableLength + (this.batch?.pending ?? 0);
  }

  get drainedBytes(): number {
    // net.Socket counts what is still buffered in bytesWritten; a WebSocket stream has no counter.
    return ((this.stream as { bytesWritten?: number }).bytesWritten ?? 0) - this.stream.writableLength;
  }

  pauseInput(): void {
    if (!this.closed) this.stream.pause();
  }

  resumeInput(): void {
    if (!this.closed) this.stream.resume();
  }

  private watchingDrain = false;
  watchDrain(): void {
    if (this.watchingDrain || this.closed) return;
    this.watchingDrain = true;
    this.stream.once('drain', onStreamDrain);
  }

  drained(): void {
    this.watchingDrain = false;
    pushback.drained(this.channel);
  }

  onData(chunk: Buffer): void {
    if (this.failed || this.closed) return;
    if (this.carry !== undefined) {
      chunk = Buffer.concat([this.carry, chunk]);
      this.carry = undefined;
    }
    if (this.channel.started && (this.parser === undefined || isIdle(this.parser))) {
      // Nothing half-parsed is waiting: whole PUBLISH/ack packets at the front skip mqtt-packet.
      const used = decodeHotPackets(chunk, this.protocolVersion, this.maxPacketSize, this);
      if (used > 0) {
        this.lastPacketAt = Date.now();
        if (used === chunk.length || this.failed || this.closed) {
          this.partialSince = 0;
          return;
        }
      }
      if (cutHotPacket(chunk, used, this.maxPacketSize)) {
        // The chunk ended inside a PUBLISH/ack: it is decoded here with the next chunk, so a busy
        // stream stays on the hot decoder instead of moving to mqtt-packet for good.
        this.carry = chunk.subarray(used);
        // The clock of a packet stalled half-way starts when that packet started, not the stream.
        if (used > 0) this.partialSince = this.lastPacketAt;
        else if (this.partialSince === 0) this.partialSince = Date.now();
        return;
      }
      if (used > 0) chunk = chunk.subarray(used);
    }
    const parser = (this.parser ??= createParser(this, this.protocolVersion));
    this.parsedInChunk = 0;
    parser.parse(chunk);
    if (this.failed) return;
    const buffered = parser._list.length;
    if (buffered === 0) this.partialSince = 0;
    else if (this.parsedInChunk > 0 || this.partialSince === 0) this.partialSince = Date.now(); // a new packet is half-way
    // A chunk of one or two packets is a quiet connection's (CONNECT, SUBSCRIBE, PINGREQ): let the
    // parser go. A busy stream of packets the hot decoder does not take keeps it, so no churn.
    if (this.parsedInChunk <= 2 && isIdle(parser)) this.parser = undefined;
  }

  onPacket(p: mqttPacket.Packet): void {
    if (this.failed) return;
    this.lastPacketAt = Date.now();
    this.parsedInChunk++;
    if (p.cmd === 'connect') {
      // Later packets are decoded with the version CONNECT announced (v5 adds properties).
      this.protocolVersion = (p as mqttPacket.IConnectPacket).protocolVersion ?? 4;
      this.parser!.settings.protocolVersion = this.protocolVersion;
    }
    this.channel.handle(p);
  }

  acceptHotPacket(p: HotPacket): boolean {
    if (this.failed || this.closed) return false;
    this.channel.handle(p as unknown as mqttPacket.Packet);
    return !this.failed && !this.closed;
  }

  onParseError(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    if (!this.channel.started && /protocol version/i.test(err.message)) {
      this.channel.refuseProtocol(new MqttError(RC.UnsupportedProtocolVersion, err.message)); // [MQTT-3.1.2-2]
      return;
    }
    this.channel.failAfterPending(err instanceof MqttError ? err : new MqttError(parseErrorCode(err.message), err.message));
  }

  write(bytes: Buffer): boolean {
    if (this.closed) return true;
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      scheduleFlush(this);
    }
    if (this.batch === null || ++this.writesNow <= BATCH_AFTER_WRITES) return this.stream.write(bytes);
    // A busy connection: small packets go into one slab, written once per flush (write-batch.ts).
    const batch = (this.batch ??= new WriteBatch());
    if (!batch.add(bytes)) {
      const pending = batch.take();
      if (pending !== undefined) this.stream.write(pending);
      if (bytes.length > COALESCE_MAX) return this.stream.write(bytes);
      batch.renew();
      batch.add(bytes);
    }
    return this.stream.writableLength + batch.pending < this.stream.writableHighWaterMark;
  }

  writeStamped(bytes: Buffer, packetIdAt: number, packetId: number): boolean {
    if (!this.closed && this.corked && this.batch && this.writesNow >= BATCH_AFTER_WRITES && this.batch.addStamped(bytes, packetIdAt, packetId)) {
      this.writesNow++;
      return this.backlog < this.stream.writableHighWaterMark;
    }
    return this.write(stampedCopy(bytes, packetIdAt, packetId));
  }

  flush(): void {
    if (!this.corked) return;
    this.corked = false;
    this.writesNow = 0;
    const pending = this.batch?.take();
    if (pending !== undefined) this.stream.write(pending);
    this.stream.uncork();
  }

  /** The watchdog's call: a connection that batched nothing since the last call gives its slab back. */
  trimIdle(): void {
    if (this.batch && !this.batch.wasUsed() && !this.corked) this.batch = undefined; // slab and all
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

/** A packet of its own: `bytes` with `packetId` at `packetIdAt` (the stream keeps what it is given). */
function stampedCopy(bytes: Buffer, packetIdAt: number, packetId: number): Buffer {
  const copy = Buffer.allocUnsafe(bytes.length);
  copy.set(bytes);
  copy[packetIdAt] = packetId >> 8;
  copy[packetIdAt + 1] = packetId & 0xff;
  return copy;
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

/**
 * Corked connections are uncorked once per event-loop iteration, after every I/O callback of it
 * (setImmediate), not after each callback (nextTick): a subscriber fed by many publishers in one
 * iteration, or publishers whose PUBACKs come from several completed log writes, get one writev
 * instead of one per callback.
 */
let corkedNow: Array<Connection | undefined> = [];
let corkedCount = 0;
let corkedSpare: Array<Connection | undefined> = [];
let flushScheduled = false;

function scheduleFlush(c: Connection): void {
  corkedNow[corkedCount++] = c;
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushCorked);
  }
}

function flushCorked(): void {
  flushScheduled = false;
  const list = corkedNow;
  const n = corkedCount;
  corkedNow = corkedSpare; // writes made while flushing schedule the next round
  corkedCount = 0;
  for (let i = 0; i < n; i++) {
    list[i]!.flush();
    // Cleared, not emptied (`length = 0` gives the array's memory away, and the next round's first
    // write would allocate it again): a closed connection is not kept alive by the list.
    list[i] = undefined;
  }
  corkedSpare = list;
}

/**
 * mqtt-packet reports every decoding failure as a plain Error; a few of them are well-formed
 * packets that break a protocol rule, which the spec answers with 0x82 rather than 0x81.
 */
function parseErrorCode(message: string): number {
  if (/Invalid subscribe QoS|Invalid retain handling|no payload specified/i.test(message)) return RC.ProtocolError;
  return RC.MalformedPacket;
}
