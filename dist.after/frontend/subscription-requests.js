import { MqttError } from '../mqtt/errors.js';
import { RC } from '../mqtt/reason-codes.js';
import { parseSharedFilter, validateTopicFilter } from '../topics/validate.js';
import { hasInvalidMqttString } from './payload-format.js';
export function sortSubscriptions(p, allowed, deniedReasonCode) {
    if (p.subscriptions.length === 0)
        throw new MqttError(RC.ProtocolError, 'SUBSCRIBE without topic filters'); // [MQTT-3.8.3-2]
    const subId = p.properties?.subscriptionIdentifier;
    if (subId !== undefined && (Array.isArray(subId) || subId === 0))
        throw new MqttError(RC.ProtocolError, 'invalid subscription identifier');
    const out = { codes: new Array(p.subscriptions.length), accepted: [], slots: [] };
    p.subscriptions.forEach((s, i) => {
        const code = filterCode(s.topic, s.nl === true);
        if (code !== RC.Success || !allowed(s.topic)) {
            out.codes[i] = code !== RC.Success ? code : deniedReasonCode;
            return;
        }
        out.accepted.push({
            filter: s.topic,
            qos: s.qos,
            noLocal: s.nl === true,
            retainAsPublished: s.rap === true,
            retainHandling: (s.rh ?? 0),
            subscriptionId: subId ?? 0,
        });
        out.slots.push(i);
    });
    return out;
}
export function sortUnsubscriptions(filters) {
    if (filters.length === 0)
        throw new MqttError(RC.ProtocolError, 'UNSUBSCRIBE without topic filters'); // [MQTT-3.10.3-2]
    const out = { codes: new Array(filters.length).fill(RC.Success), accepted: [], slots: [] };
    filters.forEach((f, i) => {
        if (hasInvalidMqttString(f))
            throw new MqttError(RC.MalformedPacket, 'topic filter is not valid UTF-8');
        try {
            validateTopicFilter(f);
        }
        catch (err) {
            if (!(err instanceof MqttError))
                throw err;
            out.codes[i] = RC.TopicFilterInvalid;
            return;
        }
        out.accepted.push(f);
        out.slots.push(i);
    });
    return out;
}
/** 0x00, or the SUBACK code for this filter; throws for what ends the connection. */
function filterCode(filter, noLocal) {
    if (hasInvalidMqttString(filter))
        throw new MqttError(RC.MalformedPacket, 'topic filter is not valid UTF-8');
    try {
        validateTopicFilter(filter);
        // No Local on a shared subscription is a Protocol Error [MQTT-3.8.3-4].
        if (parseSharedFilter(filter) && noLocal)
            throw new MqttError(RC.ProtocolError, 'No Local on a shared subscription');
    }
    catch (err) {
        if (!(err instanceof MqttError) || err.reasonCode === RC.ProtocolError)
            throw err;
        return err.reasonCode;
    }
    return RC.Success;
}
//# sourceMappingURL=subscription-requests.js.map