/**
 * Socket-level fuzzing: fast-check generates garbage and mutated valid packets (bit flips, truncation, random bytes,
 * rewritten remaining lengths, insertions), sent in random chunks over many short-lived connections for a bounded
 * time. Afterwards the broker process must be alive and a healthy client must still be served, and no connection may
 * have received a reply that shows the broker got confused:
 *   - bytes that do not frame or parse as MQTT,
 *   - a packet type a Server never sends (CONNECT, SUBSCRIBE, PINGREQ, reserved 0, ...),
 *   - anything before the CONNACK, a second CONNACK, or anything after a refusing CONNACK,
 *   - anything after a DISCONNECT, a DISCONNECT on a v3.1.1 connection, a DISCONNECT with a success reason code,
 *   - a valid CONNECT answered with anything but a successful CONNACK.
 * (The parser-level fuzz of the codec is a separate unit test; this one exercises the whole connection path.)
 *
 * Reproduce a failure with FUZZ_SEED=<seed printed in the failure>; FUZZ_MS changes the time budget (default 5000).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqttPacket from 'mqtt-packet';
import type { RunningBroker } from '../helpers/broker.js';
import * as K from './helpers/packets.js';
import { RawConn } from './helpers/raw-conn.js';
import { brokerAlive, HealthyClient, startTarget } from './helpers/target.js';

const BUDGET_MS = Number(process.env.FUZZ_MS ?? 5000);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const CONCURRENCY = 24;
const MAX_CASES = 5000;
/** How long one connection waits for the broker's reaction before it is dropped. */
const WAIT_MS = 150;

let broker: RunningBroker;
let healthy: HealthyClient;

beforeAll(async () => {
  broker = await startTarget({ edgemq: { maxPacketSizeBytes: 64 * 1024 }, mosquittoConf: ['max_packet_size 65536'] });
  healthy = await HealthyClient.connect(broker.port, 5, 'fuzz-healthy');
}, 30_000);

afterAll(async () => {
  await healthy?.end();
  await broker?.stop();
});

// --- generators ---------------------------------------------------------------------------------------------------

let idSeq = 0;

/** Valid packets a client may send after CONNECT, for one protocol version. */
function templates(v: K.Version): Buffer[] {
  const g = (p: object) => mqttPacket.generate(p as mqttPacket.Packet, { protocolVersion: v });
  const props5 = v === 5;
  return [
    g({ cmd: 'publish', topic: 'fz/a', payload: 'hello', qos: 0, retain: false, dup: false }),
    g({
      cmd: 'publish',
      topic: 'fz/b/c',
      payload: Buffer.alloc(40, 7),
      qos: 1,
      messageId: 11,
      retain: false,
      dup: false,
      ...(props5 && { properties: { payloadFormatIndicator: true, messageExpiryInterval: 30, userProperties: { k: 'v' }, contentType: 'text/plain', responseTopic: 'fz/r', correlationData: Buffer.from([1, 2]) } }),
    }),
    g({ cmd: 'publish', topic: 'fz/q2', payload: 'x', qos: 2, messageId: 12, retain: false, dup: false }),
    g({ cmd: 'subscribe', messageId: 13, subscriptions: [{ topic: 'fz/+/c', qos: 1 }, { topic: 'fz/#', qos: 2, ...(props5 && { nl: true, rap: true, rh: 1 }) }], ...(props5 && { properties: { subscriptionIdentifier: 5 } }) }),
    g({ cmd: 'unsubscribe', messageId: 14, unsubscriptions: ['fz/+/c'] }),
    g({ cmd: 'puback', messageId: 15, ...(props5 && { reasonCode: 0 }) }),
    g({ cmd: 'pubrec', messageId: 16 }),
    g({ cmd: 'pubrel', messageId: 12 }),
    g({ cmd: 'pubcomp', messageId: 17 }),
    Buffer.from([0xc0, 0x00]),
    ...(props5 ? [g({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'none' } })] : []),
  ];
}

