/**
 * A stricter MQTT 5 property decoder installed on each connection's mqtt-packet parser. The stock
 * one accepts repeated single-valued properties, boolean properties with values other than 0/1 and
 * strings that are not valid UTF-8 (decoded with replacement characters). The spec makes the first
 * two a Protocol Error (MQTT 5 2.2.2.2) and the last a Malformed Packet [MQTT-1.5.4-1].
 */
import { createRequire } from 'node:module';
import { MqttError } from '../mqtt/errors.js';
import { RC } from '../mqtt/reason-codes.js';
import { hasInvalidMqttString } from './payload-format.js';
const require = createRequire(import.meta.url);
const constants = require('mqtt-packet/constants.js');
const REPEATABLE = new Set(['userProperties', 'subscriptionIdentifier']);
export function parseStrictProperties() {
    {
        const length = this._parseVarByteNum();
        if (length === false)
            return fail(this, RC.MalformedPacket, 'cannot parse property length');
        const end = this._pos + length;
        // _pos counts from the start of the packet body: properties may not run past it (into the next packet's bytes).
        if (end > this.packet.length)
            return fail(this, RC.MalformedPacket, 'property length exceeds the packet');
        const result = {};
        while (this._pos < end) {
            const id = this._parseByte();
            const name = constants.propertiesCodes[id];
            if (!name)
                return fail(this, RC.MalformedPacket, `unknown property id ${id}`);
            const type = constants.propertiesTypes[name];
            if (name in result && !REPEATABLE.has(name))
                return fail(this, RC.ProtocolError, `property ${name} appears more than once`);
            if (type === 'byte') {
                if (this._pos >= end)
                    return fail(this, RC.MalformedPacket, `property ${name} is truncated`);
                if (this._list.readUInt8(this._pos) > 1)
                    return fail(this, RC.ProtocolError, `property ${name} must be 0 or 1`);
            }
            const value = this._parseByType(type);
            if (value === null || value === undefined || this._pos > end)
                return fail(this, RC.MalformedPacket, `property ${name} is truncated`);
            if (type === 'string' && hasInvalidMqttString(value))
                return fail(this, RC.MalformedPacket, `property ${name} is not valid UTF-8`);
            if (name === 'userProperties') {
                const pair = value;
                if (pair.name === null || pair.value === null)
                    return fail(this, RC.MalformedPacket, 'user property is truncated');
                if (hasInvalidMqttString(pair.name) || hasInvalidMqttString(pair.value))
                    return fail(this, RC.MalformedPacket, 'user property is not valid UTF-8');
                const bag = (result.userProperties ??= Object.create(null));
                const prev = bag[pair.name];
                bag[pair.name] = prev === undefined ? pair.value : Array.isArray(prev) ? [...prev, pair.value] : [prev, pair.value];
                continue;
            }
            if (name in result) {
                const prev = result[name];
                result[name] = Array.isArray(prev) ? [...prev, value] : [prev, value];
            }
            else {
                result[name] = value;
            }
        }
        if (this._pos !== end)
            return fail(this, RC.MalformedPacket, 'property length does not match its contents');
        return result;
    }
}
function fail(p, rc, message) {
    p._emitError(new MqttError(rc, message));
    return false;
}
//# sourceMappingURL=strict-properties.js.map