/**
 * Turns a Delivery into PUBLISH bytes for one connection. Topic, payload and pass-through
 * properties are shared by every subscriber; QoS, packet id, retain flag, subscription identifiers,
 * remaining expiry and topic alias are per subscriber.
 *
 * Hot path: a fan-out publish is encoded once per wire shape (protocol, QoS, retain) and the bytes
 * are shared by every subscriber of that shape: the head (everything before the payload) followed
 * by the message's own payload Buffer, never copied (both go out in one writev thanks to the
 * connection's cork). QoS 0 subscribers get the very same head; QoS 1/2 subscribers a copy of it
 * with their packet id patched in. Deliveries with per-subscriber properties (subscription ids,
 * visible expiry, topic alias) or DUP take the general path.
 */
import mqttPacket from 'mqtt-packet';
import { writeUtf8 } from '../util/write-utf8.js';
import { VARIABLE_BYTE_INTEGER_MAX, varIntSize, writeVarInt } from '../mqtt/variable-byte-integer.js';
/**
 * Encodings of the message delivered last, indexed by shape: (v5 ? 6 : 0) + qos * 2 + retain.
 * A fan-out delivers one message to all its subscribers in one go, so one remembered message gives
 * the hit rate a map of all messages would, without a map entry (and its GC cost) per message.
 */
let cachedMessage;
const cachedShapes = new Array(12);
const LARGE_PAYLOAD = 64 * 1024;
function forgetCachedMessage() {
    cachedMessage = undefined;
    cachedShapes.fill(undefined);
}
function isSharedShape(d, version, aliases) {
    if (d.dup)
        return false;
    if (version !== 5)
        return true;
    return !d.subscriptionIds && (d.message.expiresAt === undefined || d.message.expiryHidden === true) && !aliases?.enabled;
}
export function encodeDelivery(d, version, aliases, maxPacketSize, now) {
    const m = d.message;
    if (m.expiresAt !== undefined && m.expiresAt <= now)
        return 'expired'; // [MQTT-3.3.2-5]
    if (isSharedShape(d, version, aliases)) {
        const enc = shared(d, version);
        if (enc.length > maxPacketSize)
            return 'too-large'; // [MQTT-3.1.2-25]
        let head = enc.head;
        if (d.qos > 0) {
            // Every QoS 1/2 subscriber needs its own packet id: copy the small head, share the payload.
            head = Buffer.allocUnsafe(enc.head.length);
            enc.head.copy(head);
            head[enc.packetIdAt] = d.packetId >> 8;
            head[enc.packetIdAt + 1] = d.packetId & 0xff;
        }
        return m.payload.length > 0 ? { first: head, second: m.payload, length: enc.length } : { first: head, length: enc.length };
    }
    const bytes = encodeOne(d, version, aliases, maxPacketSize, now);
    return typeof bytes === 'string' ? bytes : { first: bytes, length: bytes.length };
}
function shared(d, version) {
    const m = d.message;
    if (cachedMessage !== m) {
        cachedMessage = m;
        cachedShapes.fill(undefined);
        // A fan-out finishes within the current task: a large payload is not kept past it.
        if (m.payload.length > LARGE_PAYLOAD)
            queueMicrotask(forgetCachedMessage);
    }
    const slot = (version === 5 ? 6 : 0) + d.qos * 2 + (d.retain ? 1 : 0);
    return (cachedShapes[slot] ??= encodeShared(m, d.qos, d.retain, version));
}
function encodeShared(m, qos, retain, version) {
    const properties = version === 5 ? passThroughProperties(m) : undefined;
    if (properties === undefined)
        return encodePlainHead(m, qos, retain, version);
    const whole = mqttPacket.generate({ cmd: 'publish', topic: m.topic, payload: m.payload, qos, retain, dup: false, messageId: qos > 0 ? 1 : undefined, properties }, { protocolVersion: version });
    if (whole.length === 0)
        throw new Error(`mqtt-packet could not encode a PUBLISH to ${m.topic}`); // it signals failure with an empty Buffer
    const head = whole.subarray(0, whole.length - m.payload.length);
    let at = 1;
    while (head[at] & 0x80)
        at++; // skip the Remaining Length bytes
    at++;
    return { head, packetIdAt: at + 2 + head.readUInt16BE(at), length: whole.length };
}
/**
 * The head of a PUBLISH without properties, written directly: the layout is fixed (3.3.1-3.3.2)
 * and this is the encode every fan-in message pays, where mqtt-packet's generic writer allocated a
 * stream emitter and several buffers per packet. Equivalence with mqtt-packet is property-tested.
 */
function encodePlainHead(m, qos, retain, version) {
    const topicLength = Buffer.byteLength(m.topic);
    if (topicLength > 0xffff)
        throw new Error(`topic of ${topicLength} bytes cannot be encoded`);
    const variable = 2 + topicLength + (qos > 0 ? 2 : 0) + (version === 5 ? 1 : 0);
    const remaining = variable + m.payload.length;
    if (remaining > VARIABLE_BYTE_INTEGER_MAX)
        throw new Error(`PUBLISH of ${remaining} bytes exceeds the MQTT maximum`);
    const head = Buffer.allocUnsafe(1 + varIntSize(remaining) + variable);
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
    if (version === 5)
        head[at] = 0; // property length 0
    return { head, packetIdAt, length: head.length + m.payload.length };
}
function passThroughProperties(m) {
    const p = m.properties;
    if (!p)
        return undefined;
    const out = {};
    if (p.payloadFormatIndicator !== undefined)
        out.payloadFormatIndicator = p.payloadFormatIndicator;
    if (p.contentType !== undefined)
        out.contentType = p.contentType;
    if (p.responseTopic !== undefined)
        out.responseTopic = p.responseTopic;
    if (p.correlationData !== undefined)
        out.correlationData = p.correlationData;
    if (p.userProperties !== undefined && Object.keys(p.userProperties).length > 0)
        out.userProperties = p.userProperties;
    return out;
}
/** The general path: one full encode for this subscriber. */
function encodeOne(d, version, aliases, maxPacketSize, now) {
    const m = d.message;
    let topic = m.topic;
    let properties;
    let newAlias = 0;
    if (version === 5) {
        properties = passThroughProperties(m) ?? {};
        if (m.expiresAt !== undefined && !m.expiryHidden) {
            // decremented by the time the message spent in the broker [MQTT-3.3.2-6]
            properties.messageExpiryInterval = Math.max(1, Math.ceil((m.expiresAt - now) / 1000));
        }
        if (d.subscriptionIds)
            properties.subscriptionIdentifier = d.subscriptionIds.length === 1 ? d.subscriptionIds[0] : d.subscriptionIds;
        if (aliases?.enabled) {
            const a = aliases.lookup(topic);
            if (a) {
                properties.topicAlias = a.alias;
                if (a.known)
                    topic = '';
                else
                    newAlias = a.alias;
            }
        }
    }
    const bytes = mqttPacket.generate({
        cmd: 'publish',
        topic,
        payload: m.payload,
        qos: d.qos,
        retain: d.retain,
        dup: d.dup,
        messageId: d.qos > 0 ? d.packetId : undefined,
        properties,
    }, { protocolVersion: version });
    if (bytes.length === 0)
        throw new Error(`mqtt-packet could not encode a PUBLISH to ${m.topic}`);
    if (bytes.length > maxPacketSize) {
        // [MQTT-3.1.2-25]: a packet larger than the client's Maximum Packet Size is discarded, not sent.
        if (newAlias)
            aliases.forget(m.topic, newAlias);
        return 'too-large';
    }
    return bytes;
}
//# sourceMappingURL=outbound.js.map