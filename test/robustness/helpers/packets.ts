/**
 * Byte-level MQTT packet builders for hostile-input tests.
 *
 * Valid packets come from mqtt-packet's `generate` (so a test never depends on our own encoder being right);
 * malformed ones are assembled by hand here, field by field, so a test can put exactly the wrong byte where it wants.
 */
import mqttPacket from 'mqtt-packet';

export type Version = 4 | 5;

/** Variable Byte Integer (spec 1.5.5); no range check, so callers can build invalid ones on purpose. */
export function varInt(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

export function u8(n: number): Buffer {
  return Buffer.from([n & 0xff]);
}

export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** UTF-8 Encoded String / Binary Data: two-byte length + raw bytes (bytes are NOT validated). */
export function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  return Buffer.concat([u16(b.length), b]);
}

/** A property block: Variable Byte Integer length + the given already-encoded properties. */
export function props(...items: Buffer[]): Buffer {
  const body = Buffer.concat(items);
  return Buffer.concat([varInt(body.length), body]);
}

/** Property encoders (identifier + value) for the ones the tests use. */
export const P = {
  payloadFormatIndicator: (v: number) => Buffer.concat([u8(0x01), u8(v)]),
  messageExpiry: (s: number) => Buffer.concat([u8(0x02), u32(s)]),
  contentType: (s: string | Buffer) => Buffer.concat([u8(0x03), str(s)]),
  responseTopic: (s: string | Buffer) => Buffer.concat([u8(0x08), str(s)]),
  subscriptionIdentifier: (n: number) => Buffer.concat([u8(0x0b), varInt(n)]),
  sessionExpiry: (s: number) => Buffer.concat([u8(0x11), u32(s)]),
  receiveMaximum: (n: number) => Buffer.concat([u8(0x21), u16(n)]),
  topicAlias: (n: number) => Buffer.concat([u8(0x23), u16(n)]),
  userProperty: (k: string | Buffer, v: string | Buffer) => Buffer.concat([u8(0x26), str(k), str(v)]),
  maximumPacketSize: (n: number) => Buffer.concat([u8(0x27), u32(n)]),
};

/** A whole packet from a first byte and a body; `length` overrides the encoded Remaining Length bytes. */
export function raw(firstByte: number, body: Buffer = Buffer.alloc(0), length?: Buffer): Buffer {
  return Buffer.concat([u8(firstByte), length ?? varInt(body.length), body]);
}

/** Encode a valid packet with mqtt-packet. */
export function gen(packet: mqttPacket.Packet, version: Version): Buffer {
  return mqttPacket.generate(packet, { protocolVersion: version });
}

export function connect(version: Version, clientId: string, extra: Partial<mqttPacket.IConnectPacket> = {}): Buffer {
  return gen(
    {
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: version,
      clean: true,
      clientId,
      keepalive: 60,
      ...extra,
    } as mqttPacket.IConnectPacket,
    version,
  );
}

/**
 * A hand-built PUBLISH: `topic` and `payload` are raw bytes so they may be invalid UTF-8; `packetId` is written when
 * qos > 0 (or when forced with `forcePacketId`); for v5 a property block (default empty) follows.
 */
export function publishRaw(
  version: Version,
  o: {
    topic: string | Buffer;
    payload?: string | Buffer;
    qos?: number;
    retain?: boolean;
    dup?: boolean;
    packetId?: number;
    properties?: Buffer; // already a full property block (use props())
    flagsOverride?: number;
  },
): Buffer {
  const qos = o.qos ?? 0;
  const flags = o.flagsOverride ?? ((o.dup ? 8 : 0) | (qos << 1) | (o.retain ? 1 : 0));
  const parts: Buffer[] = [str(o.topic)];
  if (qos > 0 || o.packetId !== undefined) parts.push(u16(o.packetId ?? 1));
  if (version === 5) parts.push(o.properties ?? props());
  parts.push(typeof o.payload === 'string' ? Buffer.from(o.payload) : (o.payload ?? Buffer.alloc(0)));
  return raw(0x30 | flags, Buffer.concat(parts));
}

/** A hand-built SUBSCRIBE: each entry is [filter bytes, options byte]. */
export function subscribeRaw(
  version: Version,
  o: { packetId?: number; entries: Array<[string | Buffer, number]>; firstByte?: number; properties?: Buffer },
): Buffer {
  const parts: Buffer[] = [u16(o.packetId ?? 1)];
  if (version === 5) parts.push(o.properties ?? props());
  for (const [filter, opts] of o.entries) parts.push(str(filter), u8(opts));
  return raw(o.firstByte ?? 0x82, Buffer.concat(parts));
}

/** Bytes of well-known malformed UTF-8 sequences. */
export const BAD_UTF8 = {
  /** 0xC3 starts a two-byte sequence; 0x28 '(' is not a continuation byte. */
  badContinuation: Buffer.from([0x61, 0xc3, 0x28, 0x62]),
  /** U+D800 (a UTF-16 surrogate) encoded as UTF-8: MUST NOT appear [MQTT-1.5.4-1]. */
  surrogate: Buffer.from([0x61, 0xed, 0xa0, 0x80]),
  /** Overlong encoding of '/' (0xC0 0xAF). */
  overlong: Buffer.from([0x61, 0xc0, 0xaf]),
  /** U+0000 MUST NOT be included [MQTT-1.5.4-2]. */
  nul: Buffer.from([0x61, 0x00, 0x62]),
};
