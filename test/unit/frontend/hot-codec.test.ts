/**
 * The hot-path decoder and PUBLISH encoder must be indistinguishable from mqtt-packet, the codec of
 * record: random packet streams, cut into random chunks, decode to the same packets through
 * Connection's split (hot decoder while nothing is half-parsed, the connection's mqtt-packet parser
 * for the rest) as through a stock mqtt-packet parser, and
 * encoded deliveries decode back to what was sent.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { CARRY_MAX, cutHotPacket, decodeHotPackets, type HotPacket } from '../../../src/frontend/hot-decode.js';
import { createParser, isIdle } from '../../../src/frontend/mqtt-parser.js';
import { encodeDelivery, INLINE_PAYLOAD, type EncodedDelivery } from '../../../src/frontend/outbound.js';
import type { Delivery, Message } from '../../../src/core/types.js';

type Version = 4 | 5;

const topic = fc.string({ unit: fc.constantFrom('a', 'b', '/', 'é', '€', '😀', ' '), minLength: 0, maxLength: 40 });
const payload = fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 120, maxLength: 300 }), fc.constant(new Uint8Array(20_000)));
const packetId = fc.integer({ min: 1, max: 0xffff });

function packetArb(version: Version): fc.Arbitrary<mqttPacket.Packet> {
  const publish = fc.record({ topic, payload, qos: fc.constantFrom(0, 1, 2), retain: fc.boolean(), dup: fc.boolean(), id: packetId, props: fc.boolean() }).map(
    (r) =>
      ({
        cmd: 'publish',
        topic: r.topic,
        payload: Buffer.from(r.payload),
        qos: r.qos,
        retain: r.retain,
        dup: r.qos > 0 && r.dup, // DUP on QoS 0 is malformed [MQTT-3.3.1-2]: the connection's parser refuses it, mqtt-packet does not
        messageId: r.qos > 0 ? r.id : undefined,
        // properties send the packet down the general path: the switch between decoders is exercised too
        properties: version === 5 && r.props ? { contentType: 'x', userProperties: { k: 'v' } } : undefined,
      }) as mqttPacket.IPublishPacket,
  );
  const ack = fc.record({ cmd: fc.constantFrom('puback', 'pubrec', 'pubrel', 'pubcomp'), id: packetId, rc: fc.constantFrom(0, 0, 0x10, 0x80) }).map(
    (r) => ({ cmd: r.cmd, messageId: r.id, reasonCode: version === 5 && r.cmd !== 'pubrel' && r.cmd !== 'pubcomp' ? r.rc : 0 }) as mqttPacket.Packet,
  );
  const other = fc.constantFrom({ cmd: 'pingreq' } as mqttPacket.Packet, { cmd: 'subscribe', messageId: 7, subscriptions: [{ topic: 'a/#', qos: 1 }] } as mqttPacket.Packet);
  return fc.oneof({ weight: 5, arbitrary: publish }, { weight: 3, arbitrary: ack }, { weight: 1, arbitrary: other });
}

/** Plain objects with only the fields that carry meaning, so both decoders' packets compare equal. */
function normalize(p: mqttPacket.Packet | HotPacket): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) {
    if (v === undefined || v === null) continue;
    out[k] = Buffer.isBuffer(v) ? v.toString('hex') : v;
  }
  return out;
}

function referenceDecode(bytes: Buffer, version: Version): Record<string, unknown>[] {
  const parser = mqttPacket.parser({ protocolVersion: version });
  const out: Record<string, unknown>[] = [];
  parser.on('packet', (p) => out.push(normalize(p)));
  parser.on('error', (e) => out.push({ error: e.message }));
  parser.parse(bytes);
  return out;
}

/** The same split Connection.onData makes, with the connection's own parser and idle test. */
function splitDecode(chunks: Buffer[], version: Version): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const owner = {
    maxPacketSize: 1 << 28,
    onPacket: (p: mqttPacket.Packet) => out.push(normalize(p)),
    onParseError: (e: Error) => out.push({ error: e.message }),
  };
  const parser = createParser(owner, version);
  const sink = { acceptHotPacket: (p: HotPacket) => (out.push(normalize(p)), true) };
  let carry: Buffer | undefined;
  for (let chunk of chunks) {
    if (carry !== undefined) {
      chunk = Buffer.concat([carry, chunk]);
      carry = undefined;
    }
    if (isIdle(parser)) {
      const used = decodeHotPackets(chunk, version, owner.maxPacketSize, sink);
      if (used === chunk.length) continue;
      if (cutHotPacket(chunk, used, owner.maxPacketSize)) {
        carry = chunk.subarray(used);
        continue;
      }
      chunk = chunk.subarray(used);
    }
    parser.parse(chunk);
  }
  if (carry !== undefined) parser.parse(carry); // the stream ended: what is left is the parser's (incomplete, so nothing comes out)
  return out;
}

