#!/usr/bin/env -S node --max-semi-space-size=8
/**
 * The `edgemq` command. Each subcommand is one role or tool; errors are printed as one line naming
 * the flag or resource field at fault, with exit code 2 for usage/config errors.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../mqtt/errors.js';
import { StorageError } from '../storage/partition-store.js';
import { OPS_PORT_IN_USE_EXIT, OpsPortInUseError } from '../util/http-listen.js';
import { serve } from './serve.js';
import { stopOnSignals } from './signals.js';
import { UsageError } from './usage.js';

const USAGE = `usage: edgemq <command> [flags]

commands:
  serve          run the broker (front end + back end + coordinator in one process)
  status         show a running broker's clients, sessions, listeners and resource status (admin API)
  passwd         add, replace or delete a user in a passwords.toml (PBKDF2-SHA512 PHC hashes)
  authn-webhook  run the reference custom-authentication webhook (Azure IoT MQ protocol 0.5.0) over HTTPS
  crds           print the CustomResourceDefinitions of edgemq's kinds (multi-document YAML, as in helm/edgemq/crds/)
  dapr-components  serve the Dapr pub/sub and state store pluggable components on Unix sockets (see below)
  connector      run the MQTT bridges of MqttBridgeConnector/MqttBridgeTopicMap resources (see below)
  cluster        run a cluster of separate processes on this machine (etcd, coordinator, back ends, front ends)
  frontend       run one cluster front end (client listeners; reaches partitions over the internal transport)
  backend        run one cluster back end (the partitions the cluster map gives it)
  coordinator    run the cluster coordinator (elected through etcd; writes the cluster map)

serve flags:
  --config FILE      Broker/BrokerListener resources (YAML, multi-document; repeatable; a directory loads its *.yaml)
  --data-dir DIR     durable state (default ./data)
  --host ADDR        bind address of every listener (default 127.0.0.1; Kubernetes passes 0.0.0.0)
  --port N           port of the default listener when no --config is given (default 1883)
  --log-level LEVEL  trace|debug|info|warn|error|fatal (default: the Broker resource's, else info)
  --secrets-dir DIR  secrets/ConfigMaps named by resources, as <DIR>/<name>/<key> (default: secrets/ beside the config)
  --allow-anonymous  serve ports without authentication on non-loopback addresses too (logged as a warning)
  --metrics-port N   /metrics, /healthz, /readyz (default: Broker spec.diagnostics.metrics.prometheusPort, 9600; 0 = off)
  --admin-port N     admin API and web console (default: Broker spec.edgemq.admin.port, 9601; 0 = off)

status [flags]:     the broker's state from its admin API, as a table (or --json)
  --url URL          admin API (default http://127.0.0.1:9601)
  --token-file FILE  bearer token (default: $EDGEMQ_ADMIN_TOKEN)
  --json             print the raw JSON

passwd FILE USERNAME [flags]:
  --password P | --password-stdin   the new password (default: read one line from stdin)
  --attribute KEY=VALUE             user attribute for authorization rules (repeatable)
  --iterations N                    PBKDF2 iterations (default 210000)
  --expiry-seconds N                credential lifetime the reference webhook reports (optional)
  --delete                          remove the user

authn-webhook flags:
  --users FILE       users in passwords.toml format (reloaded on change)
  --cert FILE --key FILE   HTTPS server certificate and key
  --client-ca FILE   require broker client certificates signed by this CA (mutual TLS)
  --host ADDR        bind address (default 127.0.0.1)   --port N  (default 8443; 0 = any free port)
`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return runServe(rest);
    case 'passwd':
      return runPasswd(rest);
    case 'status': {
      const { runStatus } = await import('./status.js');
      return runStatus(rest);
    }
    case 'authn-webhook':
      return runAuthnWebhook(rest);
    case 'connector': {
      const { runConnector } = await import('./connector.js');
      return runConnector(rest);
    }
    case 'dapr-components': {
      const { runDaprComponents } = await import('../dapr/cli.js');
      return runDaprComponents(rest);
    }
    case 'cluster': {
      const { runCluster } = await import('./cluster.js');
      return runCluster(rest);
    }
    case 'frontend':
    case 'backend':
    case 'coordinator': {
      const { runRoleCommand } = await import('./roles.js');
      return runRoleCommand(command, rest);
    }
    case 'crds': {
      if (rest.length > 0) throw new UsageError('crds: takes no arguments');
      const { renderCrdsYaml } = await import('../operator/crds.js');
      process.stdout.write(renderCrdsYaml());
      return;
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      process.stdout.write(`\n${(await import('./cluster.js')).CLUSTER_USAGE}\n${(await import('./roles.js')).ROLES_USAGE}`);
      process.stdout.write(`\n${(await import('../dapr/cli.js')).DAPR_COMPONENTS_USAGE}`);
      process.stdout.write(`\n${(await import('./connector.js')).CONNECTOR_USAGE}`);
      return;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

async function runServe(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', multiple: true },
      'data-dir': { type: 'string', default: 'data' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      'log-level': { type: 'string' },
      'secrets-dir': { type: 'string' },
      'allow-anonymous': { type: 'boolean', default: false },
      'metrics-port': { type: 'string' },
      'admin-port': { type: 'string' },
    },
    strict: true,
  });
  const portFlag = (flag: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--${flag}: "${v}" is not a port number (0-65535)`);
    return n;
  };
  const port = portFlag('port', values.port);
  const metricsPort = portFlag('metrics-port', values['metrics-port']);
  const adminPort = portFlag('admin-port', values['admin-port']);
  const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
  if (values['log-level'] && !levels.includes(values['log-level'])) {
    throw new UsageError(`--log-level: "${values['log-level']}" is not one of ${levels.join(', ')}`);
  }
  const broker = await serve({
    configFiles: values.config ?? [],
    dataDir: values['data-dir']!,
    host: values.host!,
    port,
    logLevel: values['log-level'],
    ...(values['secrets-dir'] !== undefined ? { secretsDir: values['secrets-dir'] } : {}),
    allowAnonymous: values['allow-anonymous'] === true,
    ...(metricsPort !== undefined ? { metricsPort } : {}),
    ...(adminPort !== undefined ? { adminPort } : {}),
  });
  stopOnSignals(() => broker.stop());
}

async function runPasswd(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      password: { type: 'string' },
      'password-stdin': { type: 'boolean', default: false },
      attribute: { type: 'string', multiple: true },
      iterations: { type: 'string' },
      'expiry-seconds': { type: 'string' },
      delete: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  const [file, username] = positionals;
  if (file === undefined || username === undefined || positionals.length > 2) throw new UsageError('passwd: expected FILE USERNAME');
  const int = (flag: string, v: string | undefined, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${flag}: "${v}" is not an integer >= ${min}`);
    return n;
  };
  const attributes: Record<string, string> = {};
  for (const a of values.attribute ?? []) {
    const i = a.indexOf('=');
    if (i <= 0) throw new UsageError(`--attribute: "${a}" is not KEY=VALUE`);
    attributes[a.slice(0, i)] = a.slice(i + 1);
  }
  let password = values.password;
  if (!values.delete && password === undefined) password = (await readStdin()).split(/\r?\n/)[0];
  const { passwd } = await import('../security/commands.js');
  const iterations = int('iterations', values.iterations, 1000);
  const expirySeconds = int('expiry-seconds', values['expiry-seconds'], 1);
  const message = await passwd({
    file,
    username,
    ...(password !== undefined ? { password } : {}),
    attributes,
    ...(iterations !== undefined ? { iterations } : {}),
    ...(expirySeconds !== undefined ? { expirySeconds } : {}),
    delete: values.delete === true,
  });
  process.stdout.write(`${file}: ${message}\n`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function runAuthnWebhook(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      users: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      'client-ca': { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8443' },
    },
    strict: true,
  });
  if (!values.users || !values.cert || !values.key) throw new UsageError('authn-webhook: --users, --cert and --key are required');
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: "${values.port}" is not a port number (0-65535)`);
  const { startAuthnWebhook } = await import('../security/commands.js');
  const server = await startAuthnWebhook({
    users: values.users,
    cert: values.cert,
    key: values.key,
    ...(values['client-ca'] ? { clientCa: values['client-ca'] } : {}),
    host: values.host!,
    port,
  });
  const stop = () => void server.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError || err instanceof ConfigError || err instanceof StorageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    process.stderr.write(`edgemq: ${(err as Error).message}\n`);
    if (err instanceof UsageError) process.stderr.write(USAGE);
    process.exit(2);
  }
  process.stderr.write(`edgemq: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof OpsPortInUseError ? OPS_PORT_IN_USE_EXIT : 1);
});
