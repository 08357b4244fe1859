/**
 * `edgemq dapr-components [flags]`: serves the Dapr pluggable components until SIGTERM/SIGINT.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../mqtt/errors.js';
import { OpsServer, Readiness } from '../observability/health.js';
import { createLogger } from '../observability/logger.js';
import type { createComponentMetrics } from '../observability/metrics.js';
import { AZURE_SOCKETS, DEFAULT_SOCKETS, socketExtensionFromEnv, socketsFolderFromEnv, startDaprComponents, type ComponentSocket } from './server.js';

export const DAPR_COMPONENTS_USAGE = `dapr-components flags:
  --sockets-folder DIR  where daprd looks for component sockets (default: $DAPR_COMPONENTS_SOCKETS_FOLDER,
                        $DAPR_COMPONENT_SOCKETS_FOLDER, $DAPR_COMPONENT_SOCKET_FOLDER, else /tmp/dapr-components-sockets)
  --pubsub NAME         serve a pub/sub socket NAME.sock (type pubsub.NAME; repeatable; default edgemq-pubsub)
  --state NAME          serve a state store socket NAME.sock (type state.NAME; repeatable; default edgemq-state)
  --azure-names         also serve Azure IoT MQ's types: aio-mq-pubsub-pluggable, aio-mq-statestore-pluggable, azure.iotoperations
  --log-level LEVEL     trace|debug|info|warn|error|fatal (default info)
  --metrics-port N      serve /metrics, /healthz and /readyz on 127.0.0.1:N (--metrics-host to change; default off)
`;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export async function runDaprComponents(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      'sockets-folder': { type: 'string' },
      pubsub: { type: 'string', multiple: true },
      state: { type: 'string', multiple: true },
      'azure-names': { type: 'boolean', default: false },
      'log-level': { type: 'string', default: 'info' },
      'metrics-port': { type: 'string' },
      'metrics-host': { type: 'string', default: '127.0.0.1' },
    },
    strict: true,
  });
  const sockets: ComponentSocket[] = [];
  if (!values.pubsub && !values.state) sockets.push(...DEFAULT_SOCKETS);
  for (const name of values.pubsub ?? []) sockets.push({ name, kinds: ['pubsub'] });
  for (const name of values.state ?? []) sockets.push({ name, kinds: ['state'] });
  if (values['azure-names']) sockets.push(...AZURE_SOCKETS);
  const seen = new Set<string>();
  for (const s of sockets) {
    if (!NAME.test(s.name)) throw new ConfigError(`--pubsub/--state: "${s.name}" is not a valid component name`);
    if (seen.has(s.name)) throw new ConfigError(`--pubsub/--state: "${s.name}" is given twice`);
    seen.add(s.name);
  }
  const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
  if (!levels.includes(values['log-level']!)) throw new ConfigError(`--log-level: "${values['log-level']}" is not one of ${levels.join(', ')}`);
  const metricsPort = values['metrics-port'] === undefined ? 0 : Number(values['metrics-port']);
  if (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535) throw new ConfigError(`--metrics-port: "${values['metrics-port']}" is not a port number (0-65535)`);
  const log = createLogger(values['log-level']!);
  // The probe port opens first, so /readyz tells "starting" from "serving".
  const readiness = new Readiness();
  readiness.expect('component sockets serving');
  let metrics: ReturnType<typeof createComponentMetrics> | undefined;
  const ops = metricsPort > 0 ? new OpsServer({ host: values['metrics-host']!, port: metricsPort, readiness, metrics: () => metrics, log }) : undefined;
  await ops?.start();
  const running = await startDaprComponents({
    folder: values['sockets-folder'] ?? socketsFolderFromEnv(),
    extension: socketExtensionFromEnv(),
    sockets,
    log,
  }).catch(async (err: unknown) => {
    await ops?.close();
    throw err;
  });
  if (ops) metrics = (await import('../observability/metrics.js')).createComponentMetrics(running.calls);
  readiness.set('component sockets serving', true);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    Promise.all([running.stop(), ops?.close()]).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
