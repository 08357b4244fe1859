/**
 * Turns a Delivery into PUBLISH bytes for one connection. Topic, payload and pass-through
 * properties are shared by every subscriber; QoS, packet id, retain flag, subscription identifiers,
 * remaining expiry and topic alias are per subscriber.
 *
 * Hot path: a fan-out publish is encoded once per wire shape (protocol, QoS, retain) and the bytes
 * are shared by every subscriber of that shape. QoS 0 subscribers get the very same Buffer; QoS 1/2
 * subscribers get a copy of the small head with their packet id patched in, followed by the shared
 * payload (both go out in one writev thanks to the connection's cork). Deliveries with per-subscriber
 * properties (subscription ids, visible expiry, topic alias) or DUP take the general path.
 */
import mqttPacket from 'mqtt-packet';
import type { Delivery, Message } from '../core/types.js';
import type { OutboundAliases } from './topic-alias.js';

/** Cached encodings of one message, indexed by shape: (v5 ? 6 : 0) + qos * 2 + retain. */
const cache = new WeakMap<Message, Array<Encoded | undefined>>();

interface Encoded {
  whole: Buffer;
  /** Fixed header, topic, packet id and properties; `whole` minus the payload. */
  head: Buffer;
  /** Offset of the packet id in `head` (QoS 1/2). */
  packetIdAt: number;
}

export interface EncodedDelivery {
  /** Bytes to write, in order (one Buffer, or head + shared payload). */
  first: Buffer;
  second?: Buffer;
  length: number;
}

function isSharedShape(d: Delivery, version: number, aliases: OutboundAliases | undefined): boolean {
  if (d.dup) return false;
  if (version !== 5) return true;
  return !d.subscriptionIds && (d.message.expiresAt === undefined || d.message.expiryHidden === true) && !aliases?.enabled;
}

export function encodeDelivery(
  d: Delivery,
  version: number,
  aliases: OutboundAliases | undefined,
  maxPacketSize: number,
  now: number,
): EncodedDelivery | 'expired' | 'too-large' {
  const m = d.message;
  if (m.expiresAt !== undefined && m.expiresAt <= now) return 'expired'; // [MQTT-3.3.2-5]
  if (isSharedShape(d, version, aliases)) {
    const enc = shared(d, version);
    if (enc.whole.length > maxPacketSize) return 'too-large'; // [MQTT-3.1.2-25]
    if (d.qos === 0) return { first: enc.whole, length: enc.whole.length };
    const head = Buffer.allocUnsafe(enc.head.length);
    enc.head.copy(head);
    head.writeUInt16BE(d.packetId, enc.packetIdAt);
    return { first: head, second: m.payload, length: enc.whole.length };
  }
  const bytes = encodeOne(d, version, aliases, maxPacketSize, now);
  return typeof bytes === 'string' ? bytes : { first: bytes, length: bytes.length };
}

function shared(d: Delivery, version: number): Encoded {
  const m = d.message;
  let slots = cache.get(m);
  if (!slots) cache.set(m, (slots = new Array(12)));
  const slot = (version === 5 ? 6 : 0) + d.qos * 2 + (d.retain ? 1 : 0);
  let enc = slots[slot];
  if (!enc) {
    const whole = mqttPacket.generate(
      {
        cmd: 'publish',
        topic: m.topic,
        payload: m.payload,
        qos: d.qos,
        retain: d.retain,
        dup: false,
        messageId: d.qos > 0 ? 1 : undefined,
        properties: version === 5 ? passThroughProperties(m) : undefined,
      } as mqttPacket.IPublishPacket,
      { protocolVersion: version as 3 | 4 | 5 },
    );
    if (whole.length === 0) throw new Error(`mqtt-packet could not encode a PUBLISH to ${m.topic}`); // it signals failure with an empty Buffer
    const head = whole.subarray(0, whole.length - m.payload.length);
    let at = 1;
    while (head[at] & 0x80) at++; // skip the Remaining Length bytes
    at++;
    const packetIdAt = at + 2 + head.readUInt16BE(at);
    enc = { whole, head, packetIdAt };
    slots[slot] = enc;
  }
  return enc;
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