function connectBytes(v: K.Version, will: boolean): Buffer {
  return K.connect(v, `fz-${process.pid}-${++idSeq}`, {
    keepalive: 10,
    ...(will && { will: { topic: 'fz/will', payload: Buffer.from('bye'), qos: 1, retain: false } }),
    ...(v === 5 && { properties: { sessionExpiryInterval: 0, receiveMaximum: 10, topicAliasMaximum: 5, maximumPacketSize: 65536 } }),
  });
}

type Mutation =
  | { kind: 'flip'; pos: number; bit: number }
  | { kind: 'set'; pos: number; val: number }
  | { kind: 'truncate'; len: number }
  | { kind: 'length'; value: number; bytes: number }
  | { kind: 'insert'; pos: number; bytes: Uint8Array }
  | { kind: 'delete'; pos: number; count: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), pos: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), pos: fc.nat(), val: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), len: fc.nat() }),
  fc.record({ kind: fc.constant('length' as const), value: fc.integer({ min: 0, max: 268_435_455 }), bytes: fc.integer({ min: 1, max: 5 }) }),
  fc.record({ kind: fc.constant('insert' as const), pos: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), pos: fc.nat(), count: fc.integer({ min: 1, max: 4 }) }),
);

function mutate(b: Buffer, m: Mutation): Buffer {
  const out = Buffer.from(b);
  if (out.length === 0) return out;
  switch (m.kind) {
    case 'flip':
      out[m.pos % out.length] ^= 1 << m.bit;
      return out;
    case 'set':
      out[m.pos % out.length] = m.val;
      return out;
    case 'truncate':
      return out.subarray(0, m.len % out.length);
    case 'length': {
      // Replace the Remaining Length with `value` encoded in `bytes` bytes (5 = an invalid variable byte integer).
      let i = 1;
      while (i < out.length && i < 5 && out[i] & 0x80) i++;
      let enc = K.varInt(m.value);
      if (enc.length < m.bytes) {
        const padded = [...enc];
        padded[padded.length - 1] |= 0x80;
        while (padded.length < m.bytes - 1) padded.push(0x80);
        padded.push(0x00);
        enc = Buffer.from(padded);
      }
      return Buffer.concat([out.subarray(0, 1), enc, out.subarray(i + 1)]);
    }
    case 'insert': {
      const p = m.pos % (out.length + 1);
      return Buffer.concat([out.subarray(0, p), Buffer.from(m.bytes), out.subarray(p)]);
    }
    case 'delete': {
      const p = m.pos % out.length;
      return Buffer.concat([out.subarray(0, p), out.subarray(p + m.count)]);
    }
  }
}

interface FuzzCase {
  version: K.Version;
  /** Whether the case starts with an intact CONNECT (then a successful CONNACK is mandatory). */
  validConnect: boolean;
  bytes: Buffer;
  /** Split points for writing the bytes in several chunks. */
  splits: number[];
  label: string;
}

const versionArb = fc.constantFrom<K.Version>(4, 5);
const splitsArb = fc.array(fc.nat(), { maxLength: 4 });

/** A valid packet with 0-3 mutations. */
const mutatedPacketArb = (v: K.Version, pool: Buffer[]) =>
  fc.tuple(fc.integer({ min: 0, max: pool.length - 1 }), fc.array(mutationArb, { maxLength: 3 })).map(([i, ms]) => ({
    bytes: ms.reduce((b, m) => mutate(b, m), pool[i]),
    label: `t${i}${ms.length ? `~${ms.map((m) => m.kind).join('+')}` : ''}`,
  }));

const caseArb: fc.Arbitrary<FuzzCase> = fc.oneof(
  // 1. pure garbage as the first bytes
  fc.record({ version: versionArb, g: fc.uint8Array({ minLength: 1, maxLength: 300 }), splits: splitsArb }).map(({ version, g, splits }) => ({
    version,
    validConnect: false,
    bytes: Buffer.from(g),
    splits,
    label: 'garbage',
  })),
  // 2. a mutated CONNECT (maybe followed by a valid packet)
  fc
    .record({ version: versionArb, will: fc.boolean(), ms: fc.array(mutationArb, { minLength: 1, maxLength: 3 }), tail: fc.boolean(), splits: splitsArb })
    .map(({ version, will, ms, tail, splits }) => ({
      version,
      validConnect: false,
      bytes: Buffer.concat([ms.reduce((b, m) => mutate(b, m), connectBytes(version, will)), tail ? Buffer.from([0xc0, 0x00]) : Buffer.alloc(0)]),
      splits,
      label: `connect~${ms.map((m) => m.kind).join('+')}`,
    })),
  // 3. an intact CONNECT, then 1-4 packets of which some are mutated, maybe garbage at the end
  versionArb.chain((version) =>
    fc
      .record({
        will: fc.boolean(),
        pkts: fc.array(mutatedPacketArb(version, templates(version)), { minLength: 1, maxLength: 4 }),
        garbage: fc.option(fc.uint8Array({ minLength: 1, maxLength: 64 }), { nil: undefined }),
        splits: splitsArb,
      })
      .map(({ will, pkts, garbage, splits }) => ({
        version,
        validConnect: true,
        bytes: Buffer.concat([connectBytes(version, will), ...pkts.map((p) => p.bytes), garbage ? Buffer.from(garbage) : Buffer.alloc(0)]),
        splits,
        label: `connect,${pkts.map((p) => p.label).join(',')}${garbage ? ',garbage' : ''}`,
      })),
  ),
);

// --- checking what the broker answered ---------------------------------------------------------------------------

const SERVER_SENDS = new Set([2, 3, 4, 5, 6, 7, 9, 11, 13, 14, 15]);

interface Frame {
  type: number;
  flags: number;
  bytes: Buffer;
}

/** Split raw bytes into MQTT frames; `rest` is an incomplete tail, `error` a framing error. */
function frames(buf: Buffer): { frames: Frame[]; rest: number; error?: string } {
  const out: Frame[] = [];
  let i = 0;
  while (i < buf.length) {
    let len = 0;
    let mul = 1;
    let j = i + 1;
    let done = false;
    for (let k = 0; k < 4 && j < buf.length; k++, j++) {
      len += (buf[j] & 0x7f) * mul;
      mul *= 128;
      if (!(buf[j] & 0x80)) {
        done = true;
        j++;
        break;
      }
    }
    if (!done) {
      if (j - i - 1 >= 4) return { frames: out, rest: 0, error: `bad remaining length at ${i}` };
      return { frames: out, rest: buf.length - i };
    }
    if (j + len > buf.length) return { frames: out, rest: buf.length - i };
    out.push({ type: buf[i] >> 4, flags: buf[i] & 0x0f, bytes: buf.subarray(i, j + len) });
    i = j + len;
  }
  return { frames: out, rest: 0 };
}

/** Returns a description of the confusion, or undefined when the answer is acceptable. */
function confusion(c: FuzzCase, conn: RawConn): string | undefined {
  const f = frames(conn.received);
  if (f.error) return f.error;
  if (f.rest && conn.closed && !conn.receivedTruncated) return 'connection closed in the middle of a packet from the broker';
  const fs = f.frames;
  if (fs.length === 0) return c.validConnect && !conn.closed ? 'a valid CONNECT got no CONNACK' : undefined;
  const bad = fs.find((x) => !SERVER_SENDS.has(x.type));
  if (bad) return `broker sent a packet of type ${bad.type}, which a Server never sends`;
  if (fs[0].type !== 2) return `first packet from the broker is not CONNACK but type ${fs[0].type} (${Buffer.from(fs[0].bytes).toString('hex').slice(0, 60)})`;
  if (fs.filter((x) => x.type === 2).length > 1) return 'more than one CONNACK';
  // The CONNACK's form tells the version the broker chose: v3.1.1 CONNACK has remaining length 2.
  const connack = fs[0].bytes;
  const v5Form = connack[1] !== 2;
  if (c.validConnect && v5Form !== (c.version === 5)) return 'CONNACK in the wrong protocol version';
  const parser = mqttPacket.parser({ protocolVersion: v5Form ? 5 : 4 });
  const parsed: Array<mqttPacket.Packet & { reasonCode?: number; returnCode?: number }> = [];
  let perr: Error | undefined;
  parser.on('packet', (p) => parsed.push(p));
  parser.on('error', (e) => (perr ??= e));
  parser.parse(Buffer.concat(fs.map((x) => x.bytes)));
  if (perr) return `broker sent an unparseable packet: ${perr.message}`;
  const ack = parsed[0];
  const rc = v5Form ? ack.reasonCode : ack.returnCode;
  if (c.validConnect && rc !== 0) return `a valid CONNECT was refused with ${rc}`;
  const refused = v5Form ? (rc ?? 0) >= 0x80 : rc !== 0;
  if (refused && parsed.length > 1) return 'packets after a refusing CONNACK';
  const di = parsed.findIndex((p) => p.cmd === 'disconnect');
  if (di >= 0) {
    if (!v5Form) return 'DISCONNECT sent to a v3.1.1 client';
    if ((parsed[di].reasonCode ?? 0) < 0x80) return `server DISCONNECT with non-error reason ${parsed[di].reasonCode}`;
    if (di !== parsed.length - 1) return 'packets after DISCONNECT';
  }
  return undefined;
}

