/**
 * Turns a validated Broker resource into `BrokerSettings`, filling defaults (see defaults.ts).
 * Client limits may be written at `spec.advanced.clients` (Azure 2024+) or `spec.clients`; when both
 * are present, `advanced.clients` wins field by field and the overlap is reported.
 */
import * as D from './defaults.js';
import { describeAt, nameOf, namespaceOf } from './resource-document.js';
import { canonicalEnum } from './schemas/common.js';
import { BROKER_MODES, DURABILITIES, MEMORY_PROFILES, QUEUE_STRATEGIES, SHARED_SUBSCRIPTION_STRATEGIES, } from './schemas/broker.js';
const objAt = (value) => (typeof value === 'object' && value !== null ? value : {});
const numAt = (o, key) => (typeof o[key] === 'number' ? o[key] : undefined);
const strAt = (o, key) => (typeof o[key] === 'string' ? o[key] : undefined);
export function normalizeBroker(doc, warnings) {
    const spec = objAt(doc.body.spec);
    const memoryProfileText = strAt(spec, 'memoryProfile');
    const memoryProfile = memoryProfileText ? canonicalEnum(memoryProfileText, MEMORY_PROFILES) : D.DEFAULT_MEMORY_PROFILE;
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
    };
}
function normalizeClientLimits(doc, memoryProfile, warnings) {
    const spec = objAt(doc.body.spec);
    const legacy = objAt(spec.clients);
    const advanced = objAt(objAt(spec.advanced).clients);
    for (const key of Object.keys(legacy).filter((k) => k in advanced)) {
        warnings.push(`${describeAt(doc, ['spec', 'clients', key])}: spec.clients.${key}: also set in spec.advanced.clients; using spec.advanced.clients.${key}`);
    }
    const clients = { ...legacy, ...advanced };
    // Where a field was written, so warnings point at the right place.
    const pathOf = (key) => (key in advanced ? ['spec', 'advanced', 'clients', key] : ['spec', 'clients', key]);
    const extensions = objAt(spec.edgemq);
    const profileBound = D.MAX_PACKET_SIZE_BY_PROFILE[memoryProfile];
    const requestedPacketSize = numAt(clients, 'maxPacketSizeBytes');
    if (requestedPacketSize !== undefined && requestedPacketSize > profileBound) {
        warnings.push(`${describeAt(doc, pathOf('maxPacketSizeBytes'))}: ${pathOf('maxPacketSizeBytes').join('.')}: ${requestedPacketSize} exceeds ` +
            `the ${memoryProfile} memory profile's ${profileBound}; using ${profileBound}`);
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
//# sourceMappingURL=normalize-broker.js.map