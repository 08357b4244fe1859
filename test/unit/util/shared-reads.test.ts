/**
 * Sockets reading into the one shared buffer (src/util/shared-reads.ts), over real loopback
 * connections: every connection gets exactly its own bytes, in order, while the others read into the
 * same memory; what a reader kept stays intact; pause/resume and EOF work as with Node's own reads.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { readIntoSharedBuffer, sharedReadsAvailable } from '../../../src/util/shared-reads.js';

interface Received {
  chunks: Buffer[];
  ended: Promise<void>;
}

const kReceived = Symbol('received');
type Tracked = net.Socket & { [kReceived]?: Received };
function keep(this: net.Socket, chunk: Buffer): void {
  (this as Tracked)[kReceived]!.chunks.push(chunk); // kept, not consumed: a later read must not change it
}

const servers: net.Server[] = [];
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A server whose connections read into the shared buffer; `accepted(n)` waits for n connections and gives their records. */
async function server(onAccept?: (s: net.Socket) => void): Promise<{ port: number; accepted: (n: number) => Promise<Received[]>; switched: boolean[] }> {
  const records: Received[] = [];
  const switched: boolean[] = [];
  let waiting: (() => void) | undefined;
  const srv = net.createServer((s) => {
    sockets.push(s);
    const r: Received = { chunks: [], ended: new Promise((resolve) => s.once('end', () => resolve())) };
    (s as Tracked)[kReceived] = r;
    switched.push(readIntoSharedBuffer(s, keep));
    records.push(r);
    onAccept?.(s);
    waiting?.();
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  // A client's 'connect' comes when the kernel has the connection, which may be before the server accepted it.
  const accepted = async (n: number): Promise<Received[]> => {
    while (records.length < n) await new Promise<void>((r) => (waiting = r));
    return records;
  };
  return { port: (srv.address() as net.AddressInfo).port, accepted, switched };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => resolve(c));
    c.once('error', reject);
    sockets.push(c);
  });
}

function write(c: net.Socket, b: Buffer): Promise<void> {
  return new Promise((resolve, reject) => c.write(b, (err) => (err ? reject(err) : resolve())));
}

describe('shared reads', () => {
  it('is available on this Node (the fields of `onread` exist on every socket)', () => {
    expect(sharedReadsAvailable).toBe(true);
  });

  it('gives each of several connections exactly its own bytes, in order, and what was kept stays intact', async () => {
    const { port, accepted, switched } = await server();
    const clients = await Promise.all([connect(port), connect(port), connect(port)]);
    const sent: Buffer[][] = clients.map(() => []);
    // Interleaved writes of sizes around the pool's cut-off (4 KiB) and the buffer's size (64 KiB).
    const sizes = [1, 17, 100, 4095, 4096, 4097, 9000, 65536, 70000, 3, 250_000, 64];
    for (const size of sizes) {
      await Promise.all(
        clients.map((c, i) => {
          const b = randomBytes(size);
          sent[i].push(b);
          return write(c, b);
        }),
      );
    }
    for (const c of clients) c.end();
    const records = await accepted(clients.length);
    await Promise.all(records.map((r) => r.ended));
    expect(switched).toEqual([true, true, true]);
    for (let i = 0; i < clients.length; i++) {
      // Accept order is not connect order: match by content.
      const want = Buffer.concat(sent[i]);
      const got = records.map((r) => Buffer.concat(r.chunks)).find((b) => b.length === want.length && b.equals(want));
      expect(got, `client ${i}: its bytes arrived unchanged`).toBeDefined();
    }
  });

  it('pauses and resumes like a socket reading on its own, and reports the end of the stream', async () => {
    let paused: net.Socket | undefined;
    const { port, accepted } = await server((s) => {
      s.pause();
      paused = s;
    });
    const c = await connect(port);
    const data = randomBytes(300_000);
    const written = write(c, data);
    c.end();
    const [r] = await accepted(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.chunks).toHaveLength(0); // paused before the first read: nothing delivered
    paused!.resume();
    await written;
    await r.ended;
    expect(Buffer.concat(r.chunks).equals(data)).toBe(true);
  });

  it('leaves a TLS socket to Node', () => {
    const s = new tls.TLSSocket(new net.Socket());
    expect(readIntoSharedBuffer(s, keep)).toBe(false);
    s.destroy();
  });
});
