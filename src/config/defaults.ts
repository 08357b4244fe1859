/**
 * Every default edgemq fills in, with the reason for its value. Azure IoT MQ documents few of its
 * defaults (none for `advanced.clients`); where it does, edgemq follows it so manifests behave alike.
 */
import type { Durability, MemoryProfile, QueueOverflowStrategy, SharedSubscriptionStrategy } from './model.js';

const MiB = 1024 * 1024;

/** Azure's documented default profile. */
export const DEFAULT_MEMORY_PROFILE: MemoryProfile = 'medium';

/**
 * Maximum packet size per memory profile, exactly Azure's table (4/16/64/256 MB, binary megabytes:
 * 256 MiB = 268435456 is the protocol's and Azure's upper limit). `maxPacketSizeBytes` can only lower
 * it: the profile is the memory the operator budgeted, and one packet must fit in it several times.
 */
export const MAX_PACKET_SIZE_BY_PROFILE: Readonly<Record<MemoryProfile, number>> = {
  tiny: 4 * MiB,
  low: 16 * MiB,
  medium: 64 * MiB,
  high: 256 * MiB,
};

/** Azure's documented default: the operator decides how to size the deployment. */
export const DEFAULT_MODE = 'auto' as const;

/**
 * Cardinality when none is given: the embedded single-process shape (`edgemq serve`), one front end,
 * one partition whose chain has one replica. Worker counts are 1 because a Node.js process is one
 * event loop (Azure's 2023 docs also required workers = 1). A redundancy of 1 is only right for a
 * single node; `mode: distributed` manifests should set it to >= 2 to get the no-loss promise.
 */
export const DEFAULT_CARDINALITY = {
  frontend: { replicas: 1, workers: 1 },
  backendChain: { partitions: 1, redundancyFactor: 1, workers: 1 },
} as const;

/**
 * No cap: 0xFFFFFFFF is MQTT 5's "never expires", and MQTT 3.1.1 persistent sessions never expire by
 * definition. Store-and-forward (bridges that are offline for days) depends on sessions outliving
 * outages; an arbitrary cap would silently lose their queues. Memory per session is bounded by the
 * subscriber queue and the memory profile, so operators lower this only to reap abandoned sessions.
 */
export const DEFAULT_MAX_SESSION_EXPIRY_SECONDS = 0xffff_ffff;

/** Both are "no cap" (the largest value the protocol encodes): the client's request is honoured. */
export const DEFAULT_MAX_KEEP_ALIVE_SECONDS = 65_535;
export const DEFAULT_MAX_RECEIVE_MAXIMUM = 65_535;

/**
 * Strategy `None` (Azure's default name): a full queue takes no new message, and an MQTT 5 publisher
 * of that QoS 1/2 message gets PUBACK/PUBREC 0x97 Quota exceeded, so nothing is acknowledged as
 * delivered that a session did not get (promise 2), and memory stays bounded (a stalled subscriber
 * cannot grow it). `DropOldest` evicts the oldest queued message instead: the right choice for
 * telemetry where only recent values matter.
 */
export const DEFAULT_QUEUE_STRATEGY: QueueOverflowStrategy = 'None';

/**
 * Queue length when none is given: 10000 messages keeps roughly 10 MB per stuck
 * subscriber at typical sub-kilobyte telemetry sizes, and covers minutes of a sensor publishing
 * tens of messages per second (Mosquitto/HiveMQ use 1000, which is seconds of such a stream).
 */
export const DEFAULT_QUEUE_LENGTH = 10_000;

/**
 * How long a subscriber with messages waiting may take no bytes and acknowledge nothing before it
 * counts as stalled. Until then its publishers are slowed down (nothing acknowledged is dropped);
 * 3 s rides out a GC pause or a busy client, and bounds how long a dead reader slows its publishers.
 */
export const DEFAULT_STALLED_SUBSCRIBER_SECONDS = 3;

/**
 * Advertised Receive Maximum: how many QoS 1/2 PUBLISHes a client may have unacknowledged. A QoS 1/2
 * PUBACK waits for replication to the chain tail and for a group commit, so acks take milliseconds,
 * not microseconds; 1024 in flight lets one publisher keep a batch full (e.g. 5 ms x 100k msg/s =
 * 500) where Azure's fixed 100 would throttle it. Memory is still bounded by the memory profile's
 * backpressure, not by this window.
 */
