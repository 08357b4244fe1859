/**
 * MQTT.js helpers: promise-based connect/subscribe/publish and message collectors with short waits.
 */
import { afterAll, beforeAll } from 'vitest';
import mqtt from 'mqtt';
import type { MqttClient, IClientOptions, IClientPublishOptions, IClientSubscribeOptions, Packet } from 'mqtt';
import type { IConnackPacket, IPublishPacket } from 'mqtt-packet';
import { startBroker, isEdgemq, isCluster, freePort, type RunningBroker } from '../../helpers/broker.js';

export { isEdgemq };
export const isMosquitto = !isEdgemq;
export const VERSIONS = [4, 5] as const;
export type Version = (typeof VERSIONS)[number];

/** `v3.1.1` / `v5` label for test names. */
export function vname(v: Version): string {
  return v === 5 ? 'v5' : 'v3.1.1';
}

let counter = 0;
/** Unique id for client ids and topic prefixes (tests in different files run against different brokers). */
export function uid(prefix = 'c'): string {
  counter += 1;
  return `${prefix}-${process.pid.toString(36)}-${Date.now().toString(36)}-${counter}-${Math.random().toString(36).slice(2, 6)}`;
}

/** A unique topic root for one test. */
export function topicRoot(name = 't'): string {
  return `conf/${uid(name)}`;
}

export interface ConnectResult {
  client: MqttClient;
  connack: IConnackPacket;
}

export async function connect(url: string, opts: IClientOptions & { protocolVersion?: 3 | 4 | 5 } = {}): Promise<MqttClient> {
  return (await connectWithAck(url, opts)).client;
}

/** Connects with a message collector attached before CONNECT goes out, so queued session messages are caught. */
export async function connectCollect(url: string, opts: IClientOptions = {}): Promise<ConnectResult & { got: Collector }> {
  let got!: Collector;
  const r = await connectWithAck(url, opts, (c) => {
    got = collect(c);
  });
  return { ...r, got };
}

export function connectWithAck(url: string, opts: IClientOptions = {}, beforeConnect?: (c: MqttClient) => void): Promise<ConnectResult> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, {
      protocolVersion: 5,
      reconnectPeriod: 0,
      connectTimeout: 4000,
      clientId: opts.clientId ?? uid(),
      ...opts,
    });
    beforeConnect?.(client);
    const timer = setTimeout(() => {
      client.end(true);
      reject(new Error('connect timeout'));
    }, 5000);
    client.once('connect', (connack: IConnackPacket) => {
      clearTimeout(timer);
      resolve({ client, connack });
    });
    client.once('error', (e) => {
      clearTimeout(timer);
      client.end(true);
      reject(e);
    });
  });
}

export async function subscribe(client: MqttClient, topic: string | string[], opts: IClientSubscribeOptions | { qos: 0 | 1 | 2; [k: string]: unknown } = { qos: 0 }): Promise<number[]> {
  const granted = await client.subscribeAsync(topic, opts as IClientSubscribeOptions);
  return granted.map((g) => g.qos as number);
}

export async function publish(client: MqttClient, topic: string, payload: string | Buffer, opts: IClientPublishOptions = {}): Promise<Packet | undefined> {
  return client.publishAsync(topic, payload, opts);
}

/** Closes a client (DISCONNECT by default; `force` destroys the socket without DISCONNECT). */
export async function close(client: MqttClient | undefined, force = false): Promise<void> {
  if (!client) return;
  if (force) {
    client.stream?.destroy();
    await new Promise<void>((r) => client.end(true, {}, () => r()));
    return;
  }
  await new Promise<void>((r) => {
    const t = setTimeout(() => {
      client.end(true);
      r();
    }, 1000);
    client.end(false, {}, () => {
      clearTimeout(t);
      r();
    });
  });
}

/** Simulates a network failure: the socket goes away without DISCONNECT. */
export function dropConnection(client: MqttClient): void {
  client.options.reconnectPeriod = 0;
  client.stream?.destroy();
}

export interface Received {
  topic: string;
  payload: string;
  packet: IPublishPacket;
}

export interface Collector {
  messages: Received[];
  /** Resolves with all messages once at least n arrived; rejects after timeoutMs listing what came. */
  waitFor(n: number, timeoutMs?: number): Promise<Received[]>;
  /** Waits ms (a bounded wait, not a speed assertion) and returns everything collected so far. */
  settle(ms: number): Promise<Received[]>;
  clear(): void;
}

export function collect(client: MqttClient, filter?: (r: Received) => boolean): Collector {
  const messages: Received[] = [];
  let wake: (() => void)[] = [];
  client.on('message', (topic, payload, packet) => {
    const r = { topic, payload: payload.toString(), packet: packet as IPublishPacket };
    if (filter && !filter(r)) return;
    messages.push(r);
    const w = wake;
    wake = [];
    for (const f of w) f();
  });
  return {
    messages,
    async waitFor(n, timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < n) {
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new Error(`expected ${n} message(s) within ${timeoutMs} ms, got ${messages.length}: ${JSON.stringify(messages.map((m) => [m.topic, m.payload]))}`);
        }
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          wake.push(() => {
            clearTimeout(t);
            r();
          });
        });
      }
      return messages;
    },
    async settle(ms) {
      await new Promise((r) => setTimeout(r, ms));
      return messages;
    },
    clear() {
      messages.length = 0;
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Starts one broker for a test file. `edgemq` carries Broker `spec` fragments for edgemq-only limits; it is
 * written as YAML (Broker + BrokerListener on a fixed port). Mosquitto ignores it (stock configuration).
 */
/**
 * One broker for a whole test file: started before the first test, stopped after the last. The
 * returned object forwards to the running broker, so tests read `broker.url` / `broker.port`.
 */
export function useConformanceBroker(edgemq?: { clients?: Record<string, unknown>; edgemq?: Record<string, unknown> }): RunningBroker {
  let running: RunningBroker | undefined;
  beforeAll(async () => {
    running = await startConformanceBroker(edgemq);
  }, isCluster ? 120_000 : 30000); // a cluster of its own is six processes to start
  afterAll(async () => {
    await running?.stop();
  });
  return new Proxy({} as RunningBroker, {
    get(_target, key) {
      if (!running) throw new Error('the conformance broker is not running (used outside a test?)');
      return running[key as keyof RunningBroker];
    },
  });
}

export async function startConformanceBroker(edgemq?: { clients?: Record<string, unknown>; edgemq?: Record<string, unknown> }): Promise<RunningBroker> {
  if (!isEdgemq || !edgemq) return startBroker();
  const port = await freePort();
  return startBroker({ port, config: edgemqConfig(port, edgemq) });
}

export function edgemqConfig(port: number, spec: { clients?: Record<string, unknown>; edgemq?: Record<string, unknown> }): string {
  const brokerSpec: Record<string, unknown> = {};
  if (spec.clients) brokerSpec.advanced = { clients: spec.clients };
  if (spec.edgemq) brokerSpec.edgemq = spec.edgemq;
  return [
    JSON.stringify({ apiVersion: 'mq.edgemq.io/v1beta1', kind: 'Broker', metadata: { name: 'default' }, spec: brokerSpec }),
    JSON.stringify({ apiVersion: 'mq.edgemq.io/v1beta1', kind: 'BrokerListener', metadata: { name: 'listener' }, spec: { brokerRef: 'default', port } }),
  ].join('\n---\n') + '\n';
}
