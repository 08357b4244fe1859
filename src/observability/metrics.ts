/**
 * Prometheus metrics with prom-client, under Azure IoT MQ's names where it has one
 * (`aio_broker_*`, /work reference "Metrics") and `edgemq_*` for what edgemq adds.
 *
 * Nothing here is on a message path. Every value is a plain number the rooms already keep
 * (`BrokerCore.stats()`, the front end's counts, the security room's counters, histograms of plain
 * buckets) and is read in a prom-client `collect()` callback when Prometheus scrapes.
 */
import os from 'node:os';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BrokerStats } from '../core/broker-core.js';
import type { LatencyHistogram } from './histogram.js';

/** What the metrics read from the front end (an interface: observability does not import the front end). */
export interface FrontEndCounts {
  readonly connectionCount: number;
  droppedQos0(): number;
  /** Publishers whose sockets are read more slowly because their subscribers are behind; absent where not counted. */
  publishersThrottled?(): number;
  /** Sampled publish-to-delivery latency of client traffic (in-process cores only). */
  readonly deliveryLatency?: LatencyHistogram;
}

export interface DirectQos0Counts {
  /** Deliveries written to this front end's own subscribers. */
  deliveries: number;
  /** Publishes no partition was asked for: this front end's own live subscribers were all there was. */
  localOnly: number;
}

export interface SecurityCounts {
  authenticationSuccesses: number;
  authenticationFailures: number;
  authorizationAllow: number;
  authorizationDeny: number;
}

export interface MetricSources {
  /** This process's counts, read once per scrape. */
  stats: () => BrokerStats;
  /**
   * False on a cluster front end: sessions, subscriptions, retained messages and queues live in the
   * partitions, and the back ends report them per partition (partition-metrics.ts). The front end
   * reports its own traffic and live connections.
   */
  partitionState?: boolean;
  frontEnd?: FrontEndCounts;
  security?: SecurityCounts;
  /** A cluster front end's QoS 0 written straight to its own subscribers (cluster/client/direct-qos0.ts). */
  directQos0?: () => DirectQos0Counts;
  /** Durable log write latency (per group commit); absent with durability `memory`. */
  logWriteLatency?: LatencyHistogram;
  /** Constant labels on every series, e.g. `{role: 'frontend', node: 'frontend-0'}` on a cluster. */
  labels?: Record<string, string>;
}

/**
 * The series read from `BrokerStats`, shared by a whole broker (unlabelled) and by a back end (one
 * series per partition). `state`: partition state, absent on a cluster front end.
 */
export interface StatSeries {
  kind: 'counter' | 'gauge';
  name: string;
  help: string;
  state: boolean;
  read: (s: BrokerStats) => number;
}

export const STAT_SERIES: readonly StatSeries[] = [
  // Azure IoT MQ names.
  { kind: 'counter', name: 'aio_broker_publishes_received', help: 'PUBLISH messages routed by the broker (clients, wills, $SYS).', state: false, read: (s) => s.messagesReceived },
  { kind: 'counter', name: 'aio_broker_publishes_sent', help: 'PUBLISH messages handed to subscriber connections.', state: false, read: (s) => s.messagesSent },
  { kind: 'counter', name: 'aio_broker_payload_bytes_received', help: 'Payload bytes of routed messages.', state: false, read: (s) => s.bytesReceived ?? 0 },
  { kind: 'counter', name: 'aio_broker_payload_bytes_sent', help: 'Payload bytes handed to subscriber connections.', state: false, read: (s) => s.bytesSent ?? 0 },
  { kind: 'gauge', name: 'aio_broker_total_sessions', help: 'Sessions held, online and offline.', state: true, read: (s) => s.sessions },
  { kind: 'gauge', name: 'aio_broker_connected_sessions', help: 'Sessions with a live connection.', state: false, read: (s) => s.connected },
  { kind: 'gauge', name: 'aio_broker_total_subscriptions', help: 'Subscriptions of every session.', state: true, read: (s) => s.subscriptions },
  { kind: 'gauge', name: 'aio_broker_store_retained_messages', help: 'Retained messages stored.', state: true, read: (s) => s.retained },
  { kind: 'gauge', name: 'aio_broker_store_will_messages', help: 'Sessions holding a will message.', state: true, read: (s) => s.wills ?? 0 },
  // edgemq additions.
  { kind: 'gauge', name: 'edgemq_queued_messages', help: 'Messages waiting in session queues (not yet in flight).', state: true, read: (s) => s.queued },
  { kind: 'gauge', name: 'edgemq_inflight_messages', help: 'QoS 1/2 messages sent and not yet acknowledged by subscribers.', state: true, read: (s) => s.inflight },
];

export const DROPPED_HELP = 'Messages not delivered, by reason: queue_full (strategy None), drop_oldest, expired, qos0_offline, qos0_slow_reader.';

