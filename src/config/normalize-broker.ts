/**
 * Turns a validated Broker resource into `BrokerSettings`, filling defaults (see defaults.ts).
 * Client limits may be written at `spec.advanced.clients` (Azure 2024+) or `spec.clients`; when both
 * are present, `advanced.clients` wins field by field and the overlap is reported.
 */
import * as D from './defaults.js';
import type { BrokerSettings, ClientLimits, MemoryProfile, OperationsSettings } from './model.js';
import { describeAt, nameOf, namespaceOf, type ResourceDocument } from './resource-document.js';
import { canonicalEnum } from './schemas/common.js';
import {
  BROKER_MODES,
  DURABILITIES,
  MEMORY_PROFILES,
  QUEUE_STRATEGIES,
  SHARED_SUBSCRIPTION_STRATEGIES,
} from './schemas/broker.js';

type Obj = Record<string, unknown>;
const objAt = (value: unknown): Obj => (typeof value === 'object' && value !== null ? (value as Obj) : {});
const numAt = (o: Obj, key: string): number | undefined => (typeof o[key] === 'number' ? (o[key] as number) : undefined);
const strAt = (o: Obj, key: string): string | undefined => (typeof o[key] === 'string' ? (o[key] as string) : undefined);

export function normalizeBroker(doc: ResourceDocument, warnings: string[]): BrokerSettings {
  const spec = objAt(doc.body.spec);
  const memoryProfileText = strAt(spec, 'memoryProfile');
  const memoryProfile: MemoryProfile = memoryProfileText ? canonicalEnum(memoryProfileText, MEMORY_PROFILES) : D.DEFAULT_MEMORY_PROFILE;
  const modeText = strAt(spec, 'mode');
  const cardinality = objAt(spec.cardinality);
  const frontend = objAt(cardinality.frontend);
  const backendChain = objAt(cardinality.backendChain);
  const extensions = objAt(spec.edgemq);
  const diagnostics = objAt(spec.diagnostics);
  const durability = strAt(extensions, 'durability');
  const sharing = strAt(extensions, 'sharedSubscriptionStrategy');

  return {
    name: nameOf(doc) ?? '',
    ...(namespaceOf(doc) === undefined ? {} : { namespace: namespaceOf(doc) }),
    apiVersion: String(doc.body.apiVersion),
    mode: modeText ? canonicalEnum(modeText, BROKER_MODES) : D.DEFAULT_MODE,
    memoryProfile,
    cardinality: {
      frontend: {
        replicas: numAt(frontend, 'replicas') ?? D.DEFAULT_CARDINALITY.frontend.replicas,
        workers: numAt(frontend, 'workers') ?? D.DEFAULT_CARDINALITY.frontend.workers,
      },
      backendChain: {
        partitions: numAt(backendChain, 'partitions') ?? D.DEFAULT_CARDINALITY.backendChain.partitions,
        redundancyFactor: numAt(backendChain, 'redundancyFactor') ?? D.DEFAULT_CARDINALITY.backendChain.redundancyFactor,
        workers: numAt(backendChain, 'workers') ?? D.DEFAULT_CARDINALITY.backendChain.workers,
      },
    },
    clients: normalizeClientLimits(doc, memoryProfile, warnings),
    durability: durability ? canonicalEnum(durability, DURABILITIES) : D.DEFAULT_DURABILITY,
    sharedSubscriptionStrategy: sharing ? canonicalEnum(sharing, SHARED_SUBSCRIPTION_STRATEGIES) : D.DEFAULT_SHARED_SUBSCRIPTION_STRATEGY,
    sysIntervalSeconds: numAt(extensions, 'sysIntervalSeconds') ?? D.DEFAULT_SYS_INTERVAL_SECONDS,
    logLevel: strAt(diagnostics, 'logLevel') ?? strAt(objAt(diagnostics.logs), 'level') ?? D.DEFAULT_LOG_LEVEL,
    operations: normalizeOperations(diagnostics, objAt(extensions.admin)),
  };
}

/** Both diagnostics generations: the later `metrics`/`selfCheck` objects win over the 2023 flat fields. */
function normalizeOperations(diagnostics: Obj, admin: Obj): OperationsSettings {
  const selfCheck = objAt(diagnostics.selfCheck);
  const selfCheckMode = strAt(selfCheck, 'mode');
  const metricsOff = diagnostics.enableMetrics === false;
  const adminMode = strAt(admin, 'mode');
  const adminOff = adminMode !== undefined && adminMode.toLowerCase() === 'disabled';
  const tokenSecretRef = strAt(admin, 'tokenSecretRef');
  const tls = objAt(admin.tls);
  const tlsSecret = strAt(tls, 'secretName');
  const clientCa = strAt(tls, 'trustedClientCaCert');
  return {
    metricsPort: metricsOff ? 0 : (numAt(objAt(diagnostics.metrics), 'prometheusPort') ?? D.DEFAULT_METRICS_PORT),
    selfCheck: {
      enabled: selfCheckMode !== undefined ? selfCheckMode.toLowerCase() === 'enabled' : diagnostics.enableSelfCheck !== false,
      intervalSeconds: numAt(selfCheck, 'intervalSeconds') ?? numAt(diagnostics, 'selfCheckFrequencySeconds') ?? D.DEFAULT_SELF_CHECK_INTERVAL_SECONDS,
      timeoutSeconds: numAt(selfCheck, 'timeoutSeconds') ?? numAt(diagnostics, 'selfCheckTimeoutSeconds') ?? D.DEFAULT_SELF_CHECK_TIMEOUT_SECONDS,
    },
    adminPort: adminOff ? 0 : (numAt(admin, 'port') ?? D.DEFAULT_ADMIN_PORT),
    adminRequired: adminMode !== undefined && !adminOff,
    ...(tokenSecretRef !== undefined ? { adminTokenSecretRef: tokenSecretRef } : {}),
    ...(tlsSecret !== undefined ? { adminTls: { secretName: tlsSecret, ...(clientCa !== undefined ? { trustedClientCaCert: clientCa } : {}) } } : {}),
  };
}

function normalizeClientLimits(doc: ResourceDocument, memoryProfile: MemoryProfile, warnings: string[]): ClientLimits {
  const spec = objAt(doc.body.spec);
  const legacy = objAt(spec.clients);
  const advanced = objAt(objAt(spec.advanced).clients);
  for (const key of Object.keys(legacy).filter((k) => k in advanced)) {
    warnings.push(`${describeAt(doc, ['spec', 'clients', key])}: spec.clients.${key}: also set in spec.advanced.clients; using spec.advanced.clients.${key}`);
  }
  const clients: Obj = { ...legacy, ...advanced };
  // Where a field was written, so warnings point at the right place.
  const pathOf = (key: string): string[] => (key in advanced ? ['spec', 'advanced', 'clients', key] : ['spec', 'clients', key]);
  const extensions = objAt(spec.edgemq);

  const profileBound = D.MAX_PACKET_SIZE_BY_PROFILE[memoryProfile];
  const requestedPacketSize = numAt(clients, 'maxPacketSizeBytes');
  if (requestedPacketSize !== undefined && requestedPacketSize > profileBound) {
    warnings.push(
      `${describeAt(doc, pathOf('maxPacketSizeBytes'))}: ${pathOf('maxPacketSizeBytes').join('.')}: ${requestedPacketSize} exceeds ` +
        `the ${memoryProfile} memory profile's ${profileBound}; using ${profileBound}`,
    );
  }

  const queue = objAt(clients.subscriberQueueLimit);
  const strategyText = strAt(queue, 'strategy');
  const strategy = strategyText ? canonicalEnum(strategyText, QUEUE_STRATEGIES) : D.DEFAULT_QUEUE_STRATEGY;
  const maxMessageExpirySeconds = numAt(clients, 'maxMessageExpirySeconds');

  return {
    maxSessionExpirySeconds: numAt(clients, 'maxSessionExpirySeconds') ?? D.DEFAULT_MAX_SESSION_EXPIRY_SECONDS,
    ...(maxMessageExpirySeconds === undefined ? {} : { maxMessageExpirySeconds }),
    maxPacketSizeBytes: Math.min(requestedPacketSize ?? profileBound, profileBound),
    maxReceiveMaximum: numAt(clients, 'maxReceiveMaximum') ?? D.DEFAULT_MAX_RECEIVE_MAXIMUM,
    maxKeepAliveSeconds: numAt(clients, 'maxKeepAliveSeconds') ?? D.DEFAULT_MAX_KEEP_ALIVE_SECONDS,
    subscriberQueueLimit: { length: numAt(queue, 'length') ?? D.DEFAULT_QUEUE_LENGTH, strategy },
    stalledSubscriberSeconds: numAt(clients, 'stalledSubscriberSeconds') ?? D.DEFAULT_STALLED_SUBSCRIBER_SECONDS,
    receiveMaximum: numAt(extensions, 'receiveMaximum') ?? D.DEFAULT_RECEIVE_MAXIMUM,
    topicAliasMaximum: numAt(extensions, 'topicAliasMaximum') ?? D.DEFAULT_TOPIC_ALIAS_MAXIMUM,
    outboundTopicAliasMaximum: numAt(extensions, 'outboundTopicAliasMaximum') ?? D.DEFAULT_OUTBOUND_TOPIC_ALIAS_MAXIMUM,
    connectTimeoutMs: (numAt(extensions, 'connectTimeoutSeconds') ?? D.DEFAULT_CONNECT_TIMEOUT_SECONDS) * 1000,
    subscribeDeniedReasonCode: numAt(extensions, 'subscribeDeniedReasonCode') ?? 0x87,
  };
}
