/**
 * The conformance defects of issue #13, and one the fuzz test found later, one test each, over raw sockets. Where the spec fixes the bytes (a v3.1.1
 * CONNACK, the short DISCONNECT, a CONNACK cut down to the client's Maximum Packet Size) the test compares bytes;
 * where it names only a reason code (a DISCONNECT's Reason String is free text) it compares the code.
 *
 * Spec basis: MQTT 5.0 (OASIS Standard) and MQTT 3.1.1. The clause is in each test name. The codes the spec does not
 * name are the decisions listed in README ("Decisions where the spec names no code").
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../helpers/broker.js';
import * as K from './helpers/packets.js';
import { RawConn, summary, type Packet } from './helpers/raw-conn.js';
import { brokerAlive, isMosquitto, startTarget } from './helpers/target.js';

let broker: RunningBroker;

beforeAll(async () => {
  broker = await startTarget();
}, 30_000);

afterAll(async () => {
  await broker?.stop();
});

let seq = 0;
const cid = (name: string) => `def-${name}-${process.pid}-${++seq}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hex = (b: Buffer) => b.toString('hex');

/** A v5 subscriber on `topic` that records what arrives. */
async function watcher(topic: string): Promise<RawConn> {
  const w = await RawConn.connected(broker.port, 5, cid('watch'));
  w.send(K.subscribeRaw(5, { packetId: 1, entries: [[topic, 0]] }));
  await w.waitFor('suback');
  return w;
}

const published = (w: RawConn) => w.packets.filter((p) => p.cmd === 'publish').map((p) => `${p.topic}=${(p.payload as Buffer).toString()}`);

/** A connected client with a Will on `topic`. */
function withWill(v: K.Version, topic: string): Promise<RawConn> {
  return RawConn.connected(broker.port, v, cid('will'), { will: { topic, payload: Buffer.from('DIED'), qos: 0, retain: false } });
}

/** The broker closed the connection; for v5 after exactly one DISCONNECT with `rc`, for v3.1.1 without a packet. */
async function expectClosedWith(c: RawConn, v: K.Version, rc: number): Promise<void> {
  await c.waitClosed();
  expect(c.parseError, c.describe()).toBeUndefined();
  expect(c.afterConnack().map(summary), c.describe()).toEqual(v === 5 ? [`disconnect(0x${rc.toString(16)})`] : []);
}

/** A CONNECT that must be refused without a CONNACK (3.1.1), or with at most CONNACK `v5Code` (v5), then closed. */
async function expectConnectRefused(bytes: Buffer, v: K.Version, v5Code: number): Promise<void> {
  const c = await RawConn.open(broker.port, v);
  c.send(bytes);
  await c.waitClosed();
  expect(c.parseError, c.describe()).toBeUndefined();
  if (v === 5 && c.packets.length > 0) {
    expect(c.packets.map(summary), c.describe()).toEqual([`connack(0x${v5Code.toString(16)})`]);
  } else {
    expect(c.received.length, `[MQTT-3.1.4-1] no CONNACK for an invalid CONNECT: ${c.describe()}`).toBe(0);
  }
}

/** CONNECT bytes built field by field: `flags` are the Connect Flags, `rest` the payload after the client id. */
function connectRaw(v: K.Version, flags: number, clientId: string | Buffer, rest: Buffer[] = [], name = 'MQTT', level: number = v): Buffer {
  const body = [K.str(name), K.u8(level), K.u8(flags), K.u16(60)];
  if (v === 5) body.push(K.props());
  body.push(K.str(clientId), ...rest);
  return K.raw(0x10, Buffer.concat(body));
}

describe.skipIf(isMosquitto)('issue 13: conformance defects (edgemq)', () => {
  afterAll(() => {
    expect(brokerAlive(broker), broker.output()).toBe(true);
  });

  // ---- 1. short DISCONNECT / AUTH ----------------------------------------------------------------------------------

  it.each([
    ['e0 00', [0xe0, 0x00]],
    ['e0 01 00', [0xe0, 0x01, 0x00]],
  ])('[MQTT-3.14.2.1 / MQTT-3.14.4-3] DISCONNECT %s is a normal disconnect: no answer, Will discarded', async (_, bytes) => {
    const topic = `def/will/${cid('short')}`;
    const w = await watcher(topic);
    const c = await withWill(5, topic);
    c.send(bytes);
    await c.waitClosed();
    expect(c.afterConnack().map(summary), c.describe()).toEqual([]);
    await sleep(500);
    await w.ping();
    expect(published(w)).toEqual([]);
    w.destroy();
  });

  it('[3.15.2.1] AUTH f0 00 (short form, reason 0x00) decodes: without enhanced authentication it is a Protocol Error 0x82, not 0x81', async () => {
    const c = await RawConn.connected(broker.port, 5, cid('auth'));
    c.send([0xf0, 0x00]);
    await expectClosedWith(c, 5, 0x82);
  });

  // ---- 2. malformed DISCONNECT -------------------------------------------------------------------------------------

  it.each([
    ['a Payload Format Indicator (not allowed in DISCONNECT)', 5, [0xe0, 0x04, 0x00, 0x02, 0x01, 0x00]],
    ['a byte after the property block', 5, [0xe0, 0x03, 0x00, 0x00, 0x00]],
    ['remaining length 1 in 3.1.1', 4, [0xe0, 0x01, 0x00]],
  ] as const)('[2.2.2.2 / 4.13] a DISCONNECT with %s is malformed: DISCONNECT 0x81 (v5) or close, and the Will is published', async (_, v, bytes) => {
    const topic = `def/will/${cid('maldisc')}`;
    const w = await watcher(topic);
    const c = await withWill(v, topic);
    c.send([...bytes]);
    await expectClosedWith(c, v, 0x81);
    await expect.poll(() => published(w)).toEqual([`${topic}=DIED`]);
    w.destroy();
  });

  // ---- 3. malformed acknowledgements -------------------------------------------------------------------------------

  const ACKS = [
    ['PUBACK', 0x40],
    ['PUBREC', 0x50],
    ['PUBREL', 0x62],
    ['PUBCOMP', 0x70],
  ] as const;
  for (const [name, first] of ACKS) {
    it(`[2.2.2.2 / 4.13] a ${name} with a disallowed property, trailing bytes or a bad property length is malformed: DISCONNECT 0x81`, async () => {
      const forms: Array<[string, K.Version, Buffer]> = [
        ['Payload Format Indicator', 5, Buffer.from([first, 0x06, 0x00, 0x01, 0x00, 0x02, 0x01, 0x00])],
        ['trailing byte', 5, Buffer.from([first, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00])],
        ['property length 1 holding a 4-byte Reason String', 5, Buffer.from([first, 0x08, 0x00, 0x01, 0x00, 0x01, 0x1f, 0x00, 0x01, 0x61])],
        ['3.1.1 remaining length 3', 4, Buffer.from([first, 0x03, 0x00, 0x01, 0x00])],
      ];
      for (const [form, v, bytes] of forms) {
        const c = await RawConn.connected(broker.port, v, cid('ack'));
        c.send(bytes);
        try {
          await expectClosedWith(c, v, 0x81);
        } catch (err) {
          throw new Error(`${name} (${form}, v${v}): ${(err as Error).message}`);
        }
      }
    });
  }

  // ---- 4. SUBSCRIBE / UNSUBSCRIBE / PUBLISH ------------------------------------------------------------------------

  it('[2.2.2.2] a SUBSCRIBE carrying a Payload Format Indicator is malformed: DISCONNECT 0x81, no SUBACK', async () => {
    const c = await RawConn.connected(broker.port, 5, cid('subprop'));
    c.send(K.subscribeRaw(5, { packetId: 3, entries: [['a/b', 1]], properties: K.props(K.P.payloadFormatIndicator(1)) }));
    await expectClosedWith(c, 5, 0x81);
  });

  it('[2.2.2.2] an UNSUBSCRIBE carrying a Message Expiry Interval is malformed: DISCONNECT 0x81, no UNSUBACK', async () => {
    const c = await RawConn.connected(broker.port, 5, cid('unsubprop'));
    c.send(K.raw(0xa2, Buffer.concat([K.u16(3), K.props(K.P.messageExpiry(5)), K.str('a/b')])));
    await expectClosedWith(c, 5, 0x81);
  });

  it('[2.2.2.2] a PUBLISH carrying a Reason String is malformed: DISCONNECT 0x81, no PUBACK', async () => {
    const c = await RawConn.connected(broker.port, 5, cid('pubprop'));
    c.send(K.publishRaw(5, { topic: 'a', qos: 1, packetId: 4, properties: K.props(Buffer.concat([K.u8(0x1f), K.str('why')])) }));
    await expectClosedWith(c, 5, 0x81);
  });

  for (const v of [5, 4] as const) {
    it(`[MQTT-2.2.1-3] SUBSCRIBE with packet id 0 is a Protocol Error: DISCONNECT 0x82 / close (v${v})`, async () => {
      const c = await RawConn.connected(broker.port, v, cid('sub0'));
      c.send(K.subscribeRaw(v, { packetId: 0, entries: [['a/b', 1]] }));
      await expectClosedWith(c, v, 0x82);
    });

    it(`[MQTT-2.2.1-3] UNSUBSCRIBE with packet id 0 is a Protocol Error: DISCONNECT 0x82 / close (v${v})`, async () => {
      const c = await RawConn.connected(broker.port, v, cid('unsub0'));
      c.send(K.raw(0xa2, Buffer.concat([K.u16(0), ...(v === 5 ? [K.props()] : []), K.str('a/b')])));
      await expectClosedWith(c, v, 0x82);
    });

    it(`[MQTT-4.7.3-1 / MQTT-4.8.2-2] an empty topic filter, or $share/group/ without one, closes the connection: DISCONNECT 0x82 / close (v${v})`, async () => {
      const forms: Array<[string, Buffer]> = [
        ['SUBSCRIBE ""', K.subscribeRaw(v, { packetId: 5, entries: [['', 1]] })],
        ['SUBSCRIBE "$share/group/"', K.subscribeRaw(v, { packetId: 5, entries: [['$share/group/', 1]] })],
        ['UNSUBSCRIBE ""', K.raw(0xa2, Buffer.concat([K.u16(5), ...(v === 5 ? [K.props()] : []), K.str('')]))],
        ['UNSUBSCRIBE "$share/group/"', K.raw(0xa2, Buffer.concat([K.u16(5), ...(v === 5 ? [K.props()] : []), K.str('$share/group/')]))],
      ];
      for (const [form, bytes] of forms) {
        const c = await RawConn.connected(broker.port, v, cid('emptyfilter'));
        c.send(bytes);
        try {
          await expectClosedWith(c, v, 0x82);
        } catch (err) {
          throw new Error(`${form}: ${(err as Error).message}`);
        }
      }
    });
  }

  // ---- 5. invalid CONNECTs -----------------------------------------------------------------------------------------

  for (const v of [4, 5] as const) {
    const code = 0x81;
    it(`[MQTT-3.1.2-14 / 3.1.2.6] Will QoS 3 -> ${v === 4 ? 'close without CONNACK' : 'CONNACK 0x81 or close'} (v${v})`, async () => {
      const will = [...(v === 5 ? [K.props()] : []), K.str('w/t'), K.str('x')];
      await expectConnectRefused(connectRaw(v, 0x02 | 0x04 | 0x18, cid('wq3'), will), v, code);
    });

    it(`[MQTT-3.1.2-13 / MQTT-3.1.2-15] Will flag 0 with Will QoS 1 or Will Retain -> ${v === 4 ? 'close without CONNACK' : 'CONNACK 0x81 or close'} (v${v})`, async () => {
      await expectConnectRefused(connectRaw(v, 0x02 | 0x08, cid('wq1')), v, code);
      await expectConnectRefused(connectRaw(v, 0x02 | 0x20, cid('wr')), v, code);
    });

    it(`[MQTT-1.5.3-1 / MQTT-1.5.3-2] a username holding U+0000 or a UTF-16 surrogate -> ${v === 4 ? 'close without CONNACK' : 'CONNACK 0x81 or close'} (v${v})`, async () => {
      await expectConnectRefused(connectRaw(v, 0x02 | 0x80, cid('unul'), [K.str(K.BAD_UTF8.nul)]), v, code);
      await expectConnectRefused(connectRaw(v, 0x02 | 0x80, cid('usur'), [K.str(K.BAD_UTF8.surrogate)]), v, code);
    });

    it(`[MQTT-3.1.4-1] a client id holding U+0000 -> ${v === 4 ? 'close without CONNACK' : 'CONNACK 0x81 or close'} (v${v})`, async () => {
      await expectConnectRefused(connectRaw(v, 0x02, K.BAD_UTF8.nul), v, code);
    });
  }

  it('[MQTT-3.1.2-22] 3.1.1: a password flag without the username flag -> close without CONNACK', async () => {
    await expectConnectRefused(connectRaw(4, 0x02 | 0x40, cid('pw'), [K.str('secret')]), 4, 0x81);
  });

  it('[MQTT-3.1.3-9] 3.1.1: a well-formed but rejected client id gets CONNACK 0x02 (20 02 00 02), then close', async () => {
    const c = await RawConn.open(broker.port, 4);
    c.send(connectRaw(4, 0x00, '')); // empty client id without clean session [MQTT-3.1.3-8]
    await c.waitClosed();
    expect(hex(c.received)).toBe('20020002');
  });

  // ---- 6. smaller ones ---------------------------------------------------------------------------------------------

  for (const v of [5, 4] as const) {
    it(`[2.1.4 / 3.12.1] PINGREQ with remaining length 1 is malformed: DISCONNECT 0x81 / close, no PINGRESP (v${v})`, async () => {
      const c = await RawConn.connected(broker.port, v, cid('ping1'));
      c.send([0xc0, 0x01, 0x00]);
      await expectClosedWith(c, v, 0x81);
    });

    it(`[MQTT-3.3.1-2] QoS 0 PUBLISH with DUP 1 is malformed: DISCONNECT 0x81 / close, not routed (v${v})`, async () => {
      const topic = `def/dup/${cid('dup')}`;
      const w = await watcher(topic);
      const c = await RawConn.connected(broker.port, v, cid('dup'));
      c.send(K.publishRaw(v, { topic, qos: 0, dup: true, payload: 'x' }));
      await expectClosedWith(c, v, 0x81);
      await w.ping();
      expect(published(w)).toEqual([]);
      w.destroy();
    });
  }

  it('[MQTT-3.2.2-1] 3.1.1: a clean-session CONNECT that takes over a clean-session connection gets Session Present 0 (20 02 00 00)', async () => {
    const id = cid('takeover');
    const a = await RawConn.connected(broker.port, 4, id);
    const b = await RawConn.open(broker.port, 4);
    b.send(K.connect(4, id));
    await b.waitFor('connack');
    expect(hex(b.received)).toBe('20020000');
    await a.waitClosed();
    b.destroy();
  });

  it('[MQTT-3.1.2-6 / MQTT-3.2.2-2] 3.1.1: a clean-session-0 CONNECT that takes over a clean-session-1 connection finds no session (20 02 00 00) and none of its subscriptions', async () => {
    // The taken-over session lasted as long as its connection [MQTT-3.1.2-6]: nothing is stored to resume.
    const id = cid('takeover0');
    const topic = `def/takeover/${id}`;
    const a = await RawConn.connected(broker.port, 4, id);
    a.send(K.subscribeRaw(4, { packetId: 1, entries: [[topic, 0]] }));
    await a.waitFor('suback');
    const b = await RawConn.open(broker.port, 4);
    b.send(K.connect(4, id, { clean: false }));
    await b.waitFor('connack');
    expect(hex(b.received)).toBe('20020000');
    await a.waitClosed();
    const p = await RawConn.connected(broker.port, 5, cid('pub'));
    p.send(K.publishRaw(5, { topic, qos: 0, payload: 'old subscription' }));
    await p.ping();
    await b.ping();
    expect(b.packets.filter((x) => x.cmd === 'publish'), b.describe()).toEqual([]);
    b.destroy();
    p.destroy();
  });

  it('[3.1 3.2] MQTT 3.1 (MQIsdp): the CONNACK of a resumed session has no session-present bit (20 02 00 00)', async () => {
    const id = cid('v31');
    const bytes = K.connect(4, id, { protocolId: 'MQIsdp', protocolVersion: 3, clean: false });
    const a = await RawConn.open(broker.port, 4);
    a.send(bytes);
    await a.waitFor('connack');
    a.destroy();
    await sleep(100);
    const b = await RawConn.open(broker.port, 4);
    b.send(bytes);
    await b.waitFor('connack');
    expect(hex(b.received)).toBe('20020000');
    b.destroy();
  });

  it('[MQTT-3.1.2-24 / MQTT-3.2.2-19] a refusing CONNACK larger than the client\'s Maximum Packet Size leaves out its Reason String (20 03 00 85 00)', async () => {
    const c = await RawConn.open(broker.port, 5);
    c.send(K.connect(5, '$edgemq/not-yours', { properties: { maximumPacketSize: 16 } }));
    await c.waitClosed();
    expect(hex(c.received)).toBe('2003008500');
  });

  describe.each([5, 4] as const)('PUBREC that matches no QoS 2 flow waiting for it -> PUBREL 0x92 (v%s)', (v) => {
    const pubrelOf = (c: RawConn, id: number) => c.packets.find((p: Packet) => p.cmd === 'pubrel' && p.messageId === id);
    const expectNotFound = async (c: RawConn, id: number) => {
      await expect.poll(() => pubrelOf(c, id) !== undefined, { timeout: 3000 }).toBe(true);
      if (v === 5) expect(pubrelOf(c, id)!.reasonCode, c.describe()).toBe(0x92);
      await c.ping();
    };

    it('unsolicited PUBREC', async () => {
      const c = await RawConn.connected(broker.port, v, cid('pubrec-none'));
      c.send(K.raw(0x50, K.u16(0x1234)));
      await expectNotFound(c, 0x1234);
      c.destroy();
    });

    it('PUBREC for a QoS 1 message', async () => {
      const topic = `def/pubrec1/${cid('t')}`;
      const c = await RawConn.connected(broker.port, v, cid('pubrec-q1'));
      c.send(K.subscribeRaw(v, { packetId: 1, entries: [[topic, 1]] }));
      await c.waitFor('suback');
      const p = await RawConn.connected(broker.port, 5, cid('pub'));
      p.send(K.publishRaw(5, { topic, qos: 1, packetId: 1, payload: 'q1' }));
      const msg = await c.waitFor('publish');
      expect(msg.qos).toBe(1);
      c.send(K.raw(0x50, K.u16(msg.messageId!)));
      await expectNotFound(c, msg.messageId!);
      c.send(K.raw(0x40, K.u16(msg.messageId!)));
      c.destroy();
      p.destroy();
    });

    it('duplicate PUBREC', async () => {
      const topic = `def/pubrec2/${cid('t')}`;
      const c = await RawConn.connected(broker.port, v, cid('pubrec-dup'));
      c.send(K.subscribeRaw(v, { packetId: 1, entries: [[topic, 2]] }));
      await c.waitFor('suback');
      const p = await RawConn.connected(broker.port, 5, cid('pub'));
      p.send(K.publishRaw(5, { topic, qos: 2, packetId: 1, payload: 'q2' }));
      const msg = await c.waitFor('publish');
      const id = msg.messageId!;
      c.send(K.raw(0x50, K.u16(id)));
      const first = await c.waitFor('pubrel');
      expect(first.messageId).toBe(id);
      if (v === 5) expect(first.reasonCode ?? 0).toBe(0);
      c.send(K.raw(0x50, K.u16(id)));
      const second = await c.waitFor('pubrel');
      expect(second.messageId).toBe(id);
      if (v === 5) expect(second.reasonCode, c.describe()).toBe(0x92);
      c.send(K.raw(0x70, K.u16(id)));
      await c.ping();
      c.destroy();
      p.destroy();
    });
  });
});

