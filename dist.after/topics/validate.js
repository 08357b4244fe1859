/**
 * Topic name and topic filter rules (MQTT 3.1.1 §4.7, MQTT 5.0 §4.7 and §4.8.2), plus the reference matcher.
 *
 * Why hand-written loops: these run on every PUBLISH and SUBSCRIBE, so each check is a single pass over UTF-16
 * code units with no regex, no split and no allocation. The level count is bounded inside that pass and the
 * pass stops as soon as the bound is crossed, so no structure downstream (trie, retained index) ever sees a
 * client-controlled depth it did not agree to (aedes counts levels for the same reason: qlobber throws past 100).
 *
 * `matches()` is the slow-but-obvious reference: the trie and the retained index are tested against it.
 */
import { MqttError } from '../mqtt/errors.js';
import { RC } from '../mqtt/reason-codes.js';
/** Default bound on `/`-separated levels in a topic name or filter (the `$share/{group}/` prefix is not counted). */
export const DEFAULT_MAX_TOPIC_LEVELS = 128;
/** Spec limit on the UTF-8 encoded length of a topic name or filter [MQTT-4.7.3-3]. */
export const MAX_TOPIC_BYTES = 65535;
export const SHARED_PREFIX = '$share/';
const SLASH = 0x2f;
const PLUS = 0x2b;
const HASH = 0x23;
const DOLLAR = 0x24;
const NUL = 0x00;
/** Each UTF-16 code unit encodes to at most 3 UTF-8 bytes, so shorter strings never need their bytes counted. */
const ALWAYS_SHORT_ENOUGH = Math.floor(MAX_TOPIC_BYTES / 3);
/**
 * Throws MqttError(TopicNameInvalid 0x90) unless `name` is a valid PUBLISH topic name.
 * Checks: level bound, non-empty [MQTT-4.7.3-1], no U+0000 [MQTT-4.7.3-2], ≤ 65535 UTF-8 bytes [MQTT-4.7.3-3],
 * no `+` or `#` [MQTT-4.7.1-1] [MQTT-3.3.2-2].
 */
export function validateTopicName(name, maxLevels = DEFAULT_MAX_TOPIC_LEVELS) {
    const length = name.length;
    if (length === 0)
        throw invalidName('topic name is empty');
    if (length > MAX_TOPIC_BYTES)
        throw invalidName('topic name is longer than 65535 bytes');
    let levels = 1;
    for (let i = 0; i < length; i++) {
        const c = name.charCodeAt(i);
        if (c === SLASH) {
            if (++levels > maxLevels)
                throw invalidName(`topic name has more than ${maxLevels} levels`);
        }
        else if (c === PLUS || c === HASH) {
            throw invalidName('topic name contains a wildcard');
        }
        else if (c === NUL) {
            throw invalidName('topic name contains U+0000');
        }
    }
    if (length > ALWAYS_SHORT_ENOUGH && utf8ByteLength(name) > MAX_TOPIC_BYTES) {
        throw invalidName('topic name is longer than 65535 bytes');
    }
}
/**
 * Throws MqttError(TopicFilterInvalid 0x8F) unless `filter` is a valid SUBSCRIBE/UNSUBSCRIBE topic filter.
 * Checks: level bound, non-empty, no U+0000, ≤ 65535 UTF-8 bytes, `#` alone as the last level [MQTT-4.7.1-2],
 * `+` a whole level [MQTT-4.7.1-3], and for `$share/…` a valid share name and a non-empty filter [MQTT-4.8.2-1/2].
 */
export function validateTopicFilter(filter, maxLevels = DEFAULT_MAX_TOPIC_LEVELS) {
    const length = filter.length;
    if (length === 0)
        throw invalidFilter('topic filter is empty');
    if (length > MAX_TOPIC_BYTES)
        throw invalidFilter('topic filter is longer than 65535 bytes');
    // `$share/{group}/` adds two levels that are not part of the filter being bounded.
    const levelLimit = filter.startsWith(SHARED_PREFIX) ? maxLevels + 2 : maxLevels;
    let levels = 1;
    for (let i = 0; i < length; i++) {
        const c = filter.charCodeAt(i);
        if (c === SLASH) {
            if (++levels > levelLimit)
                throw invalidFilter(`topic filter has more than ${maxLevels} levels`);
        }
        else if (c === PLUS) {
            const wholeLevel = (i === 0 || filter.charCodeAt(i - 1) === SLASH) && (i + 1 === length || filter.charCodeAt(i + 1) === SLASH);
            if (!wholeLevel)
                throw invalidFilter("'+' must occupy a whole level");
        }
        else if (c === HASH) {
            if (i + 1 !== length)
                throw invalidFilter("'#' must be the last character of the filter");
            if (i !== 0 && filter.charCodeAt(i - 1) !== SLASH)
                throw invalidFilter("'#' must occupy a whole level");
        }
        else if (c === NUL) {
            throw invalidFilter('topic filter contains U+0000');
        }
    }
    if (length > ALWAYS_SHORT_ENOUGH && utf8ByteLength(filter) > MAX_TOPIC_BYTES) {
        throw invalidFilter('topic filter is longer than 65535 bytes');
    }
    if (levelLimit !== maxLevels)
        parseSharedFilter(filter);
}
/**
 * Splits `$share/{group}/{filter}`; returns null for a filter that is not shared.
 * Throws MqttError(TopicFilterInvalid 0x8F) for an empty share name, one holding `+` or `#`, or a missing filter
 * [MQTT-4.8.2-1] [MQTT-4.8.2-2]. Does not re-check the inner filter's syntax: `validateTopicFilter` covers it.
 */
export function parseSharedFilter(filter) {
    if (!filter.startsWith(SHARED_PREFIX))
        return null;
    const groupStart = SHARED_PREFIX.length;
    const groupEnd = filter.indexOf('/', groupStart);
    if (groupEnd === -1)
        throw invalidFilter('shared subscription has no topic filter after the share name');
    if (groupEnd === groupStart)
        throw invalidFilter('shared subscription has an empty share name');
    for (let i = groupStart; i < groupEnd; i++) {
        const c = filter.charCodeAt(i);
        if (c === PLUS || c === HASH)
            throw invalidFilter("share name must not contain '+' or '#'");
    }
    if (groupEnd + 1 === filter.length)
        throw invalidFilter('shared subscription has an empty topic filter');
    return { group: filter.slice(groupStart, groupEnd), filter: filter.slice(groupEnd + 1) };
}
/** True for topics starting with `$`: reserved for the server, never matched by a leading wildcard [MQTT-4.7.2-1]. */
export function isReservedTopic(topic) {
    return topic.charCodeAt(0) === DOLLAR;
}
/** True for the broker's own `$SYS` tree (`$SYS` or `$SYS/…`), which clients must not publish into. */
export function isSysTopic(topic) {
    return topic.startsWith('$SYS') && (topic.length === 4 || topic.charCodeAt(4) === SLASH);
}
/**
 * Reference matcher for a valid (non-shared) filter against a valid topic name, walking both strings in place.
 * `sport/#` matches `sport` [MQTT-4.7.1-2]; `+` matches an empty level; a filter starting with `+` or `#` never
 * matches a topic starting with `$` [MQTT-4.7.2-1]. Pass the inner filter of a shared subscription.
 */
export function matches(filter, topic) {
    const filterLength = filter.length;
    const topicLength = topic.length;
    if (topic.charCodeAt(0) === DOLLAR) {
        const first = filter.charCodeAt(0);
        if (first === PLUS || first === HASH)
            return false;
    }
    let f = 0;
    let t = 0;
    for (;;) {
        // Both f and t are at the start of a level.
        const c = filter.charCodeAt(f);
        if (c === HASH)
            return true;
        if (c === PLUS && (f + 1 === filterLength || filter.charCodeAt(f + 1) === SLASH)) {
            const slash = topic.indexOf('/', t);
            t = slash === -1 ? topicLength : slash;
            f++;
        }
        else {
            while (f < filterLength) {
                const fc = filter.charCodeAt(f);
                if (fc === SLASH)
                    break;
                if (t === topicLength || topic.charCodeAt(t) !== fc)
                    return false;
                f++;
                t++;
            }
            if (t < topicLength && topic.charCodeAt(t) !== SLASH)
                return false;
        }
        // Both at a `/` or at their end.
        if (f === filterLength)
            return t === topicLength;
        if (t === topicLength) {
            // The topic ran out: only a trailing `/#` still matches (the parent level of `#`).
            return f + 2 === filterLength && filter.charCodeAt(f + 1) === HASH;
        }
        f++;
        t++;
    }
}
/** UTF-8 length of a JS string; lone surrogates count as U+FFFD (3 bytes), as TextEncoder would write them. */
export function utf8ByteLength(s) {
    let bytes = 0;
    for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c < 0x80)
            bytes += 1;
        else if (c < 0x800)
            bytes += 2;
        else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
            bytes += 4;
            i++;
        }
        else
            bytes += 3;
    }
    return bytes;
}
function invalidName(message) {
    return new MqttError(RC.TopicNameInvalid, message);
}
function invalidFilter(message) {
    return new MqttError(RC.TopicFilterInvalid, message);
}
//# sourceMappingURL=validate.js.map