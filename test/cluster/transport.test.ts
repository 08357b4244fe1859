/**
 * The internal transport over real TCP on loopback: handshake with the cluster token, frames in
 * order across batching, refusal of a wrong token, of frames that are too large or cut short, and
 * a peer that disappears. The listening side must survive every one of them.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { FRAME_VERSION, HEADER_BYTES, frameHeader } from '../../src/cluster/transport/frame.js';
import { dialTransport, listenTransport, tokenMatches, type ListeningTransport } from '../../src/cluster/transport/handshake.js';
import type { Link } from '../../src/cluster/transport/link.js';
import { FrameType, decodeReplies, encodeReplies } from '../../src/cluster/transport/protocol.js';
import { until } from '../helpers/cluster.js';

const TOKEN = 'cluster-secret-token';
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

interface Server {
  t: ListeningTransport;
  frames: Array<{ peer: string; type: number; epoch: number; body: Buffer }>;
  closed: Array<{ peer: string; reason: string | undefined }>;
  refused: string[];
  links: Link[];
}

let servers: Server[] = [];
afterEach(async () => {
  for (const s of servers) await s.t.close();
  servers = [];
});

async function server(maxFrameBytes?: number): Promise<Server> {
  const s: Server = { t: undefined as never, frames: [], closed: [], refused: [], links: [] };
  s.t = await listenTransport({
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    nodeId: 'backend-0',
    maxFrameBytes,
    accepted: (link) => {
      s.links.push(link);
      return {
        frame: (l, type, epoch, body) => {
          s.frames.push({ peer: l.peer, type, epoch, body: Buffer.from(body) });
          if (type === FrameType.Request) l.send(FrameType.Replies, epoch, body); // echo
        },
        closed: (l, reason) => s.closed.push({ peer: l.peer, reason }),
      };
    },
    refused: (_remote, reason) => s.refused.push(reason),
  });
  servers.push(s);
  return s;
}


function rawConnect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.resume(); // read, so the server's close is seen
    s.once('error', reject);
  });
}

function helloFrame(token: string): Buffer {
  const body = packr.pack({ node: 'raw', role: 'frontend', instance: 1, token });
  return Buffer.concat([frameHeader(FrameType.Hello, 0, body.length), body]);
}

describe('cluster transport', () => {
  it('compares tokens in constant time and only accepts the exact token', () => {
    expect(tokenMatches(TOKEN, TOKEN)).toBe(true);
    expect(tokenMatches(TOKEN, `${TOKEN}x`)).toBe(false);
    expect(tokenMatches(TOKEN, '')).toBe(false);
    expect(tokenMatches(TOKEN, undefined)).toBe(false);
  });

  it('REPLIES: publish results in the hand layout, every other value in MessagePack, all come back equal', () => {
    const flat = [
      1, 0, { matched: 2 }, 7,
      2, 0, { matched: 0, reasonCode: 0x97, backlog: 1234 }, 8,
      3, 0, { matched: -1, duplicate: true }, 9,
      0xffffffff, 1, [0x88, 'partition 1 is unavailable'], 2 ** 40,
      5, 0, null, 0,
      6, 0, { matched: 1, sessionPresent: true }, 0, // not only PublishResult fields: MessagePack
      7, 0, { sessionPresent: false, reasonCode: 0 }, 0,
      8, 0, 42, 3,
    ];
    const body = encodeReplies(flat);
    expect(body.includes(Buffer.from('backlog'))).toBe(false);
    expect(decodeReplies(body)).toEqual(flat);
  });

  it('carries frames in order, both ways, with the epoch, batched within a turn', async () => {
    const s = await server();
    const replies: Array<{ type: number; epoch: number; body: Buffer }> = [];
    const link = await dialTransport(
      { host: '127.0.0.1', port: s.t.port, token: TOKEN, hello: { node: 'frontend-0', role: 'frontend', instance: 7 } },
      { frame: (_l, type, epoch, body) => replies.push({ type, epoch, body: Buffer.from(body) }), closed: () => {} },
    );
    expect(link.peer).toBe('backend-0');
    // 2000 frames written in one turn go out corked; bodies of every size including empty.
    for (let i = 0; i < 2000; i++) link.send(FrameType.Request, 42, Buffer.alloc(i % 300, i & 0xff));
    await until('echoes', () => replies.length === 2000);
    expect(s.frames[0].peer).toBe('frontend-0');
    expect(s.links[0].peerInstance).toBe(7);
    for (let i = 0; i < 2000; i++) {
      expect(replies[i].epoch).toBe(42);
      expect(replies[i].body.length).toBe(i % 300);
      if (i % 300) expect(replies[i].body[0]).toBe(i & 0xff);
    }
    link.close();
    await until('server to see the close', () => s.closed.length === 1);
  });

  it('refuses a wrong token with a reason, and keeps serving others', async () => {
    const s = await server();
    await expect(
      dialTransport({ host: '127.0.0.1', port: s.t.port, token: 'guess', hello: { node: 'intruder', role: 'frontend', instance: 1 } }, { frame: () => {}, closed: () => {} }),
    ).rejects.toThrow(/wrong cluster token/);
    expect(s.refused).toContain('wrong cluster token');
    expect(s.links).toHaveLength(0);
    // A raw connection that skips HELLO and sends some other frame is refused as well.
    const raw = await rawConnect(s.t.port);
    raw.write(Buffer.concat([frameHeader(FrameType.Commands, 0, 4), Buffer.alloc(4)]));
    await new Promise((r) => raw.once('close', r));
    expect(s.refused).toContain('the first frame must be a HELLO');
    const ok = await dialTransport({ host: '127.0.0.1', port: s.t.port, token: TOKEN, hello: { node: 'frontend-1', role: 'frontend', instance: 2 } }, { frame: () => {}, closed: () => {} });
    expect(ok.closed).toBe(false);
    ok.close();
  });

  it('refuses an oversized frame before and after the handshake without buffering it', async () => {
    const s = await server(64 * 1024);
    // Before HELLO: a header announcing 100 MB is refused at once.
    const pre = await rawConnect(s.t.port);
    const head = Buffer.alloc(HEADER_BYTES);
    head.writeUInt32BE(100 * 1024 * 1024, 0);
    head[4] = 1;
    pre.write(head);
    await new Promise((r) => pre.once('close', r));
    expect(s.refused.some((r) => /exceeds the limit of 4096/.test(r))).toBe(true);
    // After the handshake the configured limit applies.
    const post = await rawConnect(s.t.port);
    post.write(helloFrame(TOKEN));
    await until('handshake', () => s.links.length === 1);
    post.write(Buffer.concat([frameHeader(FrameType.Request, 0, 65 * 1024), Buffer.alloc(16)]));
    await new Promise((r) => post.once('close', r));
    await until('close', () => s.closed.length === 1);
    expect(s.closed[0].reason).toMatch(/exceeds the limit of 65536/);
    // A frame of another protocol version is refused too.
    const other = await rawConnect(s.t.port);
    const bad = helloFrame(TOKEN);
    bad[4] = FRAME_VERSION + 1;
    other.write(bad);
    await new Promise((r) => other.once('close', r));
    expect(s.refused.some((r) => r.includes(`version ${FRAME_VERSION + 1} is not supported`))).toBe(true);
  });

  it('reports a frame cut short by a peer that goes away, and a peer that disappears', async () => {
    const s = await server();
    const raw = await rawConnect(s.t.port);
    raw.write(helloFrame(TOKEN));
    await until('handshake', () => s.links.length === 1);
    const body = Buffer.alloc(1000, 1);
    raw.write(Buffer.concat([frameHeader(FrameType.Request, 3, body.length), body.subarray(0, 400)]));
    await new Promise((r) => setTimeout(r, 50));
    raw.destroy();
    await until('close', () => s.closed.length === 1);
    expect(s.closed[0].reason).toMatch(/closed inside a frame \(\d+ bytes of it received\)/);
    expect(s.frames).toHaveLength(0);

    // The dialing side learns when the listening side vanishes.
    let reason: string | undefined = 'not yet';
    const link = await dialTransport(
      { host: '127.0.0.1', port: s.t.port, token: TOKEN, hello: { node: 'frontend-2', role: 'frontend', instance: 3 } },
      { frame: () => {}, closed: (_l, r) => (reason = r) },
    );
    await until('second link', () => s.links.length === 2);
    s.links[1].socket.destroy();
    await until('client to notice', () => reason !== 'not yet');
    expect(reason).toMatch(/closed by peer|ECONNRESET/);
    expect(link.closed).toBe(true);
    // Dialing a port nobody listens on fails with the address in the message.
    const dead = s.t.port;
    await s.t.close();
    servers = [];
    await expect(dialTransport({ host: '127.0.0.1', port: dead, token: TOKEN, hello: { node: 'x', role: 'frontend', instance: 1 } }, { frame: () => {}, closed: () => {} })).rejects.toThrow(
      new RegExp(`127.0.0.1:${dead}`),
    );
  });
});
