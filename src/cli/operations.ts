/**
 * Everything an operator talks to, started next to the broker roles in one call: the metrics port
 * (/metrics, /healthz, /readyz), the self-check probe and the admin API with the web console.
 *
 * `startOperations` runs before the broker's state is recovered, so /readyz answers 503 during a long
 * recovery instead of refusing connections; `attach` hands over the running parts once they exist.
 * A role that serves clients (`edgemq serve`, a cluster front end) calls both; the rest of serve
 * does not know what is inside.
 */
import os from 'node:os';
import type { Logger } from 'pino';
import type { AdminServer } from '../admin/server.js';
import { AdminRequestError, type AdminContext, type AdminResources, type AdminSessions, type ApplyOutcome } from '../admin/context.js';
import { loadServeConfig, overlay, readApplied, writeApplied } from '../config/applied.js';
import { configFromDocuments, type LoadOptions } from '../config/load.js';
import type { LoadedConfig, OperationsSettings } from '../config/model.js';
import { readYamlResources } from '../config/yaml-documents.js';
import type { BrokerCore, BrokerInspector, BrokerStats } from '../core/broker-core.js';
import type { FrontEnd } from '../frontend/frontend.js';
import { isLoopbackHost } from '../frontend/frontend.js';
import { ConfigError } from '../mqtt/errors.js';
import { OpsServer, Readiness } from '../observability/health.js';
import type { LatencyHistogram } from '../observability/histogram.js';
import type { BrokerMetrics, DirectQos0Counts } from '../observability/metrics.js';
import { SelfCheck } from '../observability/self-check.js';
import { EDGEMQ_VERSION } from '../observability/sys-topics.js';
import type { Security } from '../security/security.js';
import { SecretStore } from '../security/secrets.js';

export const READY_STATE = 'state recovered';
export const READY_LISTENERS = 'listeners open';
/** A cluster front end: the link to every partition's head is up (its subscription index is complete). */
export const READY_PARTITIONS = 'partitions reachable';

export interface OperationsOptions {
  settings: OperationsSettings;
  /** Bind address (the broker's `--host`). */
  host: string;
  log: Logger;
  secretsDir: string;
  dataDir: string;
  configFiles: string[];
  loadOptions: LoadOptions;
  /** Command-line overrides of the ports (0 = not served). */
  metricsPort?: number;
  adminPort?: number;
  /** Constant metric labels on a cluster: `{role, node}`. */
  labels?: Record<string, string>;
  /** Added to every listener port (front end i of a local cluster), so listeners are matched with what is open. */
  portOffset?: number;
}

export interface ReloadResult {
  applied: boolean;
  sessionsEnded: number;
  error?: string;
}

export interface AttachOptions {
  core: BrokerCore & BrokerInspector;
  /**
   * What the metrics count, when not the core's stats (a cluster front end: its own traffic and
   * connections, without the partitions' state, which the back ends report).
   */
  metricsStats?: { stats(): BrokerStats; partitionState: false; directQos0?: () => DirectQos0Counts };
  frontEnd: FrontEnd;
  security: Security;
  brokerName: string;
  logWriteLatency?: LatencyHistogram;
  /** The broker's configuration reload (what a changed config file triggers). */
  reload(): ReloadResult;
}

export interface Operations {
  readonly readiness: Readiness;
  /** Ports actually bound (0 = not served), for tests and logs. */
  readonly metricsPort: number;
  readonly adminPort: number;
  stateRecovered(): void;
  attach(a: AttachOptions): Promise<void>;
  stop(): Promise<void>;
}

/** Counter for the connection ids of admin actions (negative: in-process, never a socket's). */
let adminConnectionId = -1000;

export async function startOperations(o: OperationsOptions): Promise<Operations> {
  const log = o.log.child({ component: 'operations' });
  const readiness = new Readiness();
  readiness.expect(READY_STATE);
  readiness.expect(READY_LISTENERS);
  const adminPort = o.adminPort ?? o.settings.adminPort;
  const tls = adminTlsOf(o, adminPort);
  const token = adminToken(o, adminPort, log, tls?.ca !== undefined);

  let metrics: BrokerMetrics | undefined;
  const metricsPort = o.metricsPort ?? o.settings.metricsPort;
  const ops = metricsPort > 0 ? new OpsServer({ host: o.host, port: metricsPort, readiness, metrics: () => metrics, log }) : undefined;
  await ops?.start();

  let selfCheck: SelfCheck | undefined;
  let admin: AdminServer | undefined;
  const startedAt = Date.now();

  return {
    readiness,
    get metricsPort() {
      return ops?.port ?? 0;
    },
    get adminPort() {
      return admin?.port ?? 0;
    },
    stateRecovered() {
      readiness.set(READY_STATE, true);
    },
    async attach(a) {
      // Ready while every listener opened at start is still listening.
      readiness.set(READY_LISTENERS, () => a.frontEnd.listening);
      // prom-client and express load only when something serves them: a broker with both ports off
      // (the tests' brokers) starts without them.
      if (ops || token !== null) {
        const { createMetrics } = await import('../observability/metrics.js');
        metrics = createMetrics({
          stats: a.metricsStats ? () => a.metricsStats!.stats() : () => a.core.stats(),
          ...(a.metricsStats ? { partitionState: false } : {}),
          ...(a.metricsStats?.directQos0 ? { directQos0: a.metricsStats.directQos0 } : {}),
          frontEnd: a.frontEnd,
          security: a.security.counters,
          ...(a.logWriteLatency ? { logWriteLatency: a.logWriteLatency } : {}),
          ...(o.labels ? { labels: o.labels } : {}),
        });
      }
      const sc = o.settings.selfCheck;
      if (sc.enabled) {
        selfCheck = new SelfCheck({
          core: a.core,
          intervalSeconds: sc.intervalSeconds,
          timeoutSeconds: sc.timeoutSeconds,
          ...(metrics ? { metrics: metrics.selfCheck } : {}),
          log: log.child({ component: 'selfcheck' }),
          node: os.hostname(),
        });
        selfCheck.start();
      }
      if (token === null || !metrics) return;
      const m = metrics;
      const { AdminServer, adminApp } = await import('../admin/server.js');
      const ctx: AdminContext = {
        brokerName: a.brokerName,
        version: EDGEMQ_VERSION,
        startedAt,
        frontEnd: a.frontEnd,
        sessions: adminSessions(a.core),
        resources: adminResources(o, a),
        readiness,
        ...(selfCheck ? { selfCheck } : {}),
        metricsJson: () => m.json(),
      };
      admin = new AdminServer(adminApp(ctx, token, undefined, tls?.ca !== undefined), o.host, adminPort, log, tls);
      await admin.start();
    },
    async stop() {
      selfCheck?.stop();
      await admin?.close();
      await ops?.close();
    },
  };
}

/**
 * The admin API's token source; `undefined` = open (loopback only), `null` = the API is not served.
 * Never open on a non-loopback address: without a token it is refused (an error when the Broker
 * asks for the API explicitly with `mode: Enabled`, else a logged error and no API).
 */
function adminToken(o: OperationsOptions, port: number, log: Logger, mutualTls: boolean): (() => string | undefined) | undefined | null {
  if (port <= 0) return null;
  const ref = o.settings.adminTokenSecretRef;
  if (ref === undefined) {
    if (isLoopbackHost(o.host) || mutualTls) return undefined;
    const message = `Broker spec.edgemq.admin.tokenSecretRef: the admin API would serve ${o.host}:${port} without authentication; name a secret holding a bearer token, set spec.edgemq.admin.tls.trustedClientCaCert for mutual TLS, or set spec.edgemq.admin.mode: Disabled`;
    if (o.settings.adminRequired) throw new ConfigError(message, 'Broker', 'spec.edgemq.admin.tokenSecretRef');
    log.error(`${message}; the admin API is not started`);
    return null;
  }
  const secrets = new SecretStore(o.secretsDir);
  // Read once now, so a missing secret stops the start with a clear error; then on every request.
  const first = secrets.read(ref, 'token', 'Broker spec.edgemq.admin.tokenSecretRef').toString('utf8').trim();
  if (first === '') throw new ConfigError(`Broker spec.edgemq.admin.tokenSecretRef: secret '${ref}' key token is empty`, 'Broker', 'spec.edgemq.admin.tokenSecretRef');
  return () => secrets.readOptional(ref, 'token')?.toString('utf8').trim();
}

/** The admin API's HTTPS material, read at start (a missing secret stops the start, naming the field). */
function adminTlsOf(o: OperationsOptions, port: number): { cert: Buffer; key: Buffer; ca?: Buffer } | undefined {
  const t = o.settings.adminTls;
  if (port <= 0 || t === undefined) return undefined;
  const secrets = new SecretStore(o.secretsDir);
  const field = 'Broker spec.edgemq.admin.tls';
  return {
    cert: secrets.read(t.secretName, 'tls.crt', `${field}.secretName`),
    key: secrets.read(t.secretName, 'tls.key', `${field}.secretName`),
    ...(t.trustedClientCaCert !== undefined ? { ca: secrets.read(t.trustedClientCaCert, 'ca.crt', `${field}.trustedClientCaCert`) } : {}),
  };
}

export function adminSessions(core: BrokerCore & BrokerInspector): AdminSessions {
  return {
    stats: () => core.stats(),
    sessions: () => core.sessions(),
    session: (id) => core.session(id),
    retained: () => core.retained(),
    async deleteSession(clientId) {
      // The ordinary commands, so the deletion is logged and replicated like any client's: a clean
      // start takes the session over (its live connection is kicked) and a normal disconnect with
      // expiry 0 ends it.
      const connectionId = adminConnectionId--;
      const sink = { deliver() {}, release() {}, kick() {} };
      await core.connect({ clientId, connectionId, protocolVersion: 5, cleanStart: true, sessionExpirySeconds: 0, receiveMaximum: 1 }, sink);
      await core.disconnect({ clientId, connectionId, normal: true, sessionExpirySeconds: 0 });
    },
    async clearRetained(topic) {
      await core.publish('', { topic, payload: Buffer.alloc(0), qos: 1, retain: true, origin: '' });
    },
  };
}

export function adminResources(o: Pick<OperationsOptions, 'configFiles' | 'dataDir' | 'loadOptions' | 'portOffset'>, a: Pick<AttachOptions, 'security' | 'reload'>): AdminResources {
  const current = () => {
    const c = loadServeConfig(o.configFiles, o.dataDir, o.loadOptions);
    if (o.portOffset) for (const l of c.config.listeners) for (const p of l.ports) p.port += o.portOffset;
    return c;
  };
  const check = (yaml: string): { next: LoadedConfig; incoming: ReturnType<typeof readYamlResources> } => {
    const incoming = readYamlResources(yaml, 'request body');
    if (incoming.length === 0) throw new AdminRequestError(400, 'request body holds no resources');
    const next = configFromDocuments(overlay(current().documents, incoming), o.loadOptions);
    try {
      a.security.check(next);
    } catch (err) {
      throw new AdminRequestError(422, `refused: ${(err as Error).message}`);
    }
    return { next, incoming };
  };
  return {
    current,
    validate(yaml): ApplyOutcome {
      return { applied: false, warnings: check(yaml).next.warnings, sessionsEnded: 0 };
    },
    apply(yaml): ApplyOutcome {
      const { next, incoming } = check(yaml);
      const before = readApplied(o.dataDir);
      writeApplied(o.dataDir, overlay(before, incoming));
      const r = a.reload();
      if (!r.applied) {
        writeApplied(o.dataDir, before); // what is stored stays what is in force
        throw new AdminRequestError(422, `not applied: ${r.error ?? 'the reload failed'}`);
      }
      return { applied: true, warnings: next.warnings, sessionsEnded: r.sessionsEnded };
    },
  };
}