/** The queue-policy reasons of `edgemq_messages_dropped` that a partition counts. */
export function putDroppedByReason(s: BrokerStats, put: (reason: string, n: number) => void): void {
  put('queue_full', s.droppedQueueFull ?? 0);
  put('drop_oldest', s.droppedOldest ?? 0);
  put('expired', s.droppedExpired ?? 0);
  put('qos0_offline', s.droppedQos0Offline ?? 0);
}

/** The self-check probe's figures, set by `SelfCheck` once per round (not a message path). */
export type SelfCheckStep = 'connect' | 'subscribe' | 'publish' | 'unsubscribe';

export interface SelfCheckMetrics {
  /** Azure's `aio_broker_{step}_latency_last_value_ms`. */
  stepLatency: Record<SelfCheckStep, Gauge>;
  rounds: Counter<'result'>;
  messagesLost: Counter;
  publishToDelivery: Histogram;
}

export interface BrokerMetrics {
  registry: Registry;
  selfCheck: SelfCheckMetrics;
  /** Prometheus text exposition of every metric. */
  scrape(): Promise<string>;
  /** The same as prom-client's JSON (for the admin API and console). */
  json(): Promise<unknown>;
  contentType: string;
}

/** A registry with Node's process metrics (`edgemq_` prefix) and a `hostname` label on every series. */
export function processRegistry(labels: Record<string, string> = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ hostname: os.hostname(), ...labels });
  collectDefaultMetrics({ register: registry, prefix: 'edgemq_' });
  return registry;
}

/**
 * A labelled series whose values are kept elsewhere (running totals for a counter, current values
 * for a gauge): cleared and filled by `fill` at scrape time, so nothing calls prom-client per message.
 */
export function scrapedSeries<L extends string>(
  kind: 'counter' | 'gauge',
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  fill: (put: (labels: Record<L, string>, value: number) => void) => void,
): void {
  const Kind = kind === 'counter' ? Counter : Gauge;
  new Kind<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect(this: Counter<L> | Gauge<L>) {
      this.reset();
      fill((labels, value) => this.inc(labels, value));
    },
  });
}

