#!/usr/bin/env node
/**
 * The `edgemq` command. Each subcommand is one role or tool; errors are printed as one line naming
 * the flag or resource field at fault, with exit code 2 for usage/config errors.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../mqtt/errors.js';
import { StorageError } from '../storage/partition-store.js';
import { serve } from './serve.js';

const USAGE = `usage: edgemq <command> [flags]

commands:
  serve     run the broker (front end + back end + coordinator in one process)

serve flags:
  --config FILE      Broker/BrokerListener resources (YAML, multi-document; repeatable; a directory loads its *.yaml)
  --data-dir DIR     durable state (default ./data)
  --host ADDR        bind address of every listener (default 127.0.0.1; Kubernetes passes 0.0.0.0)
  --port N           port of the default listener when no --config is given (default 1883)
  --log-level LEVEL  trace|debug|info|warn|error|fatal (default: the Broker resource's, else info)
`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return runServe(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
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
    },
    strict: true,
  });
  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: "${values.port}" is not a port number (0-65535)`);
  }
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
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    broker
      .stop()
      .then(() => process.exit(0))
      .catch((err) => {
        process.stderr.write(`edgemq: error while stopping after ${signal}: ${err}\n`);
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError || err instanceof ConfigError || err instanceof StorageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    process.stderr.write(`edgemq: ${(err as Error).message}\n`);
    if (err instanceof UsageError) process.stderr.write(USAGE);
    process.exit(2);
  }
  process.stderr.write(`edgemq: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
