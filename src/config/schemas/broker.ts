/**
 * Schema of the `Broker` kind. One schema serves every accepted generation: the 2023
 * `mq.iotoperations.azure.com/v1beta1` fields, the later `mqttbroker.iotoperations.azure.com` fields
 * (`advanced`, new-style `diagnostics`, `diskBackedMessageBuffer`, ...) and edgemq's own extensions
 * under `spec.edgemq`. Fields edgemq does not act on (images, internal traffic encryption, resource
 * limits, ...) are accepted so Azure manifests load unchanged, and otherwise ignored.
 */
import {
  bool,
  caseInsensitiveEnum,
  imageSchema,
  int,
  obj,
  opaqueObject,
  resourceSchema,
  str,
  type JsonSchema,
} from './common.js';

/** Largest MQTT packet the protocol can carry (Azure's limit for `maxPacketSizeBytes`). */
export const MAX_PACKET_SIZE_LIMIT = 268_435_456;

export const MEMORY_PROFILES = ['tiny', 'low', 'medium', 'high'] as const;
export const QUEUE_STRATEGIES = ['None', 'DropOldest'] as const;
export const BROKER_MODES = ['auto', 'distributed'] as const;
export const DURABILITIES = ['memory', 'os', 'fsync'] as const;
export const SHARED_SUBSCRIPTION_STRATEGIES = ['round-robin', 'least-inflight'] as const;

const ENABLED_DISABLED = ['Enabled', 'Disabled'];

/** `ClientConfig`: accepted at `spec.advanced.clients` (Azure 2024+) and at `spec.clients`. */
export const clientLimitsSchema: JsonSchema = obj('Limits applied to every MQTT client (Azure ClientConfig).', {
  maxSessionExpirySeconds: int('Upper bound of the Session Expiry Interval a client may request.', 1, 4_294_967_295),
  maxMessageExpirySeconds: int('Upper bound of Message Expiry Interval; also caps retained-message lifetime. Unset = no cap.', 1, 4_294_967_295),
  maxPacketSizeBytes: int('Largest packet accepted and advertised in CONNACK; further capped by the memory profile.', 1, MAX_PACKET_SIZE_LIMIT),
  maxReceiveMaximum: int('Upper bound of the Receive Maximum a client may request in CONNECT.', 1, 65_535),
  maxKeepAliveSeconds: int('Upper bound of a client keep-alive; larger (or 0) requests get Server Keep Alive.', 0, 65_535),
  subscriberQueueLimit: obj('Bound of each subscriber queue (messages not yet in flight).', {
    length: int('Maximum number of queued messages per subscriber (used by DropOldest).', 1),
    strategy: caseInsensitiveEnum('What happens when the queue is full: None refuses the new message (MQTT 5 publishers get 0x97), DropOldest evicts the oldest.', [
      ...QUEUE_STRATEGIES,
    ]),
  }),
  stalledSubscriberSeconds: int(
    'edgemq: a subscriber that took no bytes and acknowledged nothing for this long while messages wait for it is stalled, and only then does subscriberQueueLimit drop for it (QoS 0 is dropped for it too). Until then the publishers feeding it are slowed down (their sockets are not read). Default 3.',
    1,
    3_600,
  ),
});

/** edgemq extensions; Azure has no equivalent, so they live in their own sub-object. */
export const edgemqExtensionsSchema: JsonSchema = obj('edgemq extensions (not part of the Azure API).', {
  durability: caseInsensitiveEnum('When a replica considers a command stored: memory, os (page cache), fsync.', [...DURABILITIES]),
  sharedSubscriptionStrategy: caseInsensitiveEnum('How a shared-subscription group picks a member.', [...SHARED_SUBSCRIPTION_STRATEGIES]),
  receiveMaximum: int('Receive Maximum advertised in CONNACK (client-to-broker QoS 1/2 window).', 1, 65_535),
  topicAliasMaximum: int('Topic Alias Maximum advertised in CONNACK; 0 disables client-to-broker aliases.', 0, 65_535),
  outboundTopicAliasMaximum: int('Most broker-to-client topic aliases assigned per connection; 0 disables.', 0, 65_535),
  connectTimeoutSeconds: int('Close a socket that has not sent a complete CONNECT within this time.', 1, 3_600),
  sysIntervalSeconds: int('Interval of $SYS/ statistics publication; 0 disables.', 0, 86_400),
  admin: obj('Admin REST API and web console (remote management).', {
    mode: caseInsensitiveEnum('Serve the admin API. Enabled by default; on a non-loopback address only with a token.', ENABLED_DISABLED),
    port: int('TCP port of the admin API and console (default 9601); 0 disables it.', 0, 65_535),
    tokenSecretRef: str('Secret holding the bearer token (`<secrets dir>/<name>/token`, a Kubernetes Secret key `token`). On a non-loopback address a token or mutual TLS is required.'),
    tls: obj('Serve the admin API over HTTPS.', {
      secretName: str('Kubernetes TLS secret with the server certificate (keys tls.crt, tls.key).'),
      trustedClientCaCert: str('ConfigMap (key ca.crt) of the CA that signs admin client certificates: mutual TLS, a verified client certificate authenticates a request.'),
    }, ['secretName']),
  }),
  subscribeDeniedReasonCode: {
    type: 'integer',
    enum: [0x87, 0x80],
    description: 'SUBACK code of an MQTT 5 subscription authorization refuses: 135 (0x87 Not authorized, the default) or 128 (0x80) for clients that only understand 0x80.',
  },
});

const cardinalitySchema = obj('Pod counts (used when mode is distributed).', {
  frontend: obj('Stateless front ends (listeners, MQTT protocol, authn/authz).', {
    replicas: int('Front-end processes/pods.', 1, 16),
    workers: int('Workers per front end.', 1, 16),
  }),
  backendChain: obj('Back-end partitions, each a replication chain.', {
    partitions: int('Number of partitions (sessions by client id, retained messages by topic).', 1, 16),
    redundancyFactor: int('Replicas per partition chain.', 1, 5),
    workers: int('Workers per back-end replica.', 1, 16),
  }),
});

/** 2023 `diagnostics` (flat) and later `diagnostics` (logs/metrics/selfCheck/traces) in one object. */
const diagnosticsSchema = obj('Diagnostics settings: log level, Prometheus port, self-check; tracing is accepted and ignored.', {
  // 2023 shape
  diagnosticServiceEndpoint: str('2023: diagnostics service address.'),
  enableMetrics: bool('2023: export metrics.'),
  enableTracing: bool('2023: export traces.'),
  enableSelfCheck: bool('2023: run the self-check probe.'),
  enableSelfTracing: bool('2023: trace self-check traffic.'),
  logLevel: str('2023: log level (e.g. info, debug).'),
  logFormat: str('2023: text or json.'),
  selfCheckFrequencySeconds: int('2023: self-check interval.', 0),
  selfCheckTimeoutSeconds: int('2023: self-check timeout.', 0),
  selfTraceFrequencySeconds: int('2023: self-trace interval.', 0),
  metricUpdateFrequencySeconds: int('2023: metric export interval.', 0),
  spanChannelCapacity: int('2023: span buffer size.', 0),
  probeImage: str('2023: self-check probe image.'),
  maxCacheSizeMb: int('2023: trace cache size.', 0),
  // later shape
  logs: obj('Later generation: logging.', { level: str('Log level (e.g. info, debug).'), opentelemetryExportConfig: opaqueObject('Ignored.') }),
  metrics: obj('Later generation: metrics.', {
    prometheusPort: int('Port of /metrics, /healthz and /readyz (default 9600); 0 disables it.', 0, 65_535),
    opentelemetryExportConfig: opaqueObject('Ignored.'),
  }),
  selfCheck: obj('Later generation: the self-check probe (connect, subscribe, publish, unsubscribe on azedge/dmqtt/selftest/...).', {
    mode: caseInsensitiveEnum('Run the probe.', ENABLED_DISABLED),
    intervalSeconds: int('Seconds between two probe rounds.', 30, 300),
    timeoutSeconds: int('Seconds a probe step may take before it counts as lost.', 5, 120),
  }),
  traces: opaqueObject('Later generation: tracing settings (ignored).'),
});

const diskBufferSchema = (description: string): JsonSchema =>
  obj(description, {
    maxSize: str('Buffer size such as 1G.', { pattern: '^[0-9]+[KMGTPE]?$' }),
    ephemeralVolumeClaimSpec: opaqueObject('PVC template for an ephemeral volume.'),
    persistentVolumeClaimSpec: opaqueObject('PVC template for a persistent volume.'),
  });

const advancedSchema = obj('Later generation: advanced settings.', {
  clients: clientLimitsSchema,
  encryptInternalTraffic: caseInsensitiveEnum('Encrypt front-end/back-end traffic (accepted, see reference).', ENABLED_DISABLED),
  internalCerts: opaqueObject('Internal certificate settings (ignored).'),
});

export const brokerSpecSchema: JsonSchema = obj('Broker settings.', {
  mode: caseInsensitiveEnum('auto sizes the deployment; distributed uses cardinality.', [...BROKER_MODES]),
  memoryProfile: caseInsensitiveEnum('Memory budget; bounds the maximum packet size.', [...MEMORY_PROFILES]),
  cardinality: cardinalitySchema,
  clients: clientLimitsSchema,
  advanced: advancedSchema,
  encryptInternalTraffic: bool('2023: encrypt front-end/back-end traffic (accepted, see reference).'),
  diagnostics: diagnosticsSchema,
  diskBackedMessageBufferSettings: diskBufferSchema('2023: spill buffer for queued messages (accepted, ignored).'),
  diskBackedMessageBuffer: diskBufferSchema('Later generation: spill buffer for queued messages (accepted, ignored).'),
  authImage: imageSchema('2023: authentication image (ignored).'),
  brokerImage: imageSchema('2023: broker image (ignored).'),
  healthManagerImage: imageSchema('2023: operator image (ignored).'),
  generateResourceLimits: opaqueObject('Later generation: pod resource limits (ignored).'),
  persistence: opaqueObject('Azure 2025 persistence settings (ignored: edgemq always stores on disk unless durability is memory).'),
  edgemq: edgemqExtensionsSchema,
});

export const brokerSchema: JsonSchema = resourceSchema('Broker', 'An MQTT broker deployment.', brokerSpecSchema);