export function createMetrics(src: MetricSources): BrokerMetrics {
  const registry = processRegistry(src.labels);

  // One stats() walk per scrape, shared by every collector of that scrape (scrape() clears it first).
  let cached: BrokerStats | undefined;
  const stats = (): BrokerStats => (cached ??= src.stats());
  // A counter whose value is a running total kept elsewhere: set at scrape time (reset, then inc).
  const totalCounter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  const withState = src.partitionState !== false;
  for (const d of STAT_SERIES) {
    if (d.state && !withState) continue;
    scrapedSeries(d.kind, registry, d.name, d.help, [], (put) => put({}, d.read(stats())));
  }
  new Counter({
    name: 'aio_broker_qos0_messages_dropped',
    help: 'QoS 0 messages not delivered: shed for a stalled reader, or for a session that is offline.',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ direction: 'outgoing' }, (src.frontEnd?.droppedQos0() ?? 0) + (stats().droppedQos0Offline ?? 0));
    },
  });
  if (src.security) {
    const sec = src.security;
    const securityCounter = (name: string, help: string, read: (c: SecurityCounts) => number) => totalCounter(name, help, () => read(sec));
    securityCounter('aio_broker_authentication_successes', 'Authentications accepted (CONNECT, enhanced authentication, re-authentication).', (c) => c.authenticationSuccesses);
    securityCounter('aio_broker_authentication_failures', 'Authentications refused.', (c) => c.authenticationFailures);
    securityCounter('aio_broker_authorization_allow', 'Authorization decisions that allowed (connect, publish, subscribe, state-store key).', (c) => c.authorizationAllow);
    securityCounter('aio_broker_authorization_deny', 'Authorization decisions that denied.', (c) => c.authorizationDeny);
  }

  scrapedSeries('counter', registry, 'edgemq_messages_dropped', DROPPED_HELP, ['reason'], (put) => {
    if (withState) putDroppedByReason(stats(), (reason, n) => put({ reason }, n));
    put({ reason: 'qos0_slow_reader' }, src.frontEnd?.droppedQos0() ?? 0);
  });
  if (src.frontEnd) {
    const fe = src.frontEnd;
    new Gauge({
      name: 'edgemq_connections',
      help: 'Open client sockets, connected or still in CONNECT.',
      registers: [registry],
      collect() {
        this.set(fe.connectionCount);
      },
    });
    if (fe.publishersThrottled) {
      const throttled = fe.publishersThrottled.bind(fe);
      totalCounter('edgemq_publishers_throttled', 'Times a publisher was read more slowly because its subscribers were behind.', throttled);
    }
  }
  if (src.directQos0) {
    const direct = src.directQos0;
    totalCounter('edgemq_qos0_direct_deliveries', 'QoS 0 deliveries this front end wrote to its own subscribers itself, without a partition.', () => direct().deliveries);
    totalCounter('edgemq_qos0_local_only_publishes', "QoS 0 publishes that went to no partition: this front end's own live subscribers were all there was.", () => direct().localOnly);
  }
  // A cluster front end's deliveries are decoded from frames, never its clients' message objects: nothing to sample.
  if (src.frontEnd?.deliveryLatency && withState) {
    registry.registerMetric(
      histogramMetric(
        'edgemq_delivery_latency_seconds',
        'Publish-to-delivery latency of client traffic, sampled (1 publish in 64): PUBLISH read to delivery written to each subscriber socket.',
        src.frontEnd.deliveryLatency,
      ) as never,
    );
  }
  if (src.logWriteLatency) {
    registry.registerMetric(
      histogramMetric('edgemq_log_write_duration_seconds', 'Time from handing a group commit to the store until it is durable.', src.logWriteLatency) as never,
    );
  }

  const selfCheck: SelfCheckMetrics = {
    stepLatency: {
      connect: stepGauge(registry, 'connect'),
      subscribe: stepGauge(registry, 'subscribe'),
      publish: stepGauge(registry, 'publish'),
      unsubscribe: stepGauge(registry, 'unsubscribe'),
    },
    rounds: new Counter({ name: 'edgemq_selfcheck_rounds', help: 'Self-check rounds by result (ok, failed).', labelNames: ['result'], registers: [registry] }),
    messagesLost: new Counter({
      name: 'aio_broker_payload_check_total_messages_lost',
      help: 'Self-check messages published and not delivered within the timeout.',
      registers: [registry],
    }),
    publishToDelivery: new Histogram({
      name: 'edgemq_publish_delivery_latency_seconds',
      help: 'Publish-to-delivery latency through the whole broker path, measured by the self-check probe.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
  selfCheck.rounds.inc({ result: 'ok' }, 0);
  selfCheck.rounds.inc({ result: 'failed' }, 0);
  selfCheck.messagesLost.inc(0);

  return {
    registry,
    selfCheck,
    scrape: () => {
      cached = undefined;
      return registry.metrics();
    },
    json: () => {
      cached = undefined;
      return registry.getMetricsAsJSON();
    },
    contentType: registry.contentType,
  };
}

function stepGauge(registry: Registry, step: SelfCheckStep): Gauge {
  const help =
    step === 'publish'
      ? 'Self-check: time from PUBLISH until the probe received its own message, last round (ms).'
      : `Self-check: time the ${step} step took, last round (ms).`;
  return new Gauge({ name: `aio_broker_${step}_latency_last_value_ms`, help, registers: [registry] });
}

/** One labelled series of a histogram metric (a back end's per-partition log write latency). */
export interface LabelledHistogram {
  labels: Record<string, string>;
  histogram: LatencyHistogram;
}

/**
 * A prom-client metric object exposing `LatencyHistogram`s (cumulative buckets, as Prometheus wants
 * them): one unlabelled histogram, or a labelled series per entry `of()` returns at scrape time.
 */
export function histogramMetric(name: string, help: string, of: LatencyHistogram | (() => LabelledHistogram[])) {
  const series = (): LabelledHistogram[] => (typeof of === 'function' ? of() : [{ labels: {}, histogram: of }]);
  return {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    labelNames: [] as string[],
    async get() {
      const values: Array<{ value: number; labels: Record<string, string | number>; metricName: string }> = [];
      for (const { labels, histogram: h } of series()) {
        let cumulative = 0;
        h.bounds.forEach((le, i) => {
          cumulative += h.counts[i]!;
          values.push({ value: cumulative, labels: { ...labels, le }, metricName: `${name}_bucket` });
        });
        cumulative += h.counts[h.bounds.length]!;
        values.push({ value: cumulative, labels: { ...labels, le: '+Inf' }, metricName: `${name}_bucket` });
        values.push({ value: h.sum, labels, metricName: `${name}_sum` });
        values.push({ value: h.count, labels, metricName: `${name}_count` });
      }
      return { name, help, type: 'histogram', values, aggregator: 'sum' };
    },
    reset() {},
  };
}

/**
 * Metrics of `edgemq dapr-components`: process metrics and the gRPC calls daprd made, by socket and
 * `Service/Method`, read from the plain counts the component server keeps.
 */
export function createComponentMetrics(calls: Map<string, Map<string, number>>): { scrape(): Promise<string>; contentType: string } {
  const registry = processRegistry({ role: 'dapr-components' });
  scrapedSeries('counter', registry, 'edgemq_dapr_component_calls', 'gRPC calls from daprd to the pluggable components, by socket and Service/Method.', ['socket', 'method'], (put) => {
    for (const [socket, counts] of calls) for (const [method, n] of counts) put({ socket, method }, n);
  });
  return { scrape: () => registry.metrics(), contentType: registry.contentType };
}
