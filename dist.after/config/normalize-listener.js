/**
 * Turns a validated BrokerListener into `ListenerSettings`. Both Azure shapes end up as a `ports`
 * list: the 2023 one-port shape becomes a single entry carrying the listener-wide `protocol`/`tls`.
 * Authentication/authorization references of 2023 listeners are filled in later by `resolve.ts`,
 * because in that generation the BrokerAuthentication points at the listener, not the other way.
 */
import { ConfigError } from '../mqtt/errors.js';
import * as D from './defaults.js';
import { describeAt, formatPath, nameOf, namespaceOf, resourceId } from './resource-document.js';
import { canonicalEnum } from './schemas/common.js';
import { LISTENER_PROTOCOLS, SERVICE_TYPES } from './schemas/broker-listener.js';
const objAt = (value) => (typeof value === 'object' && value !== null ? value : {});
/** Fields that only mean something in the 2023 one-port shape. */
const ONE_PORT_ONLY_FIELDS = ['protocol', 'tls', 'nodePort', 'authenticationEnabled', 'authorizationEnabled'];
const TLS_2023_SOURCES = ['automatic', 'manual', 'keyVault'];
export function normalizeListener(doc, group, warnings) {
    const spec = objAt(doc.body.spec);
    const name = nameOf(doc) ?? '';
    const serviceType = typeof spec.serviceType === 'string' ? canonicalEnum(spec.serviceType, SERVICE_TYPES) : D.DEFAULT_SERVICE_TYPE;
    const common = {
        name,
        ...(namespaceOf(doc) === undefined ? {} : { namespace: namespaceOf(doc) }),
        apiVersion: String(doc.body.apiVersion),
        brokerRef: String(spec.brokerRef),
        serviceName: typeof spec.serviceName === 'string' ? spec.serviceName : (D.DEFAULT_SERVICE_NAME_BY_GROUP[group] ?? name),
        serviceType,
        ...(objAt(spec.edgemq).allowAnonymous === true ? { allowAnonymous: true } : {}),
    };
    if (Array.isArray(spec.ports)) {
        for (const field of ONE_PORT_ONLY_FIELDS.filter((f) => f in spec)) {
            warnings.push(`${describeAt(doc, ['spec', field])}: spec.${field}: ignored with spec.ports; set it per port`);
        }
        const ports = spec.ports.map((entry, i) => portFromEntry(doc, objAt(entry), i, serviceType, warnings));
        return {
            ...common,
            authenticationEnabled: ports.some((p) => p.authenticationRef !== undefined),
            authorizationEnabled: ports.some((p) => p.authorizationRef !== undefined),
            ports,
        };
    }
    const tls = spec.tls === undefined ? undefined : objAt(spec.tls);
    if (tls !== undefined) {
        const sources = TLS_2023_SOURCES.filter((s) => s in tls);
        if (sources.length !== 1) {
            throw new ConfigError(`${describeAt(doc, ['spec', 'tls'])}: spec.tls: must set exactly one of ${TLS_2023_SOURCES.join(', ')}` +
                (sources.length > 1 ? ` (got ${sources.join(' and ')})` : ''), resourceId(doc), 'spec.tls');
        }
    }
    const authenticationEnabled = spec.authenticationEnabled === true;
    const authorizationEnabled = spec.authorizationEnabled === true;
    if (authorizationEnabled && !authenticationEnabled) {
        warnings.push(`${describeAt(doc, ['spec', 'authorizationEnabled'])}: spec.authorizationEnabled: has no effect without authenticationEnabled (as in Azure IoT MQ)`);
    }
    const port = {
        port: Number(spec.port),
        protocol: typeof spec.protocol === 'string' ? protocolOf(spec.protocol) : D.DEFAULT_PROTOCOL,
        ...(typeof spec.nodePort === 'number' ? { nodePort: spec.nodePort } : {}),
        ...(tls === undefined ? {} : { tls }),
    };
    warnIfNodePortUnused(doc, ['spec', 'nodePort'], port, serviceType, warnings);
    return { ...common, authenticationEnabled, authorizationEnabled, ports: [port] };
}
function portFromEntry(doc, entry, index, serviceType, warnings) {
    const port = {
        port: Number(entry.port),
        protocol: typeof entry.protocol === 'string' ? protocolOf(entry.protocol) : D.DEFAULT_PROTOCOL,
        ...(typeof entry.nodePort === 'number' ? { nodePort: entry.nodePort } : {}),
        ...(entry.tls === undefined ? {} : { tls: objAt(entry.tls) }),
        ...(typeof entry.authenticationRef === 'string' ? { authenticationRef: entry.authenticationRef } : {}),
        ...(typeof entry.authorizationRef === 'string' ? { authorizationRef: entry.authorizationRef } : {}),
    };
    if (port.authorizationRef !== undefined && port.authenticationRef === undefined) {
        warnings.push(`${describeAt(doc, ['spec', 'ports', index, 'authorizationRef'])}: spec.ports[${index}].authorizationRef: ` +
            `has no effect without authenticationRef (as in Azure IoT Operations)`);
    }
    warnIfNodePortUnused(doc, ['spec', 'ports', index, 'nodePort'], port, serviceType, warnings);
    return port;
}
function protocolOf(text) {
    // `WebSocket` (singular) is accepted by the schema as a spelling of websockets.
    return text.toLowerCase().startsWith('websocket') ? 'websockets' : canonicalEnum(text, LISTENER_PROTOCOLS);
}
function warnIfNodePortUnused(doc, path, port, serviceType, warnings) {
    if (port.nodePort !== undefined && serviceType !== 'NodePort') {
        warnings.push(`${describeAt(doc, path)}: ${formatPath(path)}: ignored because serviceType is ${serviceType}, not NodePort`);
    }
}
//# sourceMappingURL=normalize-listener.js.map