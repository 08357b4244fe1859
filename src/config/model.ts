/**
 * The normalized, validated configuration the rest of edgemq consumes. `config/load.ts` turns
 * Kubernetes-style resources (Broker, BrokerListener, ...) from either API group into this shape,
 * filling defaults, so no other room ever looks at raw YAML.
 */

export type MemoryProfile = 'tiny' | 'low' | 'medium' | 'high';
export type QueueOverflowStrategy = 'None' | 'DropOldest';
export type Durability = 'memory' | 'os' | 'fsync';
export type SharedSubscriptionStrategy = 'round-robin' | 'least-inflight';

export interface ClientLimits {
  /** Caps the Session Expiry Interval a client may ask for (seconds). */
  maxSessionExpirySeconds: number;
  /** Caps Message Expiry Interval of PUBLISH and retained lifetime (seconds); undefined = no cap. */
  maxMessageExpirySeconds?: number;
  /** Largest packet the broker accepts and advertises in CONNACK (bytes). */
  maxPacketSizeBytes: number;
  /** Caps the Receive Maximum a client asks for (our outbound inflight window per session). */
  maxReceiveMaximum: number;
  /** Keep-alive ceiling; a client asking for more (or 0) gets Server Keep Alive in CONNACK (v5). */
  maxKeepAliveSeconds: number;
  /** Per-session queue of messages not yet in flight, and what happens when it is full. */
  subscriberQueueLimit: { length: number; strategy: QueueOverflowStrategy };
  /**
   * A subscriber that took no bytes and acknowledged nothing for this long, while messages wait
   * for it, is stalled: the queue policy applies to it. Until then publishers are slowed instead.
   */
  stalledSubscriberSeconds: number;
  /** Receive Maximum the broker advertises for client-to-broker QoS 1/2 flow. */
  receiveMaximum: number;
  /** Topic Alias Maximum the broker advertises (client->broker aliases); 0 disables. */
  topicAliasMaximum: number;
  /** How many outbound (broker->client) aliases the broker assigns at most per connection. */
  outboundTopicAliasMaximum: number;
  /** Close sockets that send no complete CONNECT within this time. */
  connectTimeoutMs: number;
  /** SUBACK code for an MQTT 5 subscription that authorization refuses (0x87; 0x80 for clients that know only that). */
  subscribeDeniedReasonCode: number;
}

export interface BrokerSettings {
  /** metadata.name of the Broker resource. */
  name: string;
  namespace?: string;
  /** apiVersion it was written in (so diagnostics can mention it). */
  apiVersion: string;
  mode: 'auto' | 'distributed';
  memoryProfile: MemoryProfile;
  cardinality: {
    frontend: { replicas: number; workers: number };
    backendChain: { partitions: number; redundancyFactor: number; workers: number };
  };
  clients: ClientLimits;
  durability: Durability;
  sharedSubscriptionStrategy: SharedSubscriptionStrategy;
  /** Interval of $SYS/ stats publication; 0 disables. */
  sysIntervalSeconds: number;
  logLevel: string;
  operations: OperationsSettings;
}

/** Metrics, health probes, self-check and the admin API (Broker `spec.diagnostics`, `spec.edgemq.admin`). */
export interface OperationsSettings {
  /** Port of /metrics, /healthz, /readyz; 0 = not served. */
  metricsPort: number;
  selfCheck: { enabled: boolean; intervalSeconds: number; timeoutSeconds: number };
  /** Port of the admin API and console; 0 = not served. */
  adminPort: number;
  /** `mode: Enabled` written out: a missing token on a non-loopback address is then an error, not a skipped API. */
  adminRequired: boolean;
  /** Secret name of the bearer token. */
  adminTokenSecretRef?: string;
  /** HTTPS for the admin API; with a client CA, mutual TLS authenticates requests. */
  adminTls?: { secretName: string; trustedClientCaCert?: string };
}

export type ListenerProtocol = 'mqtt' | 'websockets';

export interface ListenerPort {
  port: number;
  protocol: ListenerProtocol;
  nodePort?: number;
  /** Raw TLS settings from the resource; interpreted by the security room. */
  tls?: Record<string, unknown>;
  authenticationRef?: string;
  authorizationRef?: string;
}

export interface ListenerSettings {
  name: string;
  namespace?: string;
  apiVersion: string;
  brokerRef: string;
  serviceName: string;
  serviceType: 'ClusterIp' | 'LoadBalancer' | 'NodePort';
  authenticationEnabled: boolean;
  authorizationEnabled: boolean;
  /** One entry for v1beta1 (`port`), several for the later `ports` list shape. */
  ports: ListenerPort[];
  /** edgemq `spec.edgemq.allowAnonymous`: ports without authentication may bind a non-loopback address. */
  allowAnonymous?: boolean;
}

/** A resource that was read but is not used by the command that loaded it. */
export interface SkippedResource {
  kind: string;
  name: string;
  apiVersion: string;
  source: string;
}

export interface LoadedConfig {
  broker: BrokerSettings;
  listeners: ListenerSettings[];
  /** Resources of other kinds kept raw for rooms that consume them later (authn, authz, connectors). */
  others: Array<{ kind: string; name: string; apiVersion: string; spec: Record<string, unknown>; source: string }>;
  skipped: SkippedResource[];
  warnings: string[];
}
