/**
 * The checks of SUBSCRIBE and UNSUBSCRIBE before anything reaches the back end. Packet-level
 * violations throw (the connection ends with DISCONNECT); a bad or refused filter only gets its
 * own reason code in SUBACK/UNSUBACK while the others proceed. Pure: no I/O, no session.
 */
import type mqttPacket from 'mqtt-packet';
import type { QoS, SubscriptionRequest } from '../core/types.js';
import { MqttError } from '../mqtt/errors.js';
import { RC } from '../mqtt/reason-codes.js';
import { parseSharedFilter, SHARED_PREFIX, validateTopicFilter } from '../topics/validate.js';
import { hasInvalidMqttString } from './payload-format.js';

/** One reason code per requested filter; `accepted[k]` is the request behind `codes[slots[k]]`. */
export interface SortedRequests<T> {
  codes: number[];
  accepted: T[];
  slots: number[];
}

export function sortSubscriptions(
  p: mqttPacket.ISubscribePacket,
  allowed: (filter: string) => boolean,
  deniedReasonCode: number,
): SortedRequests<SubscriptionRequest> {
  if (!p.messageId) throw new MqttError(RC.ProtocolError, 'SUBSCRIBE with packet identifier 0'); // [MQTT-2.2.1-3]
  if (p.subscriptions.length === 0) throw new MqttError(RC.ProtocolError, 'SUBSCRIBE without topic filters'); // [MQTT-3.8.3-2]
  const subId = p.properties?.subscriptionIdentifier;
  if (subId !== undefined && (Array.isArray(subId) || subId === 0)) throw new MqttError(RC.ProtocolError, 'invalid subscription identifier');
  const out: SortedRequests<SubscriptionRequest> = { codes: new Array(p.subscriptions.length), accepted: [], slots: [] };
  p.subscriptions.forEach((s, i) => {
    const code = filterCode(s.topic, s.nl === true);
    if (code !== RC.Success || !allowed(s.topic)) {
      out.codes[i] = code !== RC.Success ? code : deniedReasonCode;
      return;
    }
    out.accepted.push({
      filter: s.topic,
      qos: s.qos as QoS,
      noLocal: s.nl === true,
      retainAsPublished: s.rap === true,
      retainHandling: (s.rh ?? 0) as 0 | 1 | 2,
      subscriptionId: subId ?? 0,
    });
    out.slots.push(i);
  });
  return out;
}

export function sortUnsubscriptions(p: mqttPacket.IUnsubscribePacket): SortedRequests<string> {
  const filters = p.unsubscriptions;
  if (!p.messageId) throw new MqttError(RC.ProtocolError, 'UNSUBSCRIBE with packet identifier 0'); // [MQTT-2.2.1-3]
  if (filters.length === 0) throw new MqttError(RC.ProtocolError, 'UNSUBSCRIBE without topic filters'); // [MQTT-3.10.3-2]
  const out: SortedRequests<string> = { codes: new Array(filters.length).fill(RC.Success), accepted: [], slots: [] };
  filters.forEach((f, i) => {
    if (hasInvalidMqttString(f)) throw new MqttError(RC.MalformedPacket, 'topic filter is not valid UTF-8');
    requireFilter(f);
    try {
      validateTopicFilter(f);
    } catch (err) {
      if (!(err instanceof MqttError)) throw err;
      out.codes[i] = RC.TopicFilterInvalid;
      return;
    }
    out.accepted.push(f);
    out.slots.push(i);
  });
  return out;
}

/** 0x00, or the SUBACK code for this filter; throws for what ends the connection. */
function filterCode(filter: string, noLocal: boolean): number {
  if (hasInvalidMqttString(filter)) throw new MqttError(RC.MalformedPacket, 'topic filter is not valid UTF-8');
  requireFilter(filter);
  try {
    validateTopicFilter(filter);
    // No Local on a shared subscription is a Protocol Error [MQTT-3.8.3-4].
    if (parseSharedFilter(filter) && noLocal) throw new MqttError(RC.ProtocolError, 'No Local on a shared subscription');
  } catch (err) {
    if (!(err instanceof MqttError) || err.reasonCode === RC.ProtocolError) throw err;
    return err.reasonCode;
  }
  return RC.Success;
}

/**
 * A filter must have at least one character [MQTT-4.7.3-1], also the one after `$share/{group}/`
 * [MQTT-4.8.2-2]. The packet decodes, so by the spec's definitions (1.2) an empty one is a Protocol
 * Error that ends the connection, not a SUBACK 0x8F, which refuses a filter that is there but not
 * allowed (`a/#/b`, `$share//x`, `$share/g`).
 */
function requireFilter(filter: string): void {
  if (filter.length === 0) throw new MqttError(RC.ProtocolError, 'empty topic filter');
  if (filter.endsWith('/') && filter.startsWith(SHARED_PREFIX) && filter.indexOf('/', SHARED_PREFIX.length) === filter.length - 1) {
    throw new MqttError(RC.ProtocolError, 'shared subscription with an empty topic filter');
  }
}
