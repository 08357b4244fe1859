/**
 * `edgemq connector --config FILE…`: loads MqttBridgeConnector/MqttBridgeTopicMap resources and runs
 * their routes until SIGTERM/SIGINT. The process holds no state of its own: the brokers' sessions
 * hold every message not yet forwarded, so it can be killed and restarted at any time.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConnectorConfig } from '../config/load-connectors.js';
import { BridgeRunner } from '../connectors/connector.js';
import { ConfigError } from '../mqtt/errors.js';
import { createLogger } from '../observability/logger.js';
import { SecretStore } from '../security/secrets.js';
import { defaultSecretsDir } from './serve.js';
import { stopOnSignals } from './signals.js';

export const CONNECTOR_USAGE = `connector flags:
  --config FILE        MqttBridgeConnector and MqttBridgeTopicMap resources (repeatable; a directory loads its *.yaml)
  --secrets-dir DIR    secrets/ConfigMaps named by the resources, as <DIR>/<name>/<key> (default: secrets/ beside the first config)
  --log-level LEVEL    trace|debug|info|warn|error (default: the connector's spec.logLevel, else info)
  --stats-interval S   log every route's counters each S seconds (default 60; 0 = never)
`;

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export async function runConnector(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', multiple: true },
      'secrets-dir': { type: 'string' },
      'log-level': { type: 'string' },
      'stats-interval': { type: 'string', default: '60' },
    },
    strict: true,
  });
  const files = values.config ?? [];
  if (files.length === 0) throw new ConfigError('connector: --config is required (MqttBridgeConnector and MqttBridgeTopicMap resources)');
  const stats = Number(values['stats-interval']);
  if (!Number.isFinite(stats) || stats < 0) throw new ConfigError(`--stats-interval: "${values['stats-interval']}" is not a number of seconds >= 0`);
  const loaded = loadConnectorConfig(files);
  const level = values['log-level'] ?? loaded.connectors.find((c) => c.logLevel !== undefined)?.logLevel ?? 'info';
  if (!LEVELS.includes(level)) throw new ConfigError(`--log-level: "${level}" is not one of ${LEVELS.join(', ')}`);
  const log = createLogger(level).child({ role: 'connector' });
  for (const w of loaded.warnings) log.warn(w);
  const secrets = new SecretStore(path.resolve(values['secrets-dir'] ?? defaultSecretsDir(files)));
  const runner = new BridgeRunner(loaded.connectors, secrets, log);
  runner.start(stats * 1000);
  stopOnSignals(async (signal) => {
    log.info({ signal }, 'connector stopping');
    await runner.stop();
  });
}