function cut(bytes: Buffer, points: number[]): Buffer[] {
  const at = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of at) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  chunks.push(bytes.subarray(from));
  return chunks.filter((c) => c.length > 0);
}

/** The bytes a connection writes for `enc`: the shared head with `packetId` stamped into a copy, then the payload. */
function wire(enc: EncodedDelivery, packetId: number): Buffer {
  const first = Buffer.from(enc.first);
  if (enc.packetIdAt >= 0) first.writeUInt16BE(packetId, enc.packetIdAt);
  return enc.second ? Buffer.concat([first, enc.second]) : first;
}

describe('hot-path decoder', () => {
  for (const version of [4, 5] as const) {
    it(`v${version}: any packet stream in any chunking decodes exactly as mqtt-packet decodes it`, () => {
      fc.assert(
        fc.property(fc.array(packetArb(version), { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 6 }), (packets, points) => {
          const bytes = Buffer.concat(packets.map((p) => mqttPacket.generate(p, { protocolVersion: version })));
          expect(splitDecode(cut(bytes, points), version)).toEqual(referenceDecode(bytes, version));
        }),
        { numRuns: 400 },
      );
    });
  }

  it('leaves malformed and unusual packets to mqtt-packet, so errors have one source', () => {
    const sink = { acceptHotPacket: () => true };
    const cases: Array<[string, number[], Version]> = [
      ['QoS 3 PUBLISH', [0x36, 0x04, 0x00, 0x01, 0x61, 0x00], 4],
      ['QoS 0 PUBLISH with DUP', [0x38, 0x03, 0x00, 0x01, 0x61], 4],
      ['PUBACK with reserved flags', [0x41, 0x02, 0x00, 0x01], 4],
      ['PUBREL without its required flags', [0x60, 0x02, 0x00, 0x01], 4],
      ['topic longer than the packet', [0x30, 0x03, 0x00, 0x09, 0x61], 4],
      ['QoS 1 PUBLISH cut before the packet id', [0x32, 0x03, 0x00, 0x01, 0x61], 4],
      ['five-byte Remaining Length', [0x30, 0xff, 0xff, 0xff, 0xff, 0x01], 4],
      ['v5 PUBLISH without a property length', [0x30, 0x03, 0x00, 0x01, 0x61], 5],
      ['v5 PUBLISH with properties', [0x30, 0x06, 0x00, 0x01, 0x61, 0x02, 0x01, 0x01], 5],
      ['v5 PUBACK with a reason code', [0x40, 0x03, 0x00, 0x01, 0x10], 5],
    ];
    for (const [name, bytes, version] of cases) expect(decodeHotPackets(Buffer.from(bytes), version, 1 << 28, sink), name).toBe(0);
  });

  it('stops before a packet larger than the connection allows (mqtt-packet path reports it)', () => {
    const bytes = mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(100), qos: 0, retain: false, dup: false }, { protocolVersion: 4 });
    expect(decodeHotPackets(bytes, 4, 50, { acceptHotPacket: () => true })).toBe(0);
    expect(decodeHotPackets(bytes, 4, bytes.length, { acceptHotPacket: () => true })).toBe(bytes.length);
  });

  it('carries a PUBLISH or ack cut by the chunk end, up to CARRY_MAX and the packet size limit, and nothing else', () => {
    const publish = mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(100), qos: 1, messageId: 3, retain: false, dup: false }, { protocolVersion: 4 });
    for (let cutAt = 1; cutAt < publish.length; cutAt++) expect(cutHotPacket(publish.subarray(0, cutAt), 0, 1 << 28), `cut at ${cutAt}`).toBe(true);
    expect(cutHotPacket(publish, 0, 1 << 28)).toBe(false); // whole: not cut
    expect(cutHotPacket(publish.subarray(0, 50), 0, 60)).toBe(false); // larger than the client may send: the parser reports it
    const big = mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(CARRY_MAX), qos: 0, retain: false, dup: false }, { protocolVersion: 4 });
    expect(cutHotPacket(big.subarray(0, 1000), 0, 1 << 28)).toBe(false);
    const puback = mqttPacket.generate({ cmd: 'puback', messageId: 1 }, { protocolVersion: 4 });
    expect(cutHotPacket(puback.subarray(0, 3), 0, 1 << 28)).toBe(true);
    const subscribe = mqttPacket.generate({ cmd: 'subscribe', messageId: 7, subscriptions: [{ topic: 'a/#', qos: 1 }] }, { protocolVersion: 4 });
    expect(cutHotPacket(subscribe.subarray(0, 4), 0, 1 << 28)).toBe(false);
  });

  it('stops after the packet that made the connection stop accepting input', () => {
    const one = mqttPacket.generate({ cmd: 'puback', messageId: 1 }, { protocolVersion: 4 });
    let seen = 0;
    const used = decodeHotPackets(Buffer.concat([one, one, one]), 4, 1 << 28, { acceptHotPacket: () => ++seen < 2 });
    expect([seen, used]).toEqual([2, 8]);
  });
});

