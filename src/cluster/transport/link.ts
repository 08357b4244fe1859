/**
 * One internal TCP connection between two cluster processes, after or during the handshake.
 * Frames written in one event-loop turn leave in one `writev` (the socket is corked at the first
 * write and uncorked in the check phase), the way the client-facing connections batch. Senders
 * read `backlog` to respect the peer's pace: the link never drops a frame on its own.
 */
import type net from 'node:net';
import { FrameError, FrameReader, HEADER_BYTES, frameHeader } from './frame.js';
import { readIntoSharedBuffer } from '../../util/shared-reads.js';

export interface LinkHandlers {
  frame(link: Link, type: number, epoch: number, body: Buffer): void;
  /** Called once; `reason` is undefined for an orderly close by this side. */
  closed(link: Link, reason: string | undefined): void;
  /** The socket's buffer drained below the high-water mark after `backlog` grew. */
  drained?(link: Link): void;
}

/**
 * Bytes read from one link before it lets one event-loop turn pass. libuv reads a ready socket up
 * to 32 times 64 KiB in one go, and what a turn reads is answered (sealed, routed, flushed) at its
 * end: two processes with full links then worked in turns of tens of milliseconds, each idle while
 * the other worked (fan-in QoS 1 with a third of both cores idle). One 64 KiB read per turn lets
 * them work at once, a pipeline instead of a ping-pong: fan-in QoS 1 went from 95k to 141k msg/s in
 * one A/B run. Smaller turns were no faster there and cost fan-out its batching (one write per
 * subscriber socket per turn).
 */
const TURN_READ_BYTES = 64 * 1024;

const kLink = Symbol('edgemq.link');
type LinkSocket = net.Socket & { [kLink]?: Link };
function onLinkChunk(this: LinkSocket, chunk: Buffer): void {
  this[kLink]!.onChunk(chunk);
}

export class Link {
  private readonly reader: FrameReader;
  private corked = false;
  private ended = false;
  /** Bytes read since the link last let a turn pass (not reset by turns that stayed under the budget). */
  private readSinceYield = 0;
  private yielding = false;
  private inputHeld = false;
  /** Who is at the other end, once the handshake said so. */
  peer = '';
  /** The peer's incarnation (front ends): lets a back end tell a reconnect from a new process. */
  peerInstance = 0;

  constructor(
    readonly socket: net.Socket,
    maxFrameBytes: number,
    /** Replaced once the handshake is done: the handshake's handlers, then the application's. */
    public handlers: LinkHandlers,
    /** Reads into the shared buffer (util/shared-reads.ts): for a process that keeps no frame's bytes (a front end). */
    sharedReads = false,
  ) {
    socket.setNoDelay(true);
    this.reader = new FrameReader(maxFrameBytes, { frame: (t, e, b) => this.handlers.frame(this, t, e, b) });
    (socket as LinkSocket)[kLink] = this;
    if (!sharedReads || !readIntoSharedBuffer(socket, onLinkChunk)) socket.on('data', onLinkChunk);
    socket.on('drain', () => this.handlers.drained?.(this));
    socket.on('error', (err) => this.fail(err.message));
    socket.on('close', () => {
      const partial = this.reader.partialBytes;
      this.fail(partial > 0 ? `connection closed inside a frame (${partial} bytes of it received)` : 'connection closed by peer');
    });
  }

  onChunk(chunk: Buffer): void {
    if (this.ended) return;
    this.readSinceYield += chunk.length;
    if (this.readSinceYield >= TURN_READ_BYTES && !this.yielding) {
      this.yielding = true;
      this.socket.pause();
      setImmediate(this.nextTurn);
    }
    try {
      this.reader.push(chunk);
    } catch (err) {
      // A frame handler's own bug must not look like the peer's fault, but either way the stream
      // position is lost: the link is closed and the peer reconnects.
      this.fail(err instanceof FrameError ? err.message : `frame handling failed: ${(err as Error).message}`);
    }
  }

  /** Raise the frame limit once the peer is authenticated (the handshake allows only small frames). */
  set maxFrameBytes(n: number) {
    this.reader.maxFrameBytes = n;
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Stop reading the peer's frames (TCP backpressure on the peer), until `resumeInput`. */
  pauseInput(): void {
    this.inputHeld = true;
    if (!this.ended) this.socket.pause();
  }

  resumeInput(): void {
    this.inputHeld = false;
    if (!this.ended && !this.yielding) this.socket.resume();
  }

  private readonly nextTurn = (): void => {
    this.yielding = false;
    this.readSinceYield = 0;
    if (!this.ended && !this.inputHeld) this.socket.resume();
  };

  /** Bytes accepted for sending but not yet handed to the kernel. */
  get backlog(): number {
    return this.socket.writableLength;
  }

  /** A write was refused (backlog over the socket's high-water mark): a 'drain' will come. */
  get needsDrain(): boolean {
    return this.socket.writableNeedDrain;
  }

  get remote(): string {
    return `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? '?'}`;
  }

  send(type: number, epoch: number, body: Buffer): void {
    if (this.ended) return;
    this.cork();
    this.socket.write(frameHeader(type, epoch, body.length));
    if (body.length > 0) this.socket.write(body);
  }

  /** A frame whose body the caller wrote into `frame` after HEADER_BYTES (one buffer, one write). */
  sendFramed(type: number, epoch: number, frame: Buffer): void {
    if (this.ended) return;
    frameHeader(type, epoch, frame.length - HEADER_BYTES).copy(frame, 0);
    this.cork();
    this.socket.write(frame);
  }

  /**
   * Hand what this turn queued to the kernel now instead of at the check phase's uncork. For
   * senders that already batch a turn themselves and run in the check phase: a cork taken there
   * would be released only in the next event-loop iteration (setImmediate from an immediate waits a
   * whole turn), after that turn's I/O.
   */
  flush(): void {
    if (!this.corked || this.socket.destroyed) return;
    this.corked = false;
    this.socket.uncork();
  }

  private cork(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    setImmediate(this.uncork);
  }

  private readonly uncork = (): void => {
    this.corked = false;
    if (!this.socket.destroyed) this.socket.uncork();
  };

  /** Flush what is queued, then close. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.corked) {
      this.corked = false;
      this.socket.uncork();
    }
    this.socket.end();
    // Read on (and drop) what the peer still sends, so its FIN closes the socket: a link paused
    // for a turn or by pushback would otherwise wait for the timer below.
    this.socket.resume();
    // A peer that never reads must not keep the socket open forever.
    setTimeout(() => this.socket.destroy(), 2000).unref();
    this.handlers.closed(this, undefined);
  }

  /** Drop the connection at once (protocol error, peer gone). */
  fail(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.destroy();
    this.handlers.closed(this, reason);
  }
}
