/**
 * Turns a Delivery into PUBLISH bytes for one connection: QoS, packet id, retain flag, subscription
 * identifiers, remaining message expiry and topic alias are per subscriber; topic, payload and
 * pass-through properties are shared.
 */
import mqttPacket from 'mqtt-packet';
import type { Delivery } from '../core/types.js';
import type { OutboundAliases } from './topic-alias.js';

export type EncodeOutcome = Buffer | 'expired' | 'too-large';

export function encodeDelivery(
  d: Delivery,
  version: number,
  aliases: OutboundAliases | undefined,
  maxPacketSize: number,
  now: number,
): EncodeOutcome {
  const m = d.message;
  let topic = m.topic;
  let properties: Record<string, unknown> | undefined;
  let newAlias = 0;
  if (version === 5) {
    properties = {};
    const p = m.properties;
    if (p) {
      if (p.payloadFormatIndicator !== undefined) properties.payloadFormatIndicator = p.payloadFormatIndicator;
      if (p.contentType !== undefined) properties.contentType = p.contentType;
      if (p.responseTopic !== undefined) properties.responseTopic = p.responseTopic;
      if (p.correlationData !== undefined) properties.correlationData = p.correlationData;
      if (p.userProperties !== undefined) properties.userProperties = p.userProperties;
    }
    if (m.expiresAt !== undefined) {
      const remaining = Math.ceil((m.expiresAt - now) / 1000);
      if (remaining <= 0) return 'expired'; // [MQTT-3.3.2-5]
      if (!m.expiryHidden) properties.messageExpiryInterval = remaining; // decremented by the time spent in the broker [MQTT-3.3.2-6]
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
  const packet = {
    cmd: 'publish' as const,
    topic,
    payload: m.payload,
    qos: d.qos,
    retain: d.retain,
    dup: d.dup,
    messageId: d.qos > 0 ? d.packetId : undefined,
    properties,
  };
  const bytes = mqttPacket.generate(packet as mqttPacket.IPublishPacket, { protocolVersion: version as 3 | 4 | 5 });
  if (bytes.length > maxPacketSize) {
    // [MQTT-3.1.2-25]: a packet larger than the client's Maximum Packet Size is discarded, not sent.
    if (newAlias) aliases!.forget(m.topic, newAlias);
    return 'too-large';
  }
  return bytes;
}
