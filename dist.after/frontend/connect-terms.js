/**
 * The terms a CONNECT is accepted on, worked out from the packet and the broker's limits before
 * authentication runs: the client id (assigned when empty), session expiry, keep-alive, flow
 * control, aliases and the will. Pure: throws an MqttError with the CONNACK reason for bad input.
 */
import { randomBytes } from 'node:crypto';
import { MqttError } from '../mqtt/errors.js';
import { RC } from '../mqtt/reason-codes.js';
import { readWill } from './message-properties.js';
import { hasInvalidMqttString } from './payload-format.js';
/** `$edgemq/` names the broker's own in-process clients (the state-store responder). */
export const RESERVED_CLIENT_ID_PREFIX = '$edgemq/';
const NEVER = 0xffffffff;
export function negotiateConnect(p, limits) {
    const version = p.protocolVersion;
    const props = p.properties ?? {};
    const cleanStart = p.clean ?? true;
    let clientId = p.clientId ?? '';
    if (hasInvalidMqttString(clientId))
        throw new MqttError(RC.MalformedPacket, 'client id is not valid UTF-8');
    let assigned = false;
    if (clientId.length === 0) {
        // 3.1.1 allows an empty id only with a clean session [MQTT-3.1.3-7]; 3.1 never.
        if (version === 3 || (version === 4 && !cleanStart))
            throw new MqttError(RC.ClientIdentifierNotValid, 'empty client id needs clean session');
        clientId = `edgemq-${randomBytes(9).toString('base64url')}`;
        assigned = true;
    }
    // No network client may take over the broker's own clients.
    if (clientId.startsWith(RESERVED_CLIENT_ID_PREFIX)) {
        throw new MqttError(RC.ClientIdentifierNotValid, `client ids starting with ${RESERVED_CLIENT_ID_PREFIX} are reserved`);
    }
    // Session expiry: 3.1.1 clean session = 0, persistent = until the broker's cap.
    const sessionExpiryAsked = version === 5 ? (props.sessionExpiryInterval ?? 0) : cleanStart ? 0 : NEVER;
    const sessionExpiry = Math.min(sessionExpiryAsked, limits.maxSessionExpirySeconds);
    let keepAlive = p.keepalive ?? 0;
    let serverKeepAlive;
    if (version === 5 && (keepAlive > limits.maxKeepAliveSeconds || (keepAlive === 0 && limits.maxKeepAliveSeconds < 65535))) {
        keepAlive = limits.maxKeepAliveSeconds;
        serverKeepAlive = keepAlive;
    }
    const terms = {
        clientId,
        assigned,
        cleanStart,
        sessionExpiryAsked,
        sessionExpiry,
        keepAlive,
        serverKeepAlive,
        receiveMaximum: Math.min(version === 5 ? (props.receiveMaximum ?? 65535) : limits.maxReceiveMaximum, limits.maxReceiveMaximum),
        outboundAliasMaximum: version === 5 ? Math.min(props.topicAliasMaximum ?? 0, limits.outboundTopicAliasMaximum) : 0,
    };
    if (version === 5 && props.maximumPacketSize !== undefined)
        terms.clientMaxPacket = props.maximumPacketSize;
    if (p.will)
        terms.will = readWill(p.will, clientId, limits);
    return terms;
}
//# sourceMappingURL=connect-terms.js.map