/**
 * Schema of the `BrokerListener` kind, covering both Azure shapes:
 * - 2023 (`mq.iotoperations.azure.com/v1beta1`): one port per resource (`spec.port`), listener-wide
 *   `tls`, `authenticationEnabled`/`authorizationEnabled`; edgemq adds `spec.protocol`.
 * - 2024+ (`mqttbroker.iotoperations.azure.com`): a `spec.ports` list, each port with its own protocol,
 *   TLS and authentication/authorization references.
 * Exactly one of `port` / `ports` must be present (the only `oneOf` in the schemas).
 */
import { bool, caseInsensitiveEnum, int, obj, opaqueObject, resourceSchema, str, } from './common.js';
export const SERVICE_TYPES = ['ClusterIp', 'LoadBalancer', 'NodePort'];
export const LISTENER_PROTOCOLS = ['mqtt', 'websockets'];
/** `ClusterIP` is how Kubernetes' own Service type is spelled; users copy it. */
const SERVICE_TYPE_EXTRA_SPELLINGS = ['ClusterIP', 'clusterIP'];
/** `WebSocket` (singular) is how the 2023 bridge connector spelled the protocol. */
const PROTOCOL_EXTRA_SPELLINGS = ['WebSockets', 'webSockets', 'WebSocket', 'webSocket', 'websocket'];
const issuerRefSchema = obj('cert-manager issuer of the server certificate.', {
    name: str('Issuer name.'),
    kind: str('Issuer or ClusterIssuer.'),
    group: str('Usually cert-manager.io.'),
}, ['name']);
/** 2023 listener-wide TLS: exactly one of automatic | manual | keyVault (checked by the loader). */
const tls2023Schema = obj('2023 TLS settings: one of automatic, manual, keyVault. Omit for plain TCP.', {
    automatic: obj('Server certificate issued by cert-manager.', {
        issuerRef: issuerRefSchema,
        duration: str('Certificate lifetime (Go duration).'),
        renewBefore: str('Renewal margin (Go duration).'),
        privateKey: opaqueObject('Key algorithm and rotation policy.'),
        san: opaqueObject('Subject alternative names {dns: [], ip: []}.'),
        secretName: str('Secret the certificate is written to.'),
    }),
    manual: obj('Server certificate from a Kubernetes TLS secret.', { secretName: str('TLS secret name.') }, ['secretName']),
    keyVault: opaqueObject('Server certificate from Azure Key Vault (not supported off Azure; kept for the security room).'),
});
/** 2024+ per-port TLS. */
const tlsPortSchema = obj('Per-port TLS settings. Omit for plain TCP.', {
    mode: caseInsensitiveEnum('Automatic (cert-manager) or Manual (existing secret).', ['Automatic', 'Manual']),
    certManagerCertificateSpec: obj('cert-manager Certificate settings for Automatic mode.', {
        issuerRef: issuerRefSchema,
        duration: str('Certificate lifetime (Go duration).'),
        renewBefore: str('Renewal margin (Go duration).'),
        secretName: str('Secret the certificate is written to.'),
        privateKey: opaqueObject('Key algorithm and rotation policy.'),
        san: opaqueObject('Subject alternative names {dns: [], ip: []}.'),
    }),
    manual: obj('Existing TLS secret for Manual mode.', {
        secretRef: str('TLS secret name (Kubernetes CRD spelling).'),
        secretName: str('TLS secret name (ARM spelling).'),
        secretNamespace: str('Namespace of the secret (ARM).'),
    }),
}, ['mode']);
const protocolSchema = caseInsensitiveEnum('Wire protocol: MQTT over TCP/TLS or MQTT over WebSockets.', [...LISTENER_PROTOCOLS], PROTOCOL_EXTRA_SPELLINGS);
const portEntrySchema = obj('One listening port.', {
    port: int('TCP port; unique across all listeners. 0 = any free port (tests).', 0, 65_535),
    nodePort: int('Node port (serviceType NodePort only).', 1, 65_535),
    protocol: protocolSchema,
    authenticationRef: str('BrokerAuthentication for this port; omit = no authentication.'),
    authorizationRef: str('BrokerAuthorization for this port; omit = no authorization. Needs authenticationRef.'),
    tls: tlsPortSchema,
}, ['port']);
export const brokerListenerSpecSchema = {
    ...obj('Where and how the broker accepts connections.', {
        brokerRef: str('Name of the Broker this listener belongs to.', { minLength: 1 }),
        serviceName: str('Kubernetes Service exposing the port(s).'),
        serviceType: caseInsensitiveEnum('Kubernetes Service type.', [...SERVICE_TYPES], SERVICE_TYPE_EXTRA_SPELLINGS),
        // 2023 single-port shape
        port: int('2023 shape: TCP port; unique across all listeners. 0 = any free port (tests).', 0, 65_535),
        nodePort: int('2023 shape (edgemq): node port for serviceType NodePort.', 1, 65_535),
        protocol: protocolSchema,
        authenticationEnabled: bool('2023 shape: require authentication (BrokerAuthentication points here via listenerRef).'),
        authorizationEnabled: bool('2023 shape: apply BrokerAuthorization rules.'),
        tls: tls2023Schema,
        // 2024+ multi-port shape
        ports: { type: 'array', description: 'Later shape: the ports of this listener.', minItems: 1, items: portEntrySchema },
        edgemq: obj('edgemq extensions (not part of the Azure API).', {
            allowAnonymous: bool('Serve ports without authentication on a non-loopback address (logged as a warning); off by default.'),
        }),
    }, ['brokerRef']),
    oneOf: [{ required: ['port'] }, { required: ['ports'] }],
};
export const brokerListenerSchema = resourceSchema('BrokerListener', 'A set of listening ports of a Broker.', brokerListenerSpecSchema);
//# sourceMappingURL=broker-listener.js.map