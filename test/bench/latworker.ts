/**
 * One side of the latency workload (latency.ts) on a thread of its own: the publisher or the
 * subscriber. The two never share an event loop, so a send never delays a receive timestamp and
 * the other way round, and each thread does nothing else.
 *
 * What keeps the generator's own jitter out of the figure:
 * - sockets read with `onread` into one preallocated buffer: no Buffer and no stream machinery per
 *   chunk, and the receive time is taken first thing in the read callback;
 * - the publisher sends one PUBLISH per slot of an even schedule (200 µs at 5,000 msg/s), each with
 *   its own send time taken just before the write: a timer sleeps the coarse part, `Atomics.wait`
 *   (a futex with a sub-millisecond timeout) the last part, so there are no 1 ms timer ticks that
 *   send bursts of five. A thread that wakes late sends the overdue messages one write per
 *   event-loop turn, each with its own time (the rate holds, no burst in one write); more than
 *   MAX_BEHIND_MS behind, the missed slots are skipped and counted;
 * - one reused PUBLISH buffer and one reused PUBACK buffer (a fresh one only while the socket
 *   still holds an earlier write), samples in preallocated typed arrays: nothing to collect in the
 *   measured window, and any GC that does run there is reported;
 * - how late the publisher thread wakes for its slots is reported (`genWakeP99Ms`): a generator
 *   thread woken by its socket waits for a CPU just as long, so a broker p99 near it is the
 *   machine's, not the broker's.
 */
import net from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { PublishTemplate, afterProperties, connectPacket, packetBody, packetEnd, subscribePacket, HEADER_BYTES, type ProtocolVersion } from './wire.js';

export interface LatWorkerData {
  role: 'pub' | 'sub';
  host: string;
  port: number;
  protocol: ProtocolVersion;
  clientId: string;
  topic: string;
  payload: number;
  rate: number;
  /** The main thread's performance.timeOrigin: every time here is on its clock (ms). */
  origin: number;
  /** Samples preallocated (messages of the whole run, with margin). */
  capacity: number;
  /** Int32 [0] messages sent (pub), [1] distinct messages received (sub). */
  counters: SharedArrayBuffer;
}

/** Messages to the thread. */
export type LatCommand = { cmd: 'start'; t0: number; from: number; to: number } | { cmd: 'stop' } | { cmd: 'report' } | { cmd: 'close' };

export interface PubReport {
  cmd: 'stopped';
  total: number;
  sentInWindow: number;
  skipped: number;
  wake: { p50: number; p99: number; max: number };
  gcMs: number;
  gcCount: number;
}

export interface SubReport {
  cmd: 'report';
  /** Latencies (ms) of the messages sent in the measured window. */
  latencies: Float64Array;
  unique: number;
  dups: number;
  reordered: number;
  gcMs: number;
  gcCount: number;
  /** Event-loop utilization of this thread between start and report. */
  elu: number;
}

const d = workerData as LatWorkerData;
const offset = performance.timeOrigin - d.origin;
const clock = (): number => performance.now() + offset;
const counters = new Int32Array(d.counters);
const port = parentPort!;

let windowFrom = Infinity;
let windowTo = -Infinity;
const inWindow = (t: number): boolean => t >= windowFrom && t < windowTo;

// GC in this thread's isolate during the measured window.
let gcMs = 0;
let gcCount = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    if (!inWindow(e.startTime + offset)) continue;
    gcMs += e.duration;
    gcCount++;
  }
}).observe({ entryTypes: ['gc'] });

// ------------------------------------------------------------------ wire
const READ_BYTES = 64 * 1024;
const readBuffer = Buffer.allocUnsafe(READ_BYTES);
/** Bytes of a packet cut by the end of a read, waiting for the rest. */
const carry = Buffer.allocUnsafe(2 * READ_BYTES);
let carryLength = 0;
let ackScratch = Buffer.allocUnsafe(READ_BYTES);
let waiter: ((code: number) => void) | null = null;
let onPublish: (seq: number, sentAt: number, now: number) => void = () => {};
let pubacks = 0;
const v5 = d.protocol === 5;

/** Parses whole packets of buf[0, length); returns where the unparsed rest starts. */
function parse(buf: Buffer, length: number, now: number): number {
  let off = 0;
  let acks = 0;
  while (off + 2 <= length) {
    const b0 = buf[off]!;
    const end = packetEnd(buf, off, length);
    if (end < 0) break;
    const p = packetBody.at;
    const type = b0 >> 4;
    if (type === 3) {
      let q = p + 2 + buf.readUInt16BE(p);
      if (((b0 >> 1) & 3) > 0) {
        const o = acks * 4;
        if (o + 4 > ackScratch.length) ackScratch = Buffer.allocUnsafe(ackScratch.length * 2); // cannot happen with 64 KiB reads
        ackScratch[o] = 0x40;
        ackScratch[o + 1] = 0x02;
        ackScratch[o + 2] = buf[q]!;
        ackScratch[o + 3] = buf[q + 1]!;
        acks++;
        q += 2;
      }
      if (v5) q = afterProperties(buf, q);
      if (end - q >= HEADER_BYTES) onPublish(buf.readUInt32LE(q + 4), buf.readDoubleLE(q + 8), now);
    } else if (type === 4) {
      pubacks++;
    } else if (type === 2) {
      fire(buf[p + 1]!);
    } else if (type === 9) {
      fire(buf[end - 1]!);
    }
    off = end;
  }
  if (acks > 0) {
    // All earlier writes are done when nothing is queued: the scratch buffer is free again.
    const out = sock.writableLength === 0 ? ackScratch : Buffer.from(ackScratch);
    sock.write(out.subarray(0, acks * 4));
  }
  return off;
}

function fire(code: number): void {
  const w = waiter;
  waiter = null;
  w?.(code);
}

function onRead(n: number, buf: Buffer): boolean {
  const now = clock();
  if (carryLength === 0) {
    const used = parse(buf, n, now);
    if (used < n) {
      buf.copy(carry, 0, used, n);
      carryLength = n - used;
    }
  } else {
    buf.copy(carry, carryLength, 0, n);
    const total = carryLength + n;
    const used = parse(carry, total, now);
    carry.copy(carry, 0, used, total);
    carryLength = total - used;
  }
  return true;
}

const sock = net.connect({ host: d.host, port: d.port, onread: { buffer: readBuffer, callback: onRead } });
sock.setNoDelay(true);
sock.on('error', (e) => port.postMessage({ cmd: 'error', message: e.message }));

