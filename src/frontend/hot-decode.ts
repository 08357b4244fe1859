/**
 * A decoder for the packets that make up nearly all traffic once a session runs: PUBLISH without
 * MQTT 5 properties and the 4-byte PUBACK/PUBREC/PUBREL/PUBCOMP. mqtt-packet stays the decoder of
 * record; this one only takes packets that lie whole in one socket chunk and whose form it can
 * decode exactly as mqtt-packet would, and stops at the first byte it is not sure about, leaving
 * the rest (including every malformed packet, so errors keep one source) to mqtt-packet.
 *
 * Why it exists: profiled under a QoS 1 stream, mqtt-packet's parser allocated ~40 % of all bytes
 * the broker allocated (a `debug` call with rest arguments per state, a Buffer slice per integer
 * read through `bl`), and young-generation GC pauses set the broker's p99 latency. Decoding these
 * forms straight from the chunk allocates the packet object, the topic string and the payload view.
 */

/** Same fields, in the same order, as mqtt-packet's Packet plus what a PUBLISH or ack carries, so the channel sees one shape. */
export class HotPacket {
  cmd: 'publish' | 'puback' | 'pubrec' | 'pubrel' | 'pubcomp';
  retain: boolean;
  qos: number;
  dup: boolean;
  length: number;
  topic: string | null;
  payload: Buffer | null;
  messageId: number | undefined;
  reasonCode: number | undefined;

  constructor(cmd: HotPacket['cmd'], length: number) {
    this.cmd = cmd;
    this.retain = false;
    this.qos = 0;
    this.dup = false;
    this.length = length;
    this.topic = null;
    this.payload = null;
    this.messageId = undefined;
    this.reasonCode = undefined;
  }
}

export interface HotPacketSink {
  /** Handles one packet; returns false once the connection stopped accepting input. */
  acceptHotPacket(p: HotPacket): boolean;
}

/** First bytes of the short acks; any other flags are malformed and left to mqtt-packet. */
const ACK_BY_FIRST_BYTE: Array<HotPacket['cmd'] | undefined> = [];
ACK_BY_FIRST_BYTE[0x40] = 'puback';
ACK_BY_FIRST_BYTE[0x50] = 'pubrec';
ACK_BY_FIRST_BYTE[0x62] = 'pubrel';
ACK_BY_FIRST_BYTE[0x70] = 'pubcomp';

/**
 * Decodes hot packets from the start of `buf` and hands each to `sink`. Returns the offset of the
 * first byte not consumed: `buf.length` when everything was decoded, otherwise where mqtt-packet
 * must take over (an incomplete packet, another packet type, properties, anything unusual).
 */
export function decodeHotPackets(buf: Buffer, version: number, maxPacketSize: number, sink: HotPacketSink): number {
  const end = buf.length;
  let pos = 0;
  while (pos < end) {
    const first = buf[pos];
    const isPublish = first >> 4 === 3;
    const ack = isPublish ? undefined : ACK_BY_FIRST_BYTE[first];
    if (!isPublish && ack === undefined) return pos;
    // Remaining Length: at most 4 bytes; a fourth continuation bit is malformed (mqtt-packet says so).
    let remaining = 0;
    let shift = 0;
    let at = pos + 1;
    for (;;) {
      if (at >= end || shift > 21) return pos;
      const byte = buf[at++];
      remaining |= (byte & 0x7f) << shift; // shift <= 21: stays a small integer (`2 ** shift` called pow())
      if ((byte & 0x80) === 0) break;
      shift += 7;
    }
    const packetEnd = at + remaining;
    if (packetEnd > end || packetEnd - pos > maxPacketSize) return pos;

    let p: HotPacket;
    if (ack !== undefined) {
      if (remaining !== 2) return pos; // reason code / properties: the general decoder
      p = new HotPacket(ack, 2);
      p.qos = (first >> 1) & 3; // mqtt-packet reads the flags of every type alike: PUBREL's 0b0010 is "QoS 1"
      p.messageId = (buf[at] << 8) | buf[at + 1];
      if (version === 5) p.reasonCode = 0;
    } else {
      const qos = (first >> 1) & 3;
      if (qos === 3 || (first & 0x0e) === 0x08) return pos; // QoS 3, or DUP on QoS 0 [MQTT-3.3.1-2]: malformed, mqtt-parser.ts says so
      if (at + 2 > packetEnd) return pos;
      const topicLength = (buf[at] << 8) | buf[at + 1];
      const topicEnd = at + 2 + topicLength;
      let cursor = topicEnd;
      if (qos > 0) cursor += 2;
      if (version === 5) {
        if (cursor >= packetEnd || buf[cursor] !== 0) return pos; // properties present (or missing length): the general decoder
        cursor += 1;
      }
      if (cursor > packetEnd) return pos;
      p = new HotPacket('publish', remaining);
      p.retain = (first & 1) !== 0;
      p.qos = qos;
      p.dup = (first & 8) !== 0;
      p.topic = buf.toString('utf8', at + 2, topicEnd);
      if (qos > 0) p.messageId = (buf[topicEnd] << 8) | buf[topicEnd + 1];
      p.payload = buf.subarray(cursor, packetEnd);
    }
    pos = packetEnd;
    if (!sink.acceptHotPacket(p)) return pos;
  }
  return pos;
}

/**
 * Longest packet a connection carries over from one chunk to the next for this decoder. A socket
 * chunk (64 KiB) nearly always ends inside a packet: without the carry, that packet and then every
 * following chunk of a busy stream went through mqtt-packet (a profile of a QoS 0 fan-in flood:
 * ~20 % of the broker's CPU in mqtt-packet, `bl` and `debug`). Larger packets are rare and
 * amortize the general parser; carrying them would copy them once per chunk.
 */
export const CARRY_MAX = 64 * 1024;

/**
 * True when `buf[pos..]` starts a PUBLISH or short ack that the end of `buf` cut short and that is
 * at most CARRY_MAX and `maxPacketSize` long: the caller keeps these bytes and decodes them in
 * front of the next chunk. Anything else (other types, a packet too large) is the general
 * parser's; what turns out malformed once whole goes there too, from decodeHotPackets.
 */
export function cutHotPacket(buf: Buffer, pos: number, maxPacketSize: number): boolean {
  const end = buf.length;
  if (pos >= end) return false;
  const first = buf[pos];
  if (first >> 4 !== 3 && ACK_BY_FIRST_BYTE[first] === undefined) return false;
  let remaining = 0;
  let shift = 0;
  let at = pos + 1;
  for (;;) {
    if (at >= end) return shift <= 21; // cut inside the Remaining Length
    if (shift > 21) return false;
    const byte = buf[at++];
    remaining |= (byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) break;
    shift += 7;
  }
  const total = at - pos + remaining;
  return at + remaining > end && total <= CARRY_MAX && total <= maxPacketSize;
}
