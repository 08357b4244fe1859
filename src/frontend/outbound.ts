/**
 * Turns a Delivery into PUBLISH bytes for one connection. Topic, payload and pass-through
 * properties are shared by every subscriber; QoS, packet id, retain flag, subscription identifiers,
 * remaining expiry and topic alias are per subscriber.
 *
 * Hot path: a fan-out publish is encoded once per wire shape (protocol, QoS, retain) and the bytes
 * are shared by every subscriber of that shape: the head (everything before the payload) followed
 * by the message's own payload Buffer, never copied (both go out in one writev thanks to the
 * connection's cork), or for a small payload the whole packet in one buffer. QoS 0 subscribers get
 * the very same bytes; QoS 1/2 subscribers a copy of the head with their packet id stamped in, made
 * by the connection straight into its write batch (Transport.writeStamped).
 * Deliveries with per-subscriber properties (subscription ids, visible expiry, topic alias) or DUP
 * take the general path.
 */
import mqttPacket from 'mqtt-packet';
import type { Delivery, Message } from '../core/types.js';
import type { OutboundAliases } from './topic-alias.js';
import { writeUtf8 } from '../util/write-utf8.js';
import { VARIABLE_BYTE_INTEGER_MAX, varIntSize, writeVarInt } from '../mqtt/variable-byte-integer.js';

/**
 * Encodings of the messages delivered last, indexed by shape: (v5 ? 6 : 0) + qos * 2 + retain,
 * each valid for the message in `cachedFor` at the same index. A fan-out delivers one message to all
 * its subscribers in one go, so remembering the last message per shape gives the hit rate a map of
 * all messages would, without a map entry (and its GC cost) per message, nor a reset per message.
 */
const cachedFor: Array<Message | undefined> = new Array(12).fill(undefined);
const cachedShapes: Array<Encoded | undefined> = new Array(12).fill(undefined);
const LARGE_PAYLOAD = 64 * 1024;
/**
 * Payloads up to this size are copied behind the head, so a delivery is one buffer and one write:
 * for small messages (the fan-in case) the copy costs less than the stream's second buffered
 * write and writev entry. Larger payloads are never copied, whatever the fan-out.
 */
export const INLINE_PAYLOAD = 256;

function forgetCachedMessages(): void {
  cachedFor.fill(undefined);
  cachedShapes.fill(undefined);
}

interface Encoded {
  /** Fixed header, topic, packet id placeholder and properties; followed by the payload when `inline`. */
  head: Buffer;
  inline: boolean;
  /** Offset of the packet id in `head` (QoS 1/2). */
  packetIdAt: number;
  /** Length of the whole packet. */
  length: number;
}

/**
 * Bytes to write, in order: `first`, then (when set) `second`, the message's shared payload. One
 * object reused by every call: valid until the next call, which is the way the channel uses it.
 */
export interface EncodedDelivery {
  first: Buffer;
  /** Where the subscriber's packet id goes in (a copy of) `first`, which is shared and not stamped; -1: `first` is complete. */
  packetIdAt: number;
  second: Buffer | undefined;
  length: number;
}

const result: EncodedDelivery = { first: Buffer.alloc(0), packetIdAt: -1, second: undefined, length: 0 };

function isSharedShape(d: Delivery, version: number, aliases: OutboundAliases | undefined): boolean {
  if (d.dup) return false;
  if (version !== 5) return true;
  return !d.subscriptionIds && (d.message.expiresAt === undefined || d.message.expiryHidden === true) && !aliases?.enabled;
}

/** `now` is read only for a message that has an expiry (pass `Date.now` itself, not its value). */
export function encodeDelivery(
  d: Delivery,
  version: number,
  aliases: OutboundAliases | undefined,
  maxPacketSize: number,
  clock: () => number,
): EncodedDelivery | 'expired' | 'too-large' {
  const m = d.message;
  const now = m.expiresAt !== undefined ? clock() : 0;
  if (m.expiresAt !== undefined && m.expiresAt <= now) return 'expired'; // [MQTT-3.3.2-5]
  if (isSharedShape(d, version, aliases)) {
    const enc = shared(d, version);
    if (enc.length > maxPacketSize) return 'too-large'; // [MQTT-3.1.2-25]
    result.first = enc.head;
    // Every QoS 1/2 subscriber needs its own packet id: the writer stamps it into its copy of the head.
    result.packetIdAt = d.qos > 0 ? enc.packetIdAt : -1;
    result.second = enc.inline || m.payload.length === 0 ? undefined : m.payload;
    result.length = enc.length;
    return result;
  }
  const bytes = encodeOne(d, version, aliases, maxPacketSize, now);
  if (typeof bytes === 'string') return bytes;
  result.first = bytes;
  result.packetIdAt = -1;
  result.second = undefined;
  result.length = bytes.length;
  return result;
}

function shared(d: Delivery, version: number): Encoded {
  const m = d.message;
  const slot = (version === 5 ? 6 : 0) + d.qos * 2 + (d.retain ? 1 : 0);
  if (cachedFor[slot] === m) return cachedShapes[slot]!;
  // A fan-out finishes within the current task: a large payload is not kept past it.
  if (m.payload.length > LARGE_PAYLOAD) queueMicrotask(forgetCachedMessages);
  const enc = encodeShared(m, d.qos, d.retain, version);
  cachedFor[slot] = m;
  cachedShapes[slot] = enc;
  return enc;
}

