/**
 * Frames of the cluster's internal protocol. Every frame is length-prefixed and versioned, and
 * carries the map epoch it was sent under (the seam replication needs: a chain member refuses work
 * of an older epoch):
 *
 *   frame = u32:length u8:version u8:type u32:epoch body      (length counts everything after itself)
 *
 * The body layouts per type are in `protocol.ts`; this file only cuts a byte stream into frames and
 * refuses what is not one (wrong version, too short, longer than the receiver allows) without
 * throwing past the link that read it.
 */

/**
 * 4: command records may hold runs of acks (storage/command-codec.ts), which a version 3 node cannot read.
 * 5: and AcksCommand entries (0x06), which a version 4 node cannot read.
 */
export const FRAME_VERSION = 5;
/** u32 length + u8 version + u8 type + u32 epoch. */
export const HEADER_BYTES = 10;
/** Bytes counted by the length field besides the body. */
const HEAD_AFTER_LENGTH = HEADER_BYTES - 4;

export class FrameError extends Error {
  readonly code = 'EDGEMQ_FRAME';
}

/** A frame header with room for the body, which the caller writes at `HEADER_BYTES`. */
export function frameHeader(type: number, epoch: number, bodyLength: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER_BYTES);
  h.writeUInt32BE(bodyLength + HEAD_AFTER_LENGTH, 0);
  h[4] = FRAME_VERSION;
  h[5] = type;
  h.writeUInt32BE(epoch >>> 0, 6);
  return h;
}

export interface FrameSink {
  frame(type: number, epoch: number, body: Buffer): void;
}

/**
 * Cuts a byte stream into frames. Bodies are views of the received chunk when a frame lies within
 * one chunk (no copy); a frame spread over chunks is joined once.
 */
export class FrameReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    /** Largest length field accepted; anything longer is refused before its bytes are buffered. */
    public maxFrameBytes: number,
    private readonly sink: FrameSink,
  ) {}

  /** Bytes of a frame received only in part (non-zero when the peer vanished mid-frame). */
  get partialBytes(): number {
    return this.pendingBytes;
  }

  /** Throws FrameError for a stream that is not frames; the caller closes the link. */
  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.pendingBytes > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.pendingBytes < 4) return;
      const need = this.peekLength(this.pending) + 4;
      if (this.pendingBytes < need) return;
      buf = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
    }
    let at = 0;
    while (buf.length - at >= 4) {
      const length = buf.readUInt32BE(at);
      this.check(length);
      if (buf.length - at - 4 < length) break;
      const version = buf[at + 4];
      if (version !== FRAME_VERSION) throw new FrameError(`frame version ${version} is not supported (this node speaks ${FRAME_VERSION})`);
      const type = buf[at + 5];
      const epoch = buf.readUInt32BE(at + 6);
      const body = buf.subarray(at + HEADER_BYTES, at + 4 + length);
      at += 4 + length;
      this.sink.frame(type, epoch, body);
    }
    if (at < buf.length) {
      this.pending = [buf.subarray(at)];
      this.pendingBytes = buf.length - at;
    }
  }

  private check(length: number): void {
    if (length < HEAD_AFTER_LENGTH) throw new FrameError(`frame length ${length} is shorter than a header`);
    if (length > this.maxFrameBytes) throw new FrameError(`frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes}`);
  }

  private peekLength(parts: Buffer[]): number {
    const head = parts[0].length >= 4 ? parts[0] : Buffer.concat(parts).subarray(0, 4);
    const length = head.readUInt32BE(0);
    this.check(length);
    return length;
  }
}
