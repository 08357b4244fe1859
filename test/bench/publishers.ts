/**
 * The publishing side of a messaging run, usable on the generator's main thread or in a worker
 * thread (pubworker.ts), so that publishers and receivers do not share one core.
 *
 * Shared state (SharedArrayBuffer when in workers): `recv[p]`, the next sequence number every
 * receiver of publisher p has seen (written by the receiving thread), and `sent[p]`, how many
 * messages p has published (written here). Send timestamps are `clock()`, a time base common to
 * all threads (ms since the main thread's time origin).
 */
import net from 'node:net';
import { Conn, PublishTemplate, connectPacket, type WireHandler } from './wire.js';
import type { RunSpec } from './common.js';

const MAX_SOCK_BUFFER = 256 * 1024;
const STALL_MS = 500;

export interface PublisherPlan {
  spec: RunSpec;
  /** Publisher indices this set runs. */
  indices: number[];
  topics: string[];
  tag: string;
}

interface Pub {
  index: number;
  conn: Conn;
  tpl: PublishTemplate;
  seq: number;
  nextId: number;
  inflight: number;
  creditBase: number;
  lastRecv: number;
  lastProgressAt: number;
}

export class PublisherSet implements WireHandler {
  private readonly pubs: Pub[] = [];
  private publishing = false;
  private pumpScheduled = false;
  private timer: NodeJS.Timeout | null = null;
  stalls = 0;

  constructor(
    private readonly plan: PublisherPlan,
    private readonly recv: Int32Array,
    private readonly sent: Int32Array,
    private readonly clock: () => number,
  ) {}

  async connect(): Promise<void> {
    const { spec } = this.plan;
    for (const p of this.plan.indices) {
      const conn = await openConn(spec, `bp-${this.plan.tag}-${p}`, this, false);
      conn.tag = this.pubs.length;
      conn.sock.on('drain', () => this.schedulePump());
      this.pubs.push({
        index: p,
        conn,
        tpl: new PublishTemplate(this.plan.topics[p]!, spec.qos, spec.payload, p, spec.protocol),
        seq: 0,
        nextId: 1,
        inflight: 0,
        creditBase: 0,
        lastRecv: 0,
        lastProgressAt: this.clock(),
      });
    }
  }

  /** Closed loop: PUBACK window and end-to-end window, re-checked on PUBACK, drain, and every ms while blocked. */
  start(): void {
    this.publishing = true;
    this.pump();
    this.timer = setInterval(() => this.tick(), 1);
  }

  stop(): void {
    this.publishing = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  get connections(): Conn[] {
    return this.pubs.map((p) => p.conn);
  }

  private schedulePump(): void {
    if (!this.pumpScheduled && this.publishing) {
      this.pumpScheduled = true;
      setImmediate(() => this.pump());
    }
  }

  private tick(): void {
    const now = this.clock();
    const e2e = this.plan.spec.e2eWindow;
    for (const pb of this.pubs) {
      const recv = this.recv[pb.index]!;
      if (recv !== pb.lastRecv) {
        pb.lastRecv = recv;
        pb.lastProgressAt = now;
      } else if (pb.seq - Math.max(recv, pb.creditBase) >= e2e && now - pb.lastProgressAt > STALL_MS) {
        // QoS 0 tail loss would block the window for good: reset its credit and count a stall.
        pb.creditBase = pb.seq;
        pb.lastProgressAt = now;
        this.stalls++;
      }
    }
    this.pump();
  }

  private pump(): void {
    this.pumpScheduled = false;
    if (!this.publishing) return;
    const { spec } = this.plan;
    const now = this.clock();
    for (const pb of this.pubs) {
      if (pb.conn.closed || pb.conn.sock.writableLength > MAX_SOCK_BUFFER) continue; // 'drain' re-pumps
      let allowed = spec.e2eWindow - (pb.seq - Math.max(this.recv[pb.index]!, pb.creditBase));
      if (spec.qos > 0) allowed = Math.min(allowed, spec.window - pb.inflight, 65000 - pb.inflight);
      else allowed = Math.min(allowed, 4096); // QoS 0 without window: TCP backpressure paces it
      if (allowed <= 0) continue;
      const buf = pb.tpl.batch(allowed, pb.seq, pb.nextId, now);
      pb.seq += allowed;
      this.sent[pb.index] = pb.seq;
      if (spec.qos > 0) {
        pb.inflight += allowed;
        pb.nextId = ((pb.nextId - 1 + allowed) % 65535) + 1;
      }
      pb.conn.write(buf);
    }
  }

  // ---- WireHandler (publishers only get PUBACKs)
  onPuback(conn: Conn, count: number): void {
    const pb = this.pubs[conn.tag];
    if (pb) pb.inflight = Math.max(0, pb.inflight - count);
    this.schedulePump();
  }
  onPublish(): void {}
  onPublishBatchEnd(): void {}
  onClose(): void {}
}

/** Connects and waits for a successful CONNACK (all generator connections, both sides). */
export function openConn(spec: RunSpec, clientId: string, handler: WireHandler, autoPuback: boolean, timeoutMs = 10000): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: spec.host, port: spec.port });
    const conn = new Conn(sock, spec.protocol, handler, autoPuback);
    const timer = setTimeout(() => {
      conn.waiter = null;
      sock.destroy();
      reject(new Error(`CONNACK timeout for ${clientId}`));
    }, timeoutMs);
    conn.waiter = (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(conn);
      else {
        sock.destroy();
        reject(new Error(code < 0 ? `connection closed before CONNACK (${clientId})` : `CONNACK code ${code}`));
      }
    };
    sock.on('connect', () => sock.write(connectPacket(clientId, spec.protocol)));
  });
}
