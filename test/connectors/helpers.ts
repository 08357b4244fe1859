/**
 * Real peers for the bridge tests: a Debian Mosquitto as the remote ("cloud") broker on a free
 * loopback port, and `edgemq connector` as its own process (tsx), both stopped by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { edgemqCommand, freePort, repoRoot, startBroker, waitForPort, type RunningBroker } from '../helpers/broker.js';

export const MOSQUITTO = '/usr/sbin/mosquitto';

export function tempDir(prefix = 'edgemq-bridge-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface Mosquitto {
  port: number;
  dir: string;
  start(): Promise<void>;
  /** SIGTERM: Mosquitto writes its persistence file on the way out. */
  stop(): Promise<void>;
  output(): string;
}

export interface MosquittoOptions {
  /** Lines added to the listener (e.g. TLS settings). */
  listener?: string[];
  /** Keep sessions and queued messages across restarts. */
  persistence?: boolean;
  /** Lines before everything else (e.g. per_listener_settings). */
  head?: string[];
  /** Extra lines at the end (more listeners). */
  extra?: string[];
  port?: number;
}

export async function mosquitto(o: MosquittoOptions = {}): Promise<Mosquitto> {
  const port = o.port ?? (await freePort());
  const dir = tempDir('edgemq-mosquitto-');
  const conf = path.join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      ...(o.head ?? []),
      // Run as root (CI), Mosquitto would switch to its own user and could not read our temp files.
      'user root',
      `listener ${port} 127.0.0.1`,
      ...(o.listener ?? []),
      'allow_anonymous true',
      'max_queued_messages 100000',
      'max_inflight_messages 20',
      ...(o.persistence ? ['persistence true', `persistence_location ${dir}/`, 'autosave_interval 1'] : []),
      ...(o.extra ?? []),
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  let out = '';
  const m: Mosquitto = {
    port,
    dir,
    output: () => out,
    async start() {
      const c = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      c.stdout?.on('data', (d) => (out += d));
      c.stderr?.on('data', (d) => (out += d));
      const exited = new Promise<never>((_, reject) => c.once('exit', (code) => reject(new Error(`mosquitto exited (${code}):\n${out}`))));
      await Promise.race([waitForPort(port), exited]);
      exited.catch(() => {});
    },
    async stop() {
      const c = child;
      child = undefined;
      if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await exited;
    },
  };
  await m.start();
  return m;
}

