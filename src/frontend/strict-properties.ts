/**
 * A stricter MQTT 5 property decoder installed on each connection's mqtt-packet parser. The stock
 * one accepts repeated single-valued properties, boolean properties with values other than 0/1 and
 * strings that are not valid UTF-8 (decoded with replacement characters). The spec makes the first
 * two a Protocol Error (MQTT 5 2.2.2.2) and the last a Malformed Packet [MQTT-1.5.4-1]. It also takes
 * any property, whatever the packet: a property the packet type may not carry (a Payload Format
 * Indicator on a PUBACK, a Reason String on a PUBLISH) is a Malformed Packet (2.2.2.2), checked here
 * against the table of that section.
 */
import { createRequire } from 'node:module';
import { MqttError } from '../mqtt/errors.js';
import { RC } from '../mqtt/reason-codes.js';
import { hasInvalidMqttString } from './payload-format.js';

const require = createRequire(import.meta.url);
const constants = require('mqtt-packet/constants.js') as {
  propertiesCodes: Record<number, string>;
  propertiesTypes: Record<string, string>;
};

const REPEATABLE = new Set(['userProperties', 'subscriptionIdentifier']);

/** The packets a client may send, and the Will Properties of CONNECT, as bits. */
const CONNECT = 1;
const WILL = 2;
const PUBLISH = 4;
const ACK = 8; // PUBACK, PUBREC, PUBREL, PUBCOMP
const SUBSCRIBE = 16;
const UNSUBSCRIBE = 32;
const DISCONNECT = 64;
const AUTH = 128;
const KIND: Record<string, number> = {
  connect: CONNECT,
  publish: PUBLISH,
  puback: ACK,
  pubrec: ACK,
  pubrel: ACK,
  pubcomp: ACK,
  subscribe: SUBSCRIBE,
  unsubscribe: UNSUBSCRIBE,
  disconnect: DISCONNECT,
  auth: AUTH,
};
/**
 * Where each property may appear (MQTT 5 2.2.2.2, client-to-server packets only); CONNACK, SUBACK and
 * UNSUBACK properties never come from a client, so they are not listed for them. Indexed by property id.
 */
const ALLOWED: number[] = [];
ALLOWED[0x01] = WILL | PUBLISH; // Payload Format Indicator
ALLOWED[0x02] = WILL | PUBLISH; // Message Expiry Interval
ALLOWED[0x03] = WILL | PUBLISH; // Content Type
ALLOWED[0x08] = WILL | PUBLISH; // Response Topic
ALLOWED[0x09] = WILL | PUBLISH; // Correlation Data
ALLOWED[0x0b] = PUBLISH | SUBSCRIBE; // Subscription Identifier (a client PUBLISH with one is refused later, 0x82)
ALLOWED[0x11] = CONNECT | DISCONNECT; // Session Expiry Interval
ALLOWED[0x15] = CONNECT | AUTH; // Authentication Method
ALLOWED[0x16] = CONNECT | AUTH; // Authentication Data
ALLOWED[0x17] = CONNECT; // Request Problem Information
ALLOWED[0x18] = WILL; // Will Delay Interval
ALLOWED[0x19] = CONNECT; // Request Response Information
ALLOWED[0x1c] = DISCONNECT; // Server Reference
ALLOWED[0x1f] = ACK | DISCONNECT | AUTH; // Reason String
ALLOWED[0x21] = CONNECT; // Receive Maximum
ALLOWED[0x22] = CONNECT; // Topic Alias Maximum
ALLOWED[0x23] = PUBLISH; // Topic Alias
ALLOWED[0x26] = CONNECT | WILL | PUBLISH | ACK | SUBSCRIBE | UNSUBSCRIBE | DISCONNECT | AUTH; // User Property
ALLOWED[0x27] = CONNECT; // Maximum Packet Size

interface ParserInternals {
  _pos: number;
  packet: { length: number; cmd?: string | null; clientId?: string };
  _list: { readUInt8(i: number): number };
  _parseVarByteNum(): number | false;
  _parseByte(): number;
  _parseByType(type: string): unknown;
  _emitError(err: Error): void;
}

export function parseStrictProperties(this: ParserInternals): Record<string, unknown> | false {
  {
    const length = this._parseVarByteNum();
    if (length === false) return fail(this, RC.MalformedPacket, 'cannot parse property length');
    const end = this._pos + (length as number);
    // _pos counts from the start of the packet body: properties may not run past it (into the next packet's bytes).
    if (end > this.packet.length) return fail(this, RC.MalformedPacket, 'property length exceeds the packet');
    const result: Record<string, unknown> = {};
    const packet = this.packet;
    // CONNECT holds two property blocks: its own before the client id, the Will Properties after it.
    const kind = packet.cmd === 'connect' && packet.clientId !== undefined ? WILL : (KIND[packet.cmd ?? ''] ?? 0);
    while (this._pos < end) {
      const id = this._parseByte();
      const name = constants.propertiesCodes[id];
      if (!name) return fail(this, RC.MalformedPacket, `unknown property id ${id}`);
      if (((ALLOWED[id] ?? 0) & kind) === 0) {
        return fail(this, RC.MalformedPacket, `property ${name} is not allowed in ${kind === WILL ? 'the Will Properties' : packet.cmd?.toUpperCase()}`);
      }
      const type = constants.propertiesTypes[name];
      if (name in result && !REPEATABLE.has(name)) return fail(this, RC.ProtocolError, `property ${name} appears more than once`);
      if (type === 'byte') {
        if (this._pos >= end) return fail(this, RC.MalformedPacket, `property ${name} is truncated`);
        if (this._list.readUInt8(this._pos) > 1) return fail(this, RC.ProtocolError, `property ${name} must be 0 or 1`);
      }
      const value = this._parseByType(type);
      if (value === null || value === undefined || this._pos > end) return fail(this, RC.MalformedPacket, `property ${name} is truncated`);
      if (type === 'string' && hasInvalidMqttString(value as string)) return fail(this, RC.MalformedPacket, `property ${name} is not valid UTF-8`);
      if (name === 'userProperties') {
        const pair = value as { name: string | null; value: string | null };
        if (pair.name === null || pair.value === null) return fail(this, RC.MalformedPacket, 'user property is truncated');
        if (hasInvalidMqttString(pair.name) || hasInvalidMqttString(pair.value)) return fail(this, RC.MalformedPacket, 'user property is not valid UTF-8');
        const bag = (result.userProperties ??= Object.create(null)) as Record<string, string | string[]>;
        const prev = bag[pair.name];
        bag[pair.name] = prev === undefined ? pair.value : Array.isArray(prev) ? [...prev, pair.value] : [prev, pair.value];
        continue;
      }
      if (name in result) {
        const prev = result[name];
        result[name] = Array.isArray(prev) ? [...prev, value] : [prev, value];
      } else {
        result[name] = value;
      }
    }
    if (this._pos !== end) return fail(this, RC.MalformedPacket, 'property length does not match its contents');
    return result;
  }
}

function fail(p: ParserInternals, rc: number, message: string): false {
  p._emitError(new MqttError(rc, message));
  return false;
}
