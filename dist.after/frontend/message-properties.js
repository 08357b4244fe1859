import { MqttError } from '../mqtt/errors.js';
import { RC } from '../mqtt/reason-codes.js';
import { validateTopicName } from '../topics/validate.js';
import { hasInvalidMqttString, isValidUtf8Payload } from './payload-format.js';
export function passThrough(p) {
    let out;
    if (p.payloadFormatIndicator !== undefined)
        (out ??= {}).payloadFormatIndicator = p.payloadFormatIndicator;
    if (p.contentType !== undefined)
        (out ??= {}).contentType = p.contentType;
    if (p.responseTopic !== undefined) {
        validateTopicName(p.responseTopic); // a Response Topic must be a valid topic name [MQTT-3.3.2-14]
        (out ??= {}).responseTopic = p.responseTopic;
    }
    if (p.correlationData !== undefined)
        (out ??= {}).correlationData = p.correlationData;
    // An empty User Property set is the same as none (and mqtt-packet cannot encode an empty one).
    if (p.userProperties !== undefined && Object.keys(p.userProperties).length > 0)
        (out ??= {}).userProperties = p.userProperties;
    return out;
}
/** The expiry to enforce (seconds): the publisher's, capped by `maxMessageExpirySeconds`, or the cap alone. */
export function capExpiry(limits, asked) {
    const cap = limits.maxMessageExpirySeconds;
    if (asked === undefined)
        return cap;
    return cap === undefined ? asked : Math.min(asked, cap);
}
/** The will of a CONNECT, validated like a PUBLISH; its expiry starts when it is published. */
export function readWill(w, clientId, limits) {
    validateTopicName(w.topic);
    if (hasInvalidMqttString(w.topic))
        throw new MqttError(RC.TopicNameInvalid, 'will topic is not valid UTF-8');
    const wp = w.properties ?? {};
    const properties = passThrough(wp);
    if (wp.payloadFormatIndicator && !isValidUtf8Payload(w.payload))
        throw new MqttError(RC.PayloadFormatInvalid, 'will payload is not UTF-8');
    const message = { topic: w.topic, payload: w.payload, qos: w.qos, retain: w.retain, origin: clientId };
    if (properties)
        message.properties = properties;
    const will = { message, delaySeconds: wp.willDelayInterval ?? 0 };
    const expiry = capExpiry(limits, wp.messageExpiryInterval);
    if (expiry !== undefined)
        will.expirySeconds = expiry;
    if (wp.messageExpiryInterval === undefined && expiry !== undefined)
        message.expiryHidden = true;
    return will;
}
//# sourceMappingURL=message-properties.js.map