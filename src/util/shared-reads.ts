/**
 * Reads of plain TCP sockets into one buffer shared by all of them, each read copied out at its own
 * size, small ones from Buffer's pool.
 *
 * Why: Node gives every socket read an ArrayBuffer of its own (64 KiB allocated, shrunk to the bytes
 * read) and pushes it through the socket's Readable (a `nextTick` per read, and with it a
 * `processTicksAndRejections` turn). At 5,000 messages/s a cluster front end made about three such
 * ArrayBuffers per message, and V8 sweeps every one of them on the main thread at the next
 * scavenge. A copied small read comes from the 8 KiB pool that `Buffer.allocUnsafe` shares, one
 * ArrayBuffer for dozens of reads. Measured on that front end (`--trace-gc-nvp`): the sweeping went
 * from 1.3 to 0.15 ms per scavenge, the scavenge from 2.4-3.2 to 1.6 ms, and they came every 700 ms
 * instead of 600 (15 % less garbage per message); throughput unchanged (README, Performance).
 *
 * Only where nothing keeps a read's bytes for long: a pool slice keeps its whole 8 KiB pool alive,
 * so a broker that holds payloads (retained messages, queues of offline sessions) would pin pools
 * for the few bytes it keeps. A cluster front end holds none: every payload is encoded into a link
 * frame within the event-loop turn.
 *
 * Node offers this (`onread`) only to the sockets it dials; an accepted socket gets it through the
 * same fields `onread` sets, found by their symbols' names on a probe socket. Where they are missing
 * (another Node), sockets keep Node's own reads.
 */
import net from 'node:net';
import tls from 'node:tls';

/** The largest read: Node's own reads use 64 KiB too. Reads happen one at a time, on the event loop. */
const shared = Buffer.allocUnsafeSlow(64 * 1024);

interface OnreadFields {
  buffer: symbol;
  callback: symbol;
}

function findOnreadFields(): OnreadFields | undefined {
  const probe = new net.Socket();
  const byName = new Map(Object.getOwnPropertySymbols(probe).map((s) => [s.description, s]));
  probe.destroy();
  const buffer = byName.get('kBuffer');
  const callback = byName.get('kBufferCb');
  return buffer === undefined || callback === undefined ? undefined : { buffer, callback };
}

const fields = findOnreadFields();

/** Whether this Node lets accepted sockets read into the shared buffer. */
export const sharedReadsAvailable = fields !== undefined;

/** Called as a method of the socket: one shared function, no closure per connection. */
type Sink = (this: net.Socket, chunk: Buffer) => void;
const kSink = Symbol('edgemq.sharedReadSink');
type SharedSocket = net.Socket & { [kSink]?: Sink; _handle?: { useUserBuffer?: (b: Uint8Array) => void } | null };

// Node calls it as `socket[kBufferCb](nread, buffer)`, so `this` is the socket.
function onSharedRead(this: SharedSocket, nread: number): void {
  // Copied before anything else runs: the next read of any socket overwrites `shared`.
  const chunk = Buffer.allocUnsafe(nread);
  shared.copy(chunk, 0, 0, nread);
  this[kSink]!(chunk);
}

/**
 * From now on, `socket`'s reads go to `sink` as copies out of the shared buffer instead of as
 * 'data' events. Only before the socket has read anything (in the server's 'connection' handler);
 * false (and nothing changed) for a TLS socket, one that has data buffered already, or a Node
 * without the fields.
 */
export function readIntoSharedBuffer(socket: net.Socket, sink: Sink): boolean {
  const s = socket as SharedSocket;
  if (fields === undefined || socket instanceof tls.TLSSocket || socket.readableLength > 0 || socket.destroyed) return false;
  const handle = s._handle;
  if (!handle || typeof handle.useUserBuffer !== 'function') return false;
  handle.useUserBuffer(shared);
  const fieldsOf = s as unknown as Record<symbol, unknown>;
  fieldsOf[fields.buffer] = shared;
  fieldsOf[fields.callback] = onSharedRead;
  s[kSink] = sink;
  return true;
}
