import { isUtf8 } from 'node:buffer';
/** Payload Format Indicator 1 promises UTF-8 (MQTT 5 3.3.2.3.2); a receiver may check it. */
export function isValidUtf8Payload(payload) {
    return isUtf8(payload);
}
/**
 * mqtt-packet decodes strings with replacement characters, so invalid UTF-8 arrives as U+FFFD.
 * We treat U+FFFD and U+0000 in topics and client ids as malformed ([MQTT-1.5.4-1], [MQTT-1.5.4-2]):
 * a topic that really contains U+FFFD is rejected too, which no real deployment has reported needing.
 */
export function hasInvalidMqttString(s) {
    return s.includes('\uFFFD') || s.includes('\u0000');
}
//# sourceMappingURL=payload-format.js.map