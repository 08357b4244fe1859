/**
 * Schemas of the connector kinds `MqttBridgeConnector` and `MqttBridgeTopicMap` (Azure IoT MQ 2023
 * v1beta1 field names). edgemq extensions sit where Azure has nothing to say: username/password
 * authentication, keep-alive, clean start and session expiry of the remote session, and the
 * connector's buffer bound (`spec.edgemq`). `edgemq connector` runs them (src/connectors/).
 */
import { bool, caseInsensitiveEnum, imageSchema, int, obj, resourceSchema, str, type JsonSchema } from './common.js';

/** Route directions, as Azure writes them. */
export const BRIDGE_DIRECTIONS = ['local-to-remote', 'remote-to-local'] as const;
/** `v5` = MQTT 5.0, `v3` = MQTT 3.1.1 (Azure's names). */
export const BRIDGE_PROTOCOLS = ['v5', 'v3'] as const;
export const BRIDGE_TRANSPORTS = ['mqtt', 'webSocket'] as const;

/** A quantity such as `64M` or `1G` (Azure's `maxSize` pattern). */
export const SIZE_PATTERN = '^[0-9]+[KMGTPE]?$';

const tlsSchema = obj('TLS to this broker.', {
  tlsEnabled: bool('Connect over TLS (default: true for the remote broker, false for the local one).'),
  trustedCaCertificateConfigMap: str('ConfigMap whose keys are PEM CA certificates to trust (<secrets dir>/<name>/*); default: the system roots.', { minLength: 1 }),
  serverName: str('edgemq: TLS server name (SNI and certificate check) when it differs from the endpoint host.'),
});

const secretRef = (description: string) => obj(description, { secretName: str('Secret name (<secrets dir>/<name>/<key>).', { minLength: 1 }) }, ['secretName']);

const remoteAuthenticationSchema = obj('How the bridge authenticates to the remote broker; one method.', {
  x509: secretRef('Client certificate: keys tls.crt and tls.key (and optionally ca.crt) of the secret.'),
  usernamePassword: obj('edgemq: username and password from a secret (keys username and password).', {
    secretName: str('Secret name.', { minLength: 1 }),
  }, ['secretName']),
  systemAssignedManagedIdentity: obj('Azure managed identity; needs Azure Arc, not supported by edgemq (refused with a message).', {
    audience: str('Token audience.'),
  }),
});

const localAuthenticationSchema = obj('How the bridge authenticates to the local broker; one method (none = anonymous).', {
  kubernetes: obj('Kubernetes service account token (MQTT 5 method K8S-SAT).', {
    tokenPath: str('edgemq: file of the token (default /var/run/secrets/tokens/mq-sat).', { minLength: 1 }),
  }),
  x509: secretRef('Client certificate: keys tls.crt and tls.key of the secret.'),
  usernamePassword: obj('edgemq: username and password from a secret (keys username and password).', {
    secretName: str('Secret name.', { minLength: 1 }),
  }, ['secretName']),
});

const endpoint = (description: string) => str(description, { minLength: 1, pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^:/\\s\\[\\]]+):[0-9]{1,5}$' });

export const mqttBridgeConnectorSpecSchema: JsonSchema = obj('An MQTT bridge between the local broker and a remote one.', {
  image: imageSchema('Azure: bridge image; accepted and ignored (edgemq runs `edgemq connector`).'),
  protocol: caseInsensitiveEnum('MQTT version towards the remote broker: v5 (5.0, default) or v3 (3.1.1).', [...BRIDGE_PROTOCOLS]),
  bridgeInstances: int('Bridge instances (Azure); edgemq runs one per `edgemq connector` process.', 1),
  clientIdPrefix: str('Prefix of every bridge client id: {clientIdPrefix}{routeName}.'),
  logLevel: str('Log level of the connector process (trace|debug|info|warn|error).'),
  remoteBrokerConnection: obj('The remote (cloud) broker.', {
    endpoint: endpoint('host:port of the remote broker.'),
    protocol: caseInsensitiveEnum('Transport: mqtt (default) or webSocket.', [...BRIDGE_TRANSPORTS], ['WebSockets', 'websockets']),
    tls: tlsSchema,
    authentication: remoteAuthenticationSchema,
    keepAliveSeconds: int('edgemq: keep-alive towards the remote broker (default 60).', 0, 65535),
    cleanStart: bool('edgemq: start a new remote session on every connect (default false: the remote keeps the session of remote-to-local routes).'),
    sessionExpirySeconds: int('edgemq: Session Expiry Interval asked of the remote broker (MQTT 5; default 86400).', 0, 4294967295),
    webSocketPath: str('edgemq: path of the WebSocket endpoint (default /mqtt).'),
  }, ['endpoint']),
  localBrokerConnection: obj('The local edgemq broker.', {
    endpoint: endpoint('host:port of the local broker (default 127.0.0.1:1883).'),
    tls: tlsSchema,
    authentication: localAuthenticationSchema,
  }),
  edgemq: obj('edgemq extensions.', {
    maxBufferedMessages: int('Messages held for the destination per route, not yet acknowledged by it (default 10000, at most 65535, the MQTT receive window). At the bound the oldest is dropped and counted.', 1, 65535),
    maxBufferedSize: str('Bytes of payload held per route (e.g. 64M; default 64M). At the bound the oldest is dropped and counted.', { pattern: SIZE_PATTERN }),
    reconnectMinDelayMs: int('First delay before reconnecting (default 500); doubled per failed attempt, with jitter.', 10),
    reconnectMaxDelayMs: int('Largest delay between reconnect attempts (default 30000).', 10),
    loopMarker: bool('Mark forwarded messages with the user property edgemq-bridge and drop those this connector forwarded before (default true).'),
  }),
}, ['remoteBrokerConnection']);

const routeSchema = obj('One route of a topic map.', {
  name: str('Route name; the bridge client ids are {clientIdPrefix}{name}.', { minLength: 1, pattern: '^[A-Za-z0-9_.-]+$' }),
  direction: caseInsensitiveEnum('local-to-remote or remote-to-local.', [...BRIDGE_DIRECTIONS]),
  qos: int('QoS of the subscription and of the forwarded messages: 0 or 1 (default 1).', 0, 1),
  source: str('Topic filter read on the source broker (+ and # allowed).', { minLength: 1 }),
  target: str('Topic written on the destination (no wildcards; omitted = the topic received; edgemq: {topic} stands for the topic received).', { minLength: 1 }),
  sharedSubscription: obj('Read the source through $share/<groupName>/<source> with several bridge clients.', {
    groupName: str('Share group name.', { minLength: 1, pattern: '^[^/+#]+$' }),
    groupMinimumShareNumber: int('Bridge clients in the group (default 1).', 1, 64),
  }, ['groupName']),
}, ['name', 'direction', 'source']);

export const mqttBridgeTopicMapSpecSchema: JsonSchema = obj('Routes of an MQTT bridge connector.', {
  mqttBridgeConnectorRef: str('Name of the MqttBridgeConnector.', { minLength: 1 }),
  routes: { type: 'array', description: 'The routes.', minItems: 1, items: routeSchema },
}, ['mqttBridgeConnectorRef', 'routes']);

export const mqttBridgeConnectorSchema: JsonSchema = resourceSchema(
  'MqttBridgeConnector',
  'An MQTT bridge from the local broker to a remote one.',
  mqttBridgeConnectorSpecSchema,
);

export const mqttBridgeTopicMapSchema: JsonSchema = resourceSchema('MqttBridgeTopicMap', 'Routes of an MQTT bridge connector.', mqttBridgeTopicMapSpecSchema);