const PAIRS = 200;

async function pair(clientId: string): Promise<Buffer[]> {
  const socks = [0, 1].map(() => net.connect(broker.port, '127.0.0.1'));
  await Promise.all(socks.map((s) => new Promise((resolve, reject) => s.once('connect', resolve).once('error', reject))));
  const got = socks.map(() => Buffer.alloc(0));
  socks.forEach((s, k) => {
    s.on('data', (d: Buffer) => (got[k] = Buffer.concat([got[k]!, d])));
    s.on('error', () => {});
  });
  const connect = K.connect(5, clientId, { properties: { sessionExpiryInterval: 0 } });
  for (const s of socks) s.write(connect); // one turn: both reach the broker together
  // Until one has its CONNACK and the other is answered or closed.
  const deadline = Date.now() + 2000;
  while (Date.now() < deadline && !(got.some((g) => g.length > 0) && socks.every((s, k) => got[k]!.length > 0 || s.closed || s.readableEnded))) {
    await new Promise((r) => setTimeout(r, 2));
  }
  for (const s of socks) s.destroy();
  return got;
}

/**
 * Two connections CONNECT with the same client id at the same moment. When the broker applies both
 * in one group commit, the first is taken over before its CONNACK went out; it used to get
 * DISCONNECT 0x8E as its first packet, which [MQTT-3.2.0-1] forbids (the fuzz test caught one in
 * CI; 166 of 200 pairs here on the build with the SQLite log, 3 of 200 with the segment log).
 * Whatever each connection gets, its first packet is a CONNACK, and at least one is accepted.
 */
describe.skipIf(isMosquitto)('[MQTT-3.2.0-1] takeover of a connection still waiting for its CONNACK', () => {
  it('never sends anything but CONNACK first, however the two CONNECTs fall into group commits', async () => {
    const firsts = new Map<string, number>();
    let accepted = 0;
    for (let i = 0; i < PAIRS; i++) {
      const got = await pair(cid('race'));
      for (const g of got) {
        if (g.length === 0) continue;
        const first = g.subarray(0, 4).toString('hex');
        const type = g[0]! >> 4;
        if (type !== 2) firsts.set(first, (firsts.get(first) ?? 0) + 1);
        else if (g[3] === 0) accepted++; // v5 CONNACK: flags, reason code 0x00
      }
    }
    expect(Object.fromEntries(firsts), 'first packets that were not CONNACK, by their first bytes').toEqual({});
    expect(accepted).toBeGreaterThanOrEqual(PAIRS);
  });
});