export interface Connector {
  process: ChildProcess;
  output(): string;
  /** Latest `bridge route statistics` log line's routes, by route name. */
  stats(): Record<string, Record<string, unknown>>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export function startConnector(configFile: string, args: string[] = []): Connector {
  // The default metrics port (9600) is fixed; tests run side by side, so theirs is off or a free one.
  const metrics = args.includes('--metrics-port') ? [] : ['--metrics-port', 'off'];
  const c = edgemqCommand(['connector', '--config', configFile, '--stats-interval', '0.2', ...metrics, ...args]);
  const child = spawn(c.cmd, c.args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    process: child,
    output: () => out,
    stats() {
      if (child.exitCode !== null) throw new Error(`the connector exited with code ${child.exitCode}:\n${out}`);
      const lines = out.split('\n').filter((l) => l.includes('"bridge route statistics"'));
      const last = lines[lines.length - 1];
      if (last === undefined) return {};
      const routes = (JSON.parse(last) as { routes: Array<Record<string, unknown>> }).routes;
      return Object.fromEntries(routes.map((r) => [String(r.route), r]));
    },
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export function writeConfig(dir: string, text: string): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'bridge.yaml');
  writeFileSync(file, text);
  return file;
}

export async function connect(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  return client;
}

const T0 = Date.now();
export async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  if (process.env.DEBUG_BRIDGE) console.log(`${Date.now() - T0} ms: waiting for ${what}`);
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A connector resource pair for a plain-TCP MQTT 5 remote; `routes` is YAML of the routes list. */
export function bridgeYaml(o: { localPort: number; remotePort: number; routes: string; connector?: string; remoteExtra?: string; spec?: string }): string {
  return `apiVersion: mq.iotoperations.azure.com/v1beta1
kind: MqttBridgeConnector
metadata: {name: ${o.connector ?? 'cloud'}}
spec:
  protocol: v5
  clientIdPrefix: site1-
  remoteBrokerConnection:
    endpoint: 127.0.0.1:${o.remotePort}
    tls: {tlsEnabled: false}
${o.remoteExtra ?? ''}
  localBrokerConnection:
    endpoint: 127.0.0.1:${o.localPort}
  edgemq: {reconnectMinDelayMs: 50, reconnectMaxDelayMs: 400${o.spec ?? ''}}
---
apiVersion: mq.iotoperations.azure.com/v1beta1
kind: MqttBridgeTopicMap
metadata: {name: ${o.connector ?? 'cloud'}-routes}
spec:
  mqttBridgeConnectorRef: ${o.connector ?? 'cloud'}
  routes:
${o.routes}
`;
}

/** A persistent-session QoS 1 subscriber that reconnects by itself (it outlives broker restarts). */
export async function persistentSubscriber(url: string, clientId: string, filter: string): Promise<{ payloads: string[]; client: MqttClient }> {
  const payloads: string[] = [];
  const client = mqtt.connect(url, {
    protocolVersion: 5,
    clientId,
    clean: false,
    reconnectPeriod: 100,
    properties: { sessionExpiryInterval: 3600 },
  });
  client.on('error', () => {});
  client.on('message', (_t, payload) => payloads.push(payload.toString()));
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  await client.subscribeAsync(filter, { qos: 1 });
  return { payloads, client };
}

/** Publishes `count` QoS 1 messages `0..count-1` one after the other, each acknowledged, `gapMs` apart. */
export async function steadyStream(client: MqttClient, topic: string, count: number, gapMs = 2, from = 0): Promise<void> {
  for (let i = from; i < from + count; i++) {
    await client.publishAsync(topic, String(i), { qos: 1 });
    if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
  }
}

/**
 * Nothing lost and order kept: the first occurrences are exactly 0..count-1 in order. Returns the
 * number of duplicates (QoS 1 is at least once).
 */
export function checkSequence(payloads: string[], count: number): { duplicates: number; firstOccurrences: number[] } {
  const seen = new Set<string>();
  const first: number[] = [];
  for (const p of payloads) {
    if (seen.has(p)) continue;
    seen.add(p);
    first.push(Number(p));
  }
  return { duplicates: payloads.length - first.length, firstOccurrences: first };
}

/** Stops what `oneRoute` started; call from `afterEach`. */
const cleanups: Array<() => Promise<void> | void> = [];
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}
export async function runCleanups(): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) await c();
}

export interface OneRoute {
  local: RunningBroker;
  remote: Mosquitto;
  file: string;
  connector(): Connector;
  restartConnector(): Connector;
}

/**
 * edgemq, a Mosquitto with persistence and a connector with one route named `up` (by default local
 * `data/#` to remote `cloud/{topic}`, QoS 1), connected on both sides.
 */
export async function oneRoute(spec = '', route = "{name: up, direction: local-to-remote, qos: 1, source: 'data/#', target: 'cloud/{topic}'}"): Promise<OneRoute> {
  const dir = tempDir();
  const [local, remote] = await Promise.all([startBroker(), mosquitto({ persistence: true })]);
  const file = writeConfig(
    dir,
    bridgeYaml({ localPort: local.port, remotePort: remote.port, spec, routes: `  - ${route}` }),
  );
  let current = startConnector(file);
  onCleanup(async () => {
    await current.kill('SIGKILL');
    await local.stop();
    await remote.stop();
    rmSync(remote.dir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });
  await until('the route connected', () => current.stats().up?.sourceConnections === 1 && current.stats().up?.targetConnections === 1);
  return { local, remote, file, connector: () => current, restartConnector: () => (current = startConnector(file)) };
}