function encodeShared(m: Message, qos: number, retain: boolean, version: number): Encoded {
  const properties = version === 5 ? passThroughProperties(m) : undefined;
  if (properties === undefined) return encodePlainHead(m, qos, retain, version);
  const whole = mqttPacket.generate(
    { cmd: 'publish', topic: m.topic, payload: m.payload, qos, retain, dup: false, messageId: qos > 0 ? 1 : undefined, properties } as mqttPacket.IPublishPacket,
    { protocolVersion: version as 3 | 4 | 5 },
  );
  if (whole.length === 0) throw new Error(`mqtt-packet could not encode a PUBLISH to ${m.topic}`); // it signals failure with an empty Buffer
  const inline = m.payload.length <= INLINE_PAYLOAD;
  const head = inline ? whole : whole.subarray(0, whole.length - m.payload.length);
  let at = 1;
  while (head[at] & 0x80) at++; // skip the Remaining Length bytes
  at++;
  return { head, inline, packetIdAt: at + 2 + head.readUInt16BE(at), length: whole.length };
}

/**
 * The head of a PUBLISH without properties, written directly: the layout is fixed (3.3.1-3.3.2)
 * and this is the encode every fan-in message pays, where mqtt-packet's generic writer allocated a
 * stream emitter and several buffers per packet. Equivalence with mqtt-packet is property-tested.
 */
function encodePlainHead(m: Message, qos: number, retain: boolean, version: number): Encoded {
  const topicLength = Buffer.byteLength(m.topic);
  if (topicLength > 0xffff) throw new Error(`topic of ${topicLength} bytes cannot be encoded`);
  const variable = 2 + topicLength + (qos > 0 ? 2 : 0) + (version === 5 ? 1 : 0);
  const remaining = variable + m.payload.length;
  if (remaining > VARIABLE_BYTE_INTEGER_MAX) throw new Error(`PUBLISH of ${remaining} bytes exceeds the MQTT maximum`);
  const inline = m.payload.length <= INLINE_PAYLOAD;
  const headLength = 1 + varIntSize(remaining) + variable;
  const head = Buffer.allocUnsafe(inline ? headLength + m.payload.length : headLength);
  head[0] = 0x30 | (qos << 1) | (retain ? 1 : 0);
  let at = writeVarInt(head, 1, remaining);
  head[at] = topicLength >> 8;
  head[at + 1] = topicLength & 0xff;
  writeUtf8(head, at + 2, m.topic);
  at += 2 + topicLength;
  const packetIdAt = at;
  if (qos > 0) {
    head[at++] = 0;
    head[at++] = 1;
  }
  if (version === 5) head[at] = 0; // property length 0
  if (inline) head.set(m.payload, headLength);
  return { head, inline, packetIdAt, length: headLength + m.payload.length };
}

function passThroughProperties(m: Message): Record<string, unknown> | undefined {
  const p = m.properties;
  if (!p) return undefined;
  const out: Record<string, unknown> = {};
  if (p.payloadFormatIndicator !== undefined) out.payloadFormatIndicator = p.payloadFormatIndicator;
  if (p.contentType !== undefined) out.contentType = p.contentType;
  if (p.responseTopic !== undefined) out.responseTopic = p.responseTopic;
  if (p.correlationData !== undefined) out.correlationData = p.correlationData;
  if (p.userProperties !== undefined && Object.keys(p.userProperties).length > 0) out.userProperties = p.userProperties;
  return out;
}

/** The general path: one full encode for this subscriber. */
function encodeOne(d: Delivery, version: number, aliases: OutboundAliases | undefined, maxPacketSize: number, now: number): Buffer | 'too-large' {
  const m = d.message;
  let topic = m.topic;
  let properties: Record<string, unknown> | undefined;
  let newAlias = 0;
  if (version === 5) {
    properties = passThroughProperties(m) ?? {};
    if (m.expiresAt !== undefined && !m.expiryHidden) {
      // decremented by the time the message spent in the broker [MQTT-3.3.2-6]
      properties.messageExpiryInterval = Math.max(1, Math.ceil((m.expiresAt - now) / 1000));
    }
    if (d.subscriptionIds) properties.subscriptionIdentifier = d.subscriptionIds.length === 1 ? d.subscriptionIds[0] : d.subscriptionIds;
    if (aliases?.enabled) {
      const a = aliases.lookup(topic);
      if (a) {
        properties.topicAlias = a.alias;
        if (a.known) topic = '';
        else newAlias = a.alias;
      }
    }
  }
  const bytes = mqttPacket.generate(
    {
      cmd: 'publish',
      topic,
      payload: m.payload,
      qos: d.qos,
      retain: d.retain,
      dup: d.dup,
      messageId: d.qos > 0 ? d.packetId : undefined,
      properties,
    } as mqttPacket.IPublishPacket,
    { protocolVersion: version as 3 | 4 | 5 },
  );
  if (bytes.length === 0) throw new Error(`mqtt-packet could not encode a PUBLISH to ${m.topic}`);
  if (bytes.length > maxPacketSize) {
    // [MQTT-3.1.2-25]: a packet larger than the client's Maximum Packet Size is discarded, not sent.
    if (newAlias) aliases!.forget(m.topic, newAlias);
    return 'too-large';
  }
  return bytes;
}
