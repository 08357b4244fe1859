/**
 * The internal link reads a bounded amount per event-loop turn (so two busy processes overlap
 * instead of taking turns); every frame still arrives, in order, and an input held by the
 * application stays held across the link's own turn pauses.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Link, type LinkHandlers } from '../../../src/cluster/transport/link.js';

const sockets: net.Socket[] = [];
let server: net.Server | undefined;

afterEach(() => {
  for (const s of sockets) s.destroy();
  sockets.length = 0;
  server?.close();
  server = undefined;
});

async function pair(receiver: LinkHandlers): Promise<{ sender: Link; receiver: Link }> {
  let accepted!: (s: net.Socket) => void;
  const got = new Promise<net.Socket>((r) => (accepted = r));
  server = net.createServer((s) => accepted(s));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const out = net.connect(port, '127.0.0.1');
  await new Promise<void>((r) => out.once('connect', () => r()));
  const inn = await got;
  sockets.push(out, inn);
  const none: LinkHandlers = { frame() {}, closed() {} };
  return { sender: new Link(out, 1 << 20, none), receiver: new Link(inn, 1 << 20, receiver) };
}

function body(i: number): Buffer {
  const b = Buffer.alloc(100 + (i % 50));
  b.writeUInt32BE(i, 0);
  return b;
}

describe('internal link', () => {
  it('delivers megabytes of frames whole and in order, reading at most about one 64 KiB chunk per event-loop turn', async () => {
    const n = 60_000; // ~7 MB: many turns' worth
    const seen: number[] = [];
    // Bytes of frames handed out per event-loop turn: an immediate that re-arms itself closes each turn.
    const perTurn: number[] = [];
    let current = 0;
    let counting = true;
    const turn = (): void => {
      if (current > 0) perTurn.push(current);
      current = 0;
      if (counting) setImmediate(turn);
    };
    setImmediate(turn);
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    const { sender } = await pair({
      frame(_l, type, epoch, b) {
        expect(type).toBe(4);
        expect(epoch).toBe(7);
        const i = b.readUInt32BE(0);
        expect(b.length).toBe(100 + (i % 50));
        seen.push(i);
        current += b.length + 10;
        if (seen.length === n) done();
      },
      closed() {},
    });
    for (let i = 0; i < n; i++) sender.send(4, 7, body(i));
    await all;
    counting = false;
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => i));
    // The budget is crossed by at most one chunk (<= 64 KiB) and a frame split across chunks; libuv
    // alone would hand out up to 32 chunks of 64 KiB in one turn.
    expect(perTurn.length).toBeGreaterThan(10);
    expect(Math.max(...perTurn)).toBeLessThanOrEqual(2 * 64 * 1024 + 200);
  });

  it('keeps input held by the application across its own turn pauses, and resumes on request', async () => {
    let count = 0;
    let receiver!: Link;
    const { sender, receiver: r } = await pair({
      frame(l) {
        count++;
        if (count === 1) l.pauseInput(); // held while the link's turn budget may also have paused it
      },
      closed() {},
    });
    receiver = r;
    for (let i = 0; i < 20_000; i++) sender.send(4, 1, body(i));
    // Give the link's turn-pause timer every chance to resume the socket on its own.
    for (let i = 0; i < 20; i++) await new Promise((res) => setTimeout(res, 5));
    const held = count;
    for (let i = 0; i < 10; i++) await new Promise((res) => setImmediate(res));
    expect(count).toBe(held); // nothing read while held (frames of the chunk already read may finish)
    expect(held).toBeLessThan(20_000);
    receiver.resumeInput();
    while (count < 20_000) await new Promise((res) => setTimeout(res, 5));
    expect(count).toBe(20_000);
  });
});
