/**
 * Prometheus metrics of a running `edgemq serve`, scraped and parsed, against traffic the test
 * generates; the self-check probe's traffic stays out of reach of `#`.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startBroker, waitForPort, type RunningBroker } from '../helpers/broker.js';
import { histogramCount, scrape, value } from '../helpers/prometheus.js';

const QUEUE_LIMIT = 2;

let broker: RunningBroker;
let metricsUrl: string;
let adminUrl: string;
const clients: MqttClient[] = [];

async function connect(clientId: string, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(broker.url, { clientId, protocolVersion: 5, reconnectPeriod: 0, ...opts });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  const port = await freePort();
  const metricsPort = await freePort();
  const adminPort = await freePort();
  broker = await startBroker({
    port,
    config: `apiVersion: mq.edgemq.io/v1beta1
kind: Broker
metadata: {name: metrics}
spec:
  clients: {subscriberQueueLimit: {length: ${QUEUE_LIMIT}, strategy: None}}
  diagnostics: {metrics: {prometheusPort: ${metricsPort}}, selfCheck: {mode: Enabled, intervalSeconds: 300, timeoutSeconds: 5}}
  edgemq: {durability: os, sysIntervalSeconds: 0, admin: {port: ${adminPort}}}
---
apiVersion: mq.edgemq.io/v1beta1
kind: BrokerListener
metadata: {name: plain}
spec: {brokerRef: metrics, port: ${port}}
`,
    args: ['--metrics-port', String(metricsPort), '--admin-port', String(adminPort)],
  });
  metricsUrl = `http://127.0.0.1:${metricsPort}`;
  adminUrl = `http://127.0.0.1:${adminPort}`;
  await waitForPort(adminPort); // the admin API opens just after the MQTT listeners
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync().catch(() => {})));
  await broker?.stop();
});

describe('metrics', () => {
  it('serves /healthz and /readyz once the broker runs', async () => {
    expect((await fetch(`${metricsUrl}/healthz`)).status).toBe(200);
    const ready = await fetch(`${metricsUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect((await fetch(`${metricsUrl}/nothing`)).status).toBe(404);
  });

  it('counts publishes, payload bytes, sessions, subscriptions and authentications as the traffic happens', async () => {
    const before = await scrape(`${metricsUrl}/metrics`);
    const sub = await connect('metrics-sub');
    await sub.subscribeAsync('m/#', { qos: 1 });
    const pub = await connect('metrics-pub');
    const N = 25;
    const SIZE = 100;
    const got = new Promise<void>((resolve) => {
      let n = 0;
      sub.on('message', () => ++n === N && resolve());
    });
    for (let i = 0; i < N; i++) await pub.publishAsync(`m/${i % 3}`, Buffer.alloc(SIZE, i), { qos: 1 });
    await got;

    const after = await scrape(`${metricsUrl}/metrics`);
    const delta = (name: string) => value(after, name) - value(before, name);
    expect(delta('aio_broker_publishes_received')).toBe(N);
    expect(delta('aio_broker_publishes_sent')).toBe(N);
    expect(delta('aio_broker_payload_bytes_received')).toBe(N * SIZE);
    expect(delta('aio_broker_payload_bytes_sent')).toBe(N * SIZE);
    expect(delta('aio_broker_connected_sessions')).toBe(2);
    expect(delta('aio_broker_total_subscriptions')).toBe(1);
    expect(delta('aio_broker_authentication_successes')).toBe(2);
    expect(delta('aio_broker_authorization_allow')).toBeGreaterThanOrEqual(2 + 1 + N); // connects, subscribe, publishes
    expect(value(after, 'aio_broker_authentication_failures')).toBe(0);
    expect(after.get('aio_broker_publishes_received')!.type).toBe('COUNTER');
    expect(after.get('aio_broker_connected_sessions')!.type).toBe('GAUGE');
    expect(after.get('aio_broker_publishes_received')!.metrics[0]!.labels).toHaveProperty('hostname');
    // durability os: every QoS 1 publish went through a group commit whose latency was observed
    expect(histogramCount(after, 'edgemq_log_write_duration_seconds')).toBeGreaterThan(histogramCount(before, 'edgemq_log_write_duration_seconds'));
  });

  it('samples the publish-to-delivery latency of client traffic: 1 publish in 64', async () => {
    const sub = await connect('metrics-sampled-sub');
    await sub.subscribeAsync('sampled/#', { qos: 1 });
    const pub = await connect('metrics-sampled-pub');
    const N = 128;
    const got = new Promise<void>((resolve) => {
      let n = 0;
      sub.on('message', () => ++n === N && resolve());
    });
    const before = await scrape(`${metricsUrl}/metrics`);
    for (let i = 0; i < N; i++) await pub.publishAsync('sampled/x', `m${i}`, { qos: 1 });
    await got;
    const after = await scrape(`${metricsUrl}/metrics`);
    // 128 publishes with one subscriber each: exactly two of them were stamped and observed.
    expect(histogramCount(after, 'edgemq_delivery_latency_seconds') - histogramCount(before, 'edgemq_delivery_latency_seconds')).toBe(N / 64);
  });

  it('counts drops by reason: a full queue under strategy None, QoS 0 for an offline session', async () => {
    const offline = await connect('metrics-offline', { clean: false, properties: { sessionExpiryInterval: 300 } });
    await offline.subscribeAsync('q/#', { qos: 1 });
    await offline.endAsync();
    const before = await scrape(`${metricsUrl}/metrics`);
    const pub = await connect('metrics-pub2');
    for (let i = 0; i < QUEUE_LIMIT + 3; i++) await pub.publishAsync('q/1', `m${i}`, { qos: 1 }).catch(() => {});
    await pub.publishAsync('q/0', 'zero', { qos: 0 });
    await new Promise((r) => setTimeout(r, 100)); // the QoS 0 message has no acknowledgement to wait for
    const after = await scrape(`${metricsUrl}/metrics`);
    const dropped = (reason: string) => value(after, 'edgemq_messages_dropped', { reason }) - value(before, 'edgemq_messages_dropped', { reason });
    expect(dropped('queue_full')).toBe(3);
    expect(dropped('qos0_offline')).toBe(1);
    expect(value(after, 'edgemq_queued_messages')).toBeGreaterThanOrEqual(QUEUE_LIMIT);
    expect(value(after, 'aio_broker_qos0_messages_dropped', { direction: 'outgoing' }) - value(before, 'aio_broker_qos0_messages_dropped', { direction: 'outgoing' })).toBe(1);
  });

  it('runs the self-check on azedge/dmqtt/selftest, reports its latency, and a # subscriber never sees it', async () => {
    const everything = await connect('metrics-hash');
    await everything.subscribeAsync('#', { qos: 1 });
    const seen: string[] = [];
    everything.on('message', (topic) => seen.push(topic));
    const before = await scrape(`${metricsUrl}/metrics`);
    const res = await fetch(`${adminUrl}/api/v1/selfcheck`, { method: 'POST' });
    expect(res.status).toBe(200);
    const result = (await res.json()) as { ok: boolean; latencyMs: Record<string, number> };
    expect(result.ok).toBe(true);
    expect(Object.keys(result.latencyMs).sort()).toEqual(['connect', 'publish', 'subscribe', 'unsubscribe']);
    const after = await scrape(`${metricsUrl}/metrics`);
    expect(value(after, 'edgemq_selfcheck_rounds', { result: 'ok' })).toBe(value(before, 'edgemq_selfcheck_rounds', { result: 'ok' }) + 1);
    expect(value(after, 'aio_broker_payload_check_total_messages_lost')).toBe(0);
    expect(value(after, 'aio_broker_publish_latency_last_value_ms')).toBeGreaterThan(0);
    expect(histogramCount(after, 'edgemq_publish_delivery_latency_seconds')).toBe(histogramCount(before, 'edgemq_publish_delivery_latency_seconds') + 1);
    // The probe's message was routed (the publish counter moved) but reached no wildcard subscriber.
    expect(value(after, 'aio_broker_publishes_received')).toBeGreaterThan(value(before, 'aio_broker_publishes_received'));
    await everything.publishAsync('marker', 'x', { qos: 1 });
    await new Promise<void>((resolve) => {
      const check = () => (seen.includes('marker') ? resolve() : setTimeout(check, 20));
      check();
    });
    expect(seen.filter((t) => t.startsWith('azedge/'))).toEqual([]);
  });

  it('lets a subscriber that spells out the self-test root see the probe', async () => {
    const probeWatcher = await connect('metrics-selftest-watcher');
    await probeWatcher.subscribeAsync('azedge/dmqtt/selftest/#', { qos: 1 });
    const arrived = new Promise<string>((resolve) => probeWatcher.once('message', (topic) => resolve(topic)));
    await fetch(`${adminUrl}/api/v1/selfcheck`, { method: 'POST' });
    expect(await arrived).toMatch(/^azedge\/dmqtt\/selftest\//);
  });
});