describe('PUBLISH encoder', () => {
  const decodeOne = (bytes: Buffer, version: Version): mqttPacket.IPublishPacket => {
    const parser = mqttPacket.parser({ protocolVersion: version });
    const got: mqttPacket.Packet[] = [];
    parser.on('packet', (p) => got.push(p));
    parser.on('error', (e) => {
      throw e;
    });
    parser.parse(bytes);
    expect(got).toHaveLength(1);
    return got[0] as mqttPacket.IPublishPacket;
  };

  for (const version of [4, 5] as const) {
    it(`v${version}: shared-shape deliveries decode to the message, packet id and flags that were delivered`, () => {
      fc.assert(
        fc.property(topic.filter((t) => t.length > 0), payload, fc.constantFrom(0, 1, 2), fc.boolean(), packetId, fc.boolean(), (t, pl, qos, retain, id, props) => {
          const message: Message = { topic: t, payload: Buffer.from(pl), qos: qos as 0 | 1 | 2, retain, origin: 'x' };
          if (version === 5 && props) message.properties = { contentType: 'text/plain', userProperties: { a: 'b' } };
          const d = { message, qos, retain, packetId: id, dup: false } as unknown as Delivery;
          const enc = encodeDelivery(d, version, undefined, 1 << 28, Date.now);
          if (typeof enc === 'string') throw new Error(enc);
          const bytes = wire(enc, id);
          expect(bytes.length).toBe(enc.length);
          const p = decodeOne(bytes, version);
          expect([p.topic, Buffer.from(p.payload as Buffer).equals(message.payload), p.qos, p.retain, p.dup]).toEqual([t, true, qos, retain, false]);
          expect(p.messageId).toBe(qos > 0 ? id : undefined);
          if (version === 5 && props) expect(p.properties).toMatchObject({ contentType: 'text/plain', userProperties: { a: 'b' } });
        }),
        { numRuns: 300 },
      );
    });
  }

  it('the same message to many subscribers shares its bytes at QoS 0 and patches only the packet id at QoS 1', () => {
    for (const size of [64, INLINE_PAYLOAD + 1]) {
      const message: Message = { topic: 'fan/out', payload: Buffer.from('x'.repeat(size)), qos: 1, retain: false, origin: 'p' };
      // The result object is reused by the next call: take its fields out at once.
      const at = (qos: number, packetId: number) => {
        const enc = encodeDelivery({ message, qos, retain: false, packetId, dup: false } as unknown as Delivery, 4, undefined, 1 << 20, () => 0);
        if (typeof enc === 'string') throw new Error(enc);
        return { first: enc.first, packetIdAt: enc.packetIdAt, second: enc.second, wire: wire(enc, packetId) };
      };
      const [a, b] = [at(0, 0), at(0, 0)];
      expect(a.first).toBe(b.first);
      // A small payload rides in the same buffer (one write); a larger one is the message's own Buffer, never copied.
      expect(a.second).toBe(size <= INLINE_PAYLOAD ? undefined : message.payload);
      expect(a.packetIdAt).toBe(-1);
      // QoS 1: the same shared head for every subscriber, and where the writer stamps each one's packet id.
      const [c, e] = [at(1, 7), at(1, 8)];
      expect(c.first).toBe(e.first);
      const idAt = 2 + 2 + 'fan/out'.length + (size > 127 ? 1 : 0);
      expect(c.packetIdAt).toBe(idAt);
      expect([c.wire.readUInt16BE(idAt), e.wire.readUInt16BE(idAt)]).toEqual([7, 8]);
      expect(c.first.readUInt16BE(idAt)).not.toBe(7); // the shared bytes are never stamped
    }
  });

  it('refuses a delivery larger than the client accepts', () => {
    const message: Message = { topic: 't', payload: Buffer.alloc(1000), qos: 0, retain: false, origin: 'p' };
    expect(encodeDelivery({ message, qos: 0, retain: false, packetId: 0, dup: false } as unknown as Delivery, 4, undefined, 500, () => 0)).toBe('too-large');
  });
});
