/**
 * What a message looks like on the other side of the bridge: its topic after the route's target,
 * the MQTT 5 properties that travel with it, and the loop marker.
 *
 * Loop prevention: every message the connector publishes carries the user property
 * `edgemq-bridge: <connector>`, and a route drops what arrives with its own connector's marker (it
 * was put there by the opposite route). No Local alone cannot do this, since the opposite route
 * publishes with another client id. An MQTT 3.1.1 remote has no properties, so there the marker is
 * lost on the remote hop and a message can come back once; the local side then recognises it.
 */
import type { IClientPublishOptions, IPublishPacket } from 'mqtt';

export const LOOP_MARKER_PROPERTY = 'edgemq-bridge';

type UserProperties = Record<string, string | string[]>;

/** The target topic of a route (`{topic}` = the topic received; no target = the topic received). */
export function mapTopic(target: string | undefined, topic: string): string {
  if (target === undefined) return topic;
  return target.includes('{topic}') ? target.replaceAll('{topic}', topic) : target;
}

export function hasMarker(packet: IPublishPacket, marker: string): boolean {
  const value = packet.properties?.userProperties?.[LOOP_MARKER_PROPERTY];
  if (value === undefined) return false;
  return Array.isArray(value) ? value.includes(marker) : value === marker;
}

/**
 * PUBLISH options for the destination. Properties the receiver sets per connection (topic alias,
 * subscription identifiers) stay behind; the rest is kept. The expiry interval is what the source
 * broker left of it; the lane subtracts the time the message then waits in the bridge.
 */
export function publishOptions(packet: IPublishPacket, qos: 0 | 1, marker: string | undefined, v5Target: boolean): IClientPublishOptions {
  const options: IClientPublishOptions = { qos, retain: packet.retain };
  if (!v5Target) return options;
  const p = packet.properties;
  const properties: NonNullable<IClientPublishOptions['properties']> = {};
  if (p !== undefined) {
    if (p.payloadFormatIndicator !== undefined) properties.payloadFormatIndicator = p.payloadFormatIndicator;
    if (p.messageExpiryInterval !== undefined) properties.messageExpiryInterval = p.messageExpiryInterval;
    if (p.contentType !== undefined) properties.contentType = p.contentType;
    if (p.responseTopic !== undefined) properties.responseTopic = p.responseTopic;
    if (p.correlationData !== undefined) properties.correlationData = p.correlationData;
  }
  const user: UserProperties = { ...(p?.userProperties as UserProperties | undefined) };
  if (marker !== undefined) {
    const existing = user[LOOP_MARKER_PROPERTY];
    user[LOOP_MARKER_PROPERTY] = existing === undefined ? marker : [...(Array.isArray(existing) ? existing : [existing]), marker];
  }
  if (Object.keys(user).length > 0) properties.userProperties = user;
  options.properties = properties;
  return options;
}
