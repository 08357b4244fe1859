/**
 * mqtt-packet's parser as a connection uses it: a subclass that keeps the decoding and changes
 * what is around it.
 *  - Buffers input in a plain `bl` BufferList, not the BufferListStream (a full Duplex stream) the
 *    stock parser builds per instance and per reset: a parser is created for every connection.
 *  - Shares one state-name list and reports packets and errors straight to its owner instead of
 *    through per-instance event listeners.
 *  - Checks the Remaining Length against the connection's maximum packet size as soon as it is
 *    decoded, before the body is buffered [MQTT-3.2.2-15].
 *  - Decodes MQTT 5 properties strictly (strict-properties.ts).
 *  - Reads DISCONNECT and AUTH within their own Remaining Length, including the short forms that
 *    leave out the reason code and the property length (3.14.2.1, 3.15.2.1): the stock parser reads
 *    them from whatever is buffered, i.e. fails on `e0 00` or takes the next packet's bytes.
 *  - Refuses bytes left over after the last field of a packet whose layout is fixed (CONNECT, the
 *    acks, PINGREQ, DISCONNECT, AUTH), a field read past the end of any packet, and a QoS 0 PUBLISH
 *    with DUP set [MQTT-3.3.1-2]: all Malformed Packets that the stock parser lets through.
 */
import { createRequire } from 'node:module';
import type mqttPacket from 'mqtt-packet';
import { MqttError } from '../mqtt/errors.js';
import { RC } from '../mqtt/reason-codes.js';
import { varIntSize } from '../mqtt/variable-byte-integer.js';
import { parseStrictProperties } from './strict-properties.js';

export interface ParserOwner {
  readonly maxPacketSize: number;
  onPacket(p: mqttPacket.Packet): void;
  onParseError(err: Error): void;
}

interface StockParser {
  settings: { protocolVersion?: number };
  packet: { length: number; cmd?: string | null; qos?: number; dup?: boolean; reasonCode?: number; properties?: Record<string, unknown> };
  error: Error | null;
  _pos: number;
  _parseByte(): number | undefined;
  _parseProperties(): Record<string, unknown> | false;
  _list: { length: number };
  _stateCounter: number;
  _states: string[];
  _parseLength(): boolean;
  _emitError(err: Error): void;
  parse(buf: Buffer): number;
}

const requireFromPacket = createRequire(createRequire(import.meta.url).resolve('mqtt-packet'));
const Parser = requireFromPacket('./parser.js') as new () => StockParser;
const Packet = requireFromPacket('./packet.js') as new () => StockParser['packet'];
const BufferList = requireFromPacket('bl').BufferList as new () => { length: number };
const STATES = ['_parseHeader', '_parseLength', '_parsePayload', '_newPacket'];
const stockParseLength = Parser.prototype._parseLength;
const stockParsePayload = (Parser.prototype as unknown as { _parsePayload(): boolean })._parsePayload;
const stockParsePublish = (Parser.prototype as unknown as { _parsePublish(): void })._parsePublish;
const { MQTT5_DISCONNECT_CODES, MQTT5_AUTH_CODES } = requireFromPacket('./constants.js') as Record<string, Record<number, string>>;

/** Packets whose body is exactly their fields: a byte after the last one is a Malformed Packet. */
const FIXED_LAYOUT = new Set(['connect', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'pingreq', 'disconnect', 'auth']);

class ConnectionParser extends Parser {
  owner!: ParserOwner;

  /** The stock constructor installs `constructor.parser` as the instance's initializer; this one shares the state list. */
  static parser(this: ConnectionParser, opt: { protocolVersion: number }): ConnectionParser {
    this.settings = opt;
    this._states = STATES;
    this._resetState();
    return this;
  }

  _resetState(): void {
    this.packet = new Packet();
    this.error = null;
    this._list = new BufferList();
    this._stateCounter = 0;
  }

  override _parseLength(): boolean {
    const done = stockParseLength.call(this);
    const max = this.owner.maxPacketSize;
    if (done && 1 + varIntSize(this.packet.length) + this.packet.length > max) {
      this._emitError(new MqttError(RC.PacketTooLarge, `packet of ${this.packet.length} bytes exceeds ${max}`));
      return false;
    }
    return done;
  }

  _parsePayload(): boolean {
    const done = stockParsePayload.call(this);
    if (done && this.error === null) {
      const { cmd, length } = this.packet;
      // The stock field readers check the buffered bytes, not the packet's end: a 2-byte packet id
      // can be read out of the next packet. Past the end is malformed for every type.
      if (this._pos > length || (this._pos !== length && FIXED_LAYOUT.has(cmd ?? ''))) {
        this._emitError(new MqttError(RC.MalformedPacket, `${cmd?.toUpperCase()} of ${length} bytes does not match its fields`));
      }
    }
    return done;
  }

  _parsePublish(): void {
    if (this.packet.qos === 0 && this.packet.dup) return this._emitError(new MqttError(RC.MalformedPacket, 'DUP set on a QoS 0 PUBLISH')); // [MQTT-3.3.1-2]
    stockParsePublish.call(this);
  }

  /** v5: no body = reason 0x00 and no properties; one byte = the reason code alone (3.14.2.1). 3.1.1: no body at all. */
  _parseDisconnect(): void {
    this.readReasonAndProperties(MQTT5_DISCONNECT_CODES, 'DISCONNECT');
  }

  /** As DISCONNECT: an AUTH with Remaining Length 0 means reason 0x00 and no properties (3.15.2.1). */
  _parseAuth(): void {
    if (this.settings.protocolVersion !== 5) return this._emitError(new MqttError(RC.MalformedPacket, 'AUTH needs MQTT 5 (packet type 15 is reserved in 3.1.1)'));
    this.readReasonAndProperties(MQTT5_AUTH_CODES, 'AUTH');
  }

  private readReasonAndProperties(codes: Record<number, string>, name: string): void {
    const packet = this.packet;
    if (this.settings.protocolVersion !== 5) return; // a 3.1.1 DISCONNECT has no body; any byte is left over
    packet.reasonCode = 0;
    if (packet.length === 0) return;
    const rc = this._parseByte()!;
    if (codes[rc] === undefined) return this._emitError(new MqttError(RC.MalformedPacket, `invalid ${name} reason code 0x${rc.toString(16)}`));
    packet.reasonCode = rc;
    if (packet.length === 1) return;
    const properties = this._parseProperties();
    if (properties && Object.keys(properties).length > 0) packet.properties = properties;
  }

  emit(event: string, arg: unknown): boolean {
    if (event === 'packet') this.owner.onPacket(arg as mqttPacket.Packet);
    else if (event === 'error') this.owner.onParseError(arg as Error);
    return true;
  }
}
(ConnectionParser.prototype as unknown as { _parseProperties: unknown })._parseProperties = parseStrictProperties;

export type ConnectionPacketParser = StockParser & { owner: ParserOwner };

export function createParser(owner: ParserOwner, protocolVersion: number): ConnectionPacketParser {
  const p = new ConnectionParser() as ConnectionParser & { parser(opt: { protocolVersion: number }): ConnectionParser };
  p.owner = owner;
  return p.parser({ protocolVersion });
}

/**
 * Nothing half-parsed: no buffered bytes and the state machine at a packet boundary. A chunk can
 * end right after a fixed header byte (MQTT.js over WebSocket sends header, length and body as
 * separate messages): the list is empty then, but the parser is mid-packet.
 */
export function isIdle(parser: ConnectionPacketParser): boolean {
  return parser._list.length === 0 && parser._stateCounter === 0 && parser.packet.length === -1;
}