export const DEFAULT_RECEIVE_MAXIMUM = 1024;

/**
 * Topic Alias Maximum advertised to clients. 1024 covers devices that publish to hundreds of topics
 * (per-signal topics) while bounding the alias table per connection (~1024 topic strings).
 */
export const DEFAULT_TOPIC_ALIAS_MAXIMUM = 1024;

/**
 * Aliases the broker assigns per connection (broker -> client). 128 catches the hot topics of a
 * typical subscriber; each alias costs a topic string per connection, and assignment is only useful
 * for topics that repeat, so a small table gets most of the bandwidth saving.
 */
export const DEFAULT_OUTBOUND_TOPIC_ALIAS_MAXIMUM = 128;

/** A socket that has not completed CONNECT in 10 s is a port scan, a stuck TLS client or an attack. */
export const DEFAULT_CONNECT_TIMEOUT_SECONDS = 10;

/** $SYS statistics every 10 s, like Mosquitto's `sys_interval`; frequent enough for dashboards, cheap. */
export const DEFAULT_SYS_INTERVAL_SECONDS = 10;

/**
 * `os`: a replica hands each batch to the kernel (page cache) before acknowledging, without fsync.
 * That survives process crashes (SIGKILL, the failure model of DESIGN.md section 5); power loss of a
 * node is covered by the other replicas of the chain. `fsync` costs a disk flush per group commit
 * for single-node sites without redundancy; `memory` is for tests and throwaway brokers.
 */
export const DEFAULT_DURABILITY: Durability = 'os';

/** Round-robin is Azure's behaviour for messages without `$partition`, and fair when members are equal. */
export const DEFAULT_SHARED_SUBSCRIPTION_STRATEGY: SharedSubscriptionStrategy = 'round-robin';

/** Azure's documented default log level. */
export const DEFAULT_LOG_LEVEL = 'info';

/** Azure's default Service type (internal to the cluster, the safe choice). */
export const DEFAULT_SERVICE_TYPE = 'ClusterIp' as const;

/**
 * Service name when a listener does not set one. The 2023 generation put every listener of a broker
 * behind one Service `aio-mq-dmqtt-frontend`; edgemq's group follows the same idea with `edgemq`.
 * The 2024+ generation defaults to the listener's own name (Azure's documented behaviour).
 */
export const DEFAULT_SERVICE_NAME_BY_GROUP: Readonly<Record<string, string | undefined>> = {
  'mq.edgemq.io': 'edgemq',
  'mq.iotoperations.azure.com': 'aio-mq-dmqtt-frontend',
  'mqttbroker.iotoperations.azure.com': undefined, // = the listener's name
};

/** Plain MQTT over TCP unless a listener says WebSockets (Azure's default protocol is Mqtt). */
export const DEFAULT_PROTOCOL = 'mqtt' as const;

/**
 * The embedded configuration used when no file is given (`edgemq serve` out of the box): broker and
 * listener named `default` (the names Azure uses since 2024), MQTT's registered port 1883, no
 * authentication. Security promise: the CLI must bind such an unauthenticated listener to loopback.
 */
export const EMBEDDED_BROKER_NAME = 'default';
export const EMBEDDED_LISTENER_NAME = 'default';
export const EMBEDDED_PORT = 1883;
export const EMBEDDED_API_VERSION = 'mq.edgemq.io/v1beta1';

/** Azure IoT MQ's Prometheus port (`diagnostics.metrics.prometheusPort`). */
export const DEFAULT_METRICS_PORT = 9600;
/** edgemq's admin API and console (`spec.edgemq.admin.port`), next to the metrics port. */
export const DEFAULT_ADMIN_PORT = 9601;
/** Azure's self-check defaults: every 30 s, 15 s per step. */
export const DEFAULT_SELF_CHECK_INTERVAL_SECONDS = 30;
export const DEFAULT_SELF_CHECK_TIMEOUT_SECONDS = 15;