function expect(packet: Buffer, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no answer`)), 10_000);
    waiter = (code) => {
      clearTimeout(timer);
      if (code >= 0 && code < 0x80) resolve();
      else reject(new Error(`${what} refused (code ${code})`));
    };
    sock.write(packet);
  });
}

// ------------------------------------------------------------------ subscriber
function subscriber(): void {
  const latencies = new Float64Array(d.capacity);
  let n = 0;
  const seen = new Uint8Array((d.capacity >> 3) + 1);
  let unique = 0;
  let dups = 0;
  let reordered = 0;
  let maxSeq = -1;
  let elu0 = performance.eventLoopUtilization();
  onPublish = (seq, sentAt, now) => {
    if (seq < d.capacity) {
      const mask = 1 << (seq & 7);
      if (seen[seq >> 3]! & mask) {
        dups++;
        return;
      }
      seen[seq >> 3]! |= mask;
    }
    unique++;
    counters[1] = unique;
    if (seq > maxSeq) maxSeq = seq;
    else reordered++;
    if (inWindow(sentAt) && n < latencies.length) latencies[n++] = now - sentAt;
  };
  port.on('message', (m: LatCommand) => {
    if (m.cmd === 'start') {
      windowFrom = m.from;
      windowTo = m.to;
      elu0 = performance.eventLoopUtilization();
    } else if (m.cmd === 'report') {
      const out = latencies.slice(0, n);
      const report: SubReport = { cmd: 'report', latencies: out, unique, dups, reordered, gcMs, gcCount, elu: performance.eventLoopUtilization(elu0).utilization };
      port.postMessage(report, [out.buffer]);
    } else if (m.cmd === 'close') close();
  });
}

// ------------------------------------------------------------------ publisher
/** Behind the schedule by more than this, the publisher skips slots instead of catching up. */
const MAX_BEHIND_MS = 2;

function publisher(): void {
  const tpl = new PublishTemplate(d.topic, 1, d.payload, 0, d.protocol);
  const packet = Buffer.from(tpl.buf);
  const interval = 1000 / d.rate;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const wake = new Float64Array(d.capacity);
  let wakes = 0;
  let running = false;
  let due = 0;
  let seq = 0;
  let id = 1;
  let sentInWindow = 0;
  let skipped = 0;
  let timer: NodeJS.Timeout | undefined;

  const send = (now: number): void => {
    const out = sock.writableLength === 0 ? packet : Buffer.from(packet);
    out.writeUInt16BE(id, tpl.idOff);
    out.writeUInt32LE(seq >>> 0, tpl.payloadOff + 4);
    out.writeDoubleLE(now, tpl.payloadOff + 8);
    sock.write(out);
    id = id === 65535 ? 1 : id + 1;
    seq++;
    counters[0] = seq;
  };

  const step = (): void => {
    timer = undefined;
    if (!running) return;
    let now = clock();
    const ahead = due - now;
    if (ahead > 2) {
      timer = setTimeout(step, ahead - 1.5); // a timer for the coarse part: it may wake up to ~1 ms late
      return;
    }
    if (ahead > 0) {
      Atomics.wait(sleeper, 0, 0, ahead);
      now = clock();
    }
    if (seq - pubacks < 60_000) {
      if (inWindow(now)) {
        if (wakes < wake.length) wake[wakes++] = now - due;
        sentInWindow++;
      }
      send(now);
    }
    due += interval;
    if (now - due > MAX_BEHIND_MS) {
      // A real stall: skip the missed slots rather than send them in a burst.
      const missed = Math.floor((now - due) / interval);
      if (inWindow(now)) skipped += missed;
      due += missed * interval;
    }
    setImmediate(step); // lets the loop read PUBACKs before the next slot
  };

  port.on('message', (m: LatCommand) => {
    if (m.cmd === 'start') {
      windowFrom = m.from;
      windowTo = m.to;
      due = m.t0;
      running = true;
      step();
    } else if (m.cmd === 'stop') {
      running = false;
      if (timer) clearTimeout(timer);
      const w = wake.subarray(0, wakes).sort();
      const at = (p: number): number => (wakes === 0 ? NaN : w[Math.min(wakes - 1, Math.max(0, Math.ceil((p / 100) * wakes) - 1))]!);
      const report: PubReport = { cmd: 'stopped', total: seq, sentInWindow, skipped, wake: { p50: at(50), p99: at(99), max: at(100) }, gcMs, gcCount };
      port.postMessage(report);
    } else if (m.cmd === 'close') close();
  });
}

function close(): void {
  sock.end(Buffer.from([0xe0, 0x00]));
  const t = setTimeout(() => sock.destroy(), 2000);
  sock.once('close', () => {
    clearTimeout(t);
    port.postMessage({ cmd: 'closed' });
    port.close();
  });
}

try {
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  await expect(connectPacket(d.clientId, d.protocol), 'CONNECT');
  if (d.role === 'sub') {
    await expect(subscribePacket(d.topic, 1, 1, d.protocol), `SUBSCRIBE ${d.topic}`);
    subscriber();
  } else {
    publisher();
  }
  port.postMessage({ cmd: 'ready' });
} catch (e) {
  port.postMessage({ cmd: 'error', message: (e as Error).message });
}