async function runCase(c: FuzzCase, port: number): Promise<string | undefined> {
  let conn: RawConn;
  try {
    conn = await RawConn.open(port, c.version);
  } catch (e) {
    return `could not connect: ${(e as Error).message}`;
  }
  const cuts = [...new Set(c.splits.map((s) => s % (c.bytes.length + 1)))].sort((a, b) => a - b);
  let prev = 0;
  for (const cut of [...cuts, c.bytes.length]) {
    if (cut > prev) conn.send(c.bytes.subarray(prev, cut));
    prev = Math.max(prev, cut);
    if (cuts.length) await new Promise((r) => setTimeout(r, 2));
  }
  const deadline = Date.now() + WAIT_MS;
  while (!conn.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  // A valid CONNECT must get its CONNACK (or a close): give a busy broker more time before judging.
  if (c.validConnect && !conn.closed && conn.received.length === 0) {
    const late = Date.now() + 3000;
    while (!conn.closed && conn.received.length === 0 && Date.now() < late) await new Promise((r) => setTimeout(r, 20));
  }
  // A DISCONNECT must be followed by the close.
  if (!conn.closed && conn.packets.some((p) => p.cmd === 'disconnect')) {
    try {
      await conn.waitClosed(2000);
    } catch {
      conn.destroy();
      return 'DISCONNECT not followed by a close';
    }
  }
  const problem = confusion(c, conn);
  conn.destroy();
  return problem;
}

describe('socket fuzzing', () => {
  it(`garbage and mutated packets leave the broker serving (seed ${SEED}, ~${BUDGET_MS} ms)`, async () => {
    const cases = fc.sample(caseArb, { numRuns: MAX_CASES, seed: SEED });
    const started = Date.now();
    const failures: string[] = [];
    let next = 0;
    let ran = 0;
    const worker = async () => {
      while (next < cases.length && Date.now() - started < BUDGET_MS && brokerAlive(broker)) {
        const i = next++;
        const c = cases[i];
        const problem = await runCase(c, broker.port);
        ran++;
        if (problem && failures.length < 20) {
          failures.push(`#${i} v${c.version} ${c.label}: ${problem}\n    sent ${c.bytes.toString('hex').slice(0, 240)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    console.info(`fuzz: seed ${SEED}, ${ran} connections in ${Date.now() - started} ms, ${failures.length} confused`);

    expect(brokerAlive(broker), `broker died during fuzzing (seed ${SEED}):\n${broker.output().slice(-4000)}`).toBe(true);
    expect(failures, `seed ${SEED}, ${ran} cases`).toEqual([]);
    expect(ran).toBeGreaterThan(100);
    await healthy.roundTrip();
    expect(healthy.disconnects).toBe(0);
    // New connections are still accepted and served normally.
    const fresh = await RawConn.connected(broker.port, 5, `fz-after-${process.pid}`);
    await fresh.ping();
    fresh.destroy();
  }, BUDGET_MS + 30_000);
});
