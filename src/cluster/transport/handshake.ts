/**
 * Opening an internal connection: the dialing side's first frame is HELLO with the cluster token;
 * the listening side compares it in constant time and answers WELCOME, or REFUSED with a reason and
 * closes. Until WELCOME only small frames are accepted, so an unauthenticated peer cannot make a
 * node buffer a large frame. Nothing else is served to a connection that has not said the token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import { Packr } from 'msgpackr';
import { Link, type LinkHandlers } from './link.js';
import { FrameType } from './protocol.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** Frames of an unauthenticated peer are at most this big (a HELLO is a few hundred bytes). */
const HANDSHAKE_MAX_FRAME = 4096;
/** Default limit after the handshake: MQTT's largest packet (256 MiB) plus room for the command around it. */
export const DEFAULT_MAX_FRAME = 256 * 1024 * 1024 + 64 * 1024;
const HANDSHAKE_TIMEOUT_MS = 5000;

export interface Hello {
  node: string;
  role: string;
  /** Random per process start (front ends): a reconnect of the same process keeps its connections. */
  instance: number;
}

export class HandshakeError extends Error {
  readonly code = 'EDGEMQ_CLUSTER_HANDSHAKE';
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Constant-time: the digests have equal length whatever the token lengths are. */
export function tokenMatches(expected: string, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  return timingSafeEqual(digest(expected), digest(given));
}

export interface ListenOptions {
  host: string;
  port: number;
  token: string;
  nodeId: string;
  maxFrameBytes?: number;
  /** Called for every authenticated link; returns the handlers that serve it from now on. */
  accepted(link: Link, hello: Hello): LinkHandlers;
  /** A refused or failed handshake (logged by the caller; the connection is already closed). */
  refused?(remote: string, reason: string): void;
}

export interface ListeningTransport {
  port: number;
  close(): Promise<void>;
}

export async function listenTransport(opts: ListenOptions): Promise<ListeningTransport> {
  const links = new Set<Link>();
  const server = net.createServer((socket) => {
    const timer = setTimeout(() => link.fail('no HELLO in time'), HANDSHAKE_TIMEOUT_MS);
    timer.unref();
    const link: Link = new Link(socket, HANDSHAKE_MAX_FRAME, {
      frame: (l, type, _epoch, body) => {
        clearTimeout(timer);
        let hello: (Hello & { token?: unknown }) | undefined;
        try {
          hello = type === FrameType.Hello ? (packr.unpack(body) as Hello & { token?: unknown }) : undefined;
        } catch {
          hello = undefined;
        }
        if (!hello || typeof hello.node !== 'string' || typeof hello.role !== 'string') return refuse(l, 'the first frame must be a HELLO');
        if (!tokenMatches(opts.token, hello.token)) return refuse(l, 'wrong cluster token');
        l.peer = hello.node;
        l.peerInstance = typeof hello.instance === 'number' ? hello.instance : 0;
        l.maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME;
        const app = opts.accepted(l, { node: hello.node, role: hello.role, instance: l.peerInstance });
        l.handlers = {
          frame: app.frame,
          drained: app.drained,
          closed: (x, reason) => {
            links.delete(x);
            app.closed(x, reason);
          },
        };
        l.send(FrameType.Welcome, 0, packr.pack({ node: opts.nodeId }));
      },
      closed: (l, reason) => {
        clearTimeout(timer);
        links.delete(l);
        if (reason) opts.refused?.(l.remote, reason);
      },
    });
    links.add(link);
  });
  const refuse = (l: Link, reason: string) => {
    l.send(FrameType.Refused, 0, packr.pack({ reason }));
    opts.refused?.(l.remote, reason);
    l.handlers = { frame: () => {}, closed: () => links.delete(l) };
    l.close();
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`cannot listen for internal traffic on ${opts.host}:${opts.port}: ${err.code ?? err.message}`)));
    server.listen(opts.port, opts.host, () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const l of [...links]) l.fail('node stopping');
      });
    },
  };
}

export interface DialOptions {
  host: string;
  port: number;
  token: string;
  hello: Hello;
  maxFrameBytes?: number;
  timeoutMs?: number;
  /** The link reads into the shared buffer (util/shared-reads.ts): a front end's links. */
  sharedReads?: boolean;
}

/** Connects and authenticates; resolves with a link whose handlers the caller sets next. */
export function dialTransport(opts: DialOptions, handlers: LinkHandlers): Promise<Link> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(opts.port, opts.host);
    let settled = false;
    const timer = setTimeout(() => link.fail(`no answer to HELLO from ${opts.host}:${opts.port} in time`), opts.timeoutMs ?? HANDSHAKE_TIMEOUT_MS);
    timer.unref();
    const handshake: LinkHandlers = {
      frame: (l, type, _epoch, body) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (type === FrameType.Welcome) {
          const w = safeUnpack(body) as { node?: unknown } | undefined;
          l.peer = typeof w?.node === 'string' ? w.node : '';
          l.maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME;
          l.handlers = handlers;
          resolve(l);
          return;
        }
        const r = safeUnpack(body) as { reason?: unknown } | undefined;
        const reason = type === FrameType.Refused && typeof r?.reason === 'string' ? r.reason : `unexpected frame type ${type}`;
        l.handlers = { frame: () => {}, closed: () => {} };
        l.fail(reason);
        reject(new HandshakeError(`${opts.host}:${opts.port} refused the connection: ${reason}`));
      },
      closed: (_l, reason) => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        reject(new HandshakeError(`cannot connect to ${opts.host}:${opts.port}: ${reason ?? 'closed'}`));
      },
    };
    const link: Link = new Link(socket, HANDSHAKE_MAX_FRAME, handshake, opts.sharedReads === true);
    socket.once('connect', () => link.send(FrameType.Hello, 0, packr.pack({ ...opts.hello, token: opts.token })));
  });
}

function safeUnpack(body: Buffer): unknown {
  try {
    return packr.unpack(body);
  } catch {
    return undefined;
  }
}
