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
 */
import { createRequire } from 'node:module';
import { MqttError } from '../mqtt/errors.js';
import { RC } from '../mqtt/reason-codes.js';
import { varIntSize } from '../mqtt/variable-byte-integer.js';
import { parseStrictProperties } from './strict-properties.js';
const requireFromPacket = createRequire(createRequire(import.meta.url).resolve('mqtt-packet'));
const Parser = requireFromPacket('./parser.js');
const Packet = requireFromPacket('./packet.js');
const BufferList = requireFromPacket('bl').BufferList;
const STATES = ['_parseHeader', '_parseLength', '_parsePayload', '_newPacket'];
const stockParseLength = Parser.prototype._parseLength;
class ConnectionParser extends Parser {
    owner;
    /** The stock constructor installs `constructor.parser` as the instance's initializer; this one shares the state list. */
    static parser(opt) {
        this.settings = opt;
        this._states = STATES;
        this._resetState();
        return this;
    }
    _resetState() {
        this.packet = new Packet();
        this.error = null;
        this._list = new BufferList();
        this._stateCounter = 0;
    }
    _parseLength() {
        const done = stockParseLength.call(this);
        const max = this.owner.maxPacketSize;
        if (done && 1 + varIntSize(this.packet.length) + this.packet.length > max) {
            this._emitError(new MqttError(RC.PacketTooLarge, `packet of ${this.packet.length} bytes exceeds ${max}`));
            return false;
        }
        return done;
    }
    emit(event, arg) {
        if (event === 'packet')
            this.owner.onPacket(arg);
        else if (event === 'error')
            this.owner.onParseError(arg);
        return true;
    }
}
ConnectionParser.prototype._parseProperties = parseStrictProperties;
export function createParser(owner, protocolVersion) {
    const p = new ConnectionParser();
    p.owner = owner;
    return p.parser({ protocolVersion });
}
/**
 * Nothing half-parsed: no buffered bytes and the state machine at a packet boundary. A chunk can
 * end right after a fixed header byte (MQTT.js over WebSocket sends header, length and body as
 * separate messages): the list is empty then, but the parser is mid-packet.
 */
export function isIdle(parser) {
    return parser._list.length === 0 && parser._stateCounter === 0 && parser.packet.length === -1;
}
//# sourceMappingURL=mqtt-parser.js.map