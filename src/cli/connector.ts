/**
 * `edgemq connector --config FILE…`: loads MqttBridgeConnector/MqttBridgeTopicMap resources and runs
 * their routes until SIGTERM/SIGINT, with Prometheus metrics and health probes on --metrics-port. The process holds no state of its own: the brokers' sessions
 * hold every message not yet forwarded, so it can be killed and restarted at any time.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConnectorConfig } from '../config/load-connectors.js';
import { BridgeRunner } from '../connectors/connector.js';
import { ConfigError } from '../mqtt/errors.js';
import { createConnectorMetrics } from '../observability/connector-metrics.js';
import { OpsServer, Readiness } from '../observability/health.js';
import { createLogger } from '../observability/logger.js';
import { SecretStore } from '../security/secrets.js';
import { defaultSecretsDir } from './serve.js';
import { stopOnSignals } from './signals.js';

export const CONNECTOR_USAGE = `connector flags:
  --config FILE        MqttBridgeConnector and MqttBridgeTopicMap resources (repeatable; a directory loads its *.yaml)
  --secrets-dir DIR    secrets/ConfigMaps named by the resources, as <DIR>/<name>/<key> (default: secrets/ beside the first config)
  --log-level LEVEL    trace|debug|info|warn|error (default: the connector's spec.logLevel, else info)
  --stats-interval S   log every route's counters each S seconds (default 60; 0 = never)
  --metrics-port N     serve /metrics, /healthz and /readyz on N (default 9600, Azure's prometheusPort;
                       0 = a free port, logged; off = none)
  --metrics-host H     address of the metrics port (default 127.0.0.1; the Helm chart uses 0.0.0.0)
`;

/** The port the metrics and probes use unless --metrics-port says otherwise (Azure's diagnostics default). */
export const CONNECTOR_METRICS_PORT = 9600;

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export async function runConnector(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', multiple: true },
      'secrets-dir': { type: 'string' },
      'log-level': { type: 'string' },
      'stats-interval': { type: 'string', default: '60' },
      'metrics-port': { type: 'string', default: String(CONNECTOR_METRICS_PORT) },
      'metrics-host': { type: 'string', default: '127.0.0.1' },
    },
    strict: true,
  });
  const files = values.config ?? [];
  if (files.length === 0) throw new ConfigError('connector: --config is required (MqttBridgeConnector and MqttBridgeTopicMap resources)');
  const stats = Number(values['stats-interval']);
  if (!Number.isFinite(stats) || stats < 0) throw new ConfigError(`--stats-interval: "${values['stats-interval']}" is not a number of seconds >= 0`);
  const metricsPort = values['metrics-port'] === 'off' ? undefined : Number(values['metrics-port']);
  if (metricsPort !== undefined && (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535)) {
    throw new ConfigError(`--metrics-port: "${values['metrics-port']}" is not a port number (0-65535) or off`);
  }
  const loaded = loadConnectorConfig(files);
  const level = values['log-level'] ?? loaded.connectors.find((c) => c.logLevel !== undefined)?.logLevel ?? 'info';
  if (!LEVELS.includes(level)) throw new ConfigError(`--log-level: "${level}" is not one of ${LEVELS.join(', ')}`);
  const log = createLogger(level).child({ role: 'connector' });
  for (const w of loaded.warnings) log.warn(w);
  const secrets = new SecretStore(path.resolve(values['secrets-dir'] ?? defaultSecretsDir(files)));
  const runner = new BridgeRunner(loaded.connectors, secrets, log);
  // Ready once every bridge client of every route has reached both brokers; it stays ready through
  // later outages, which are the offline operation the bridge exists for (its backlog grows meanwhile).
  const readiness = new Readiness();
  for (const { route } of runner.connectedOnce()) {
    readiness.set(`route ${route} connected to source and target`, () => runner.connectedOnce().find((r) => r.route === route)!.connected);
  }
  const metrics = createConnectorMetrics(() => runner.metrics());
  const ops =
    metricsPort === undefined
      ? undefined
      : new OpsServer({ host: values['metrics-host']!, port: metricsPort, readiness, metrics: () => metrics, log, field: '--metrics-port' });
  // Before the routes, so /readyz answers "not ready" (not "connection refused") while they connect.
  await ops?.start().catch((err: Error) => {
    // The usual cause: an `edgemq serve` on the same host holds the same default port.
    const hint = metricsPort === CONNECTOR_METRICS_PORT && err.message.endsWith('EADDRINUSE') ? ' (edgemq serve uses 9600 too: choose another --metrics-port, or off)' : '';
    throw new Error(`${err.message}${hint}`);
  });
  runner.start(stats * 1000);
  stopOnSignals(async (signal) => {
    log.info({ signal }, 'connector stopping');
    await Promise.all([runner.stop(), ops?.close()]);
  });
}
