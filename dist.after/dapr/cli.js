/**
 * `edgemq dapr-components [flags]`: serves the Dapr pluggable components until SIGTERM/SIGINT.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../mqtt/errors.js';
import { createLogger } from '../observability/logger.js';
import { AZURE_SOCKETS, DEFAULT_SOCKETS, socketExtensionFromEnv, socketsFolderFromEnv, startDaprComponents } from './server.js';
export const DAPR_COMPONENTS_USAGE = `dapr-components flags:
  --sockets-folder DIR  where daprd looks for component sockets (default: $DAPR_COMPONENTS_SOCKETS_FOLDER,
                        $DAPR_COMPONENT_SOCKETS_FOLDER, $DAPR_COMPONENT_SOCKET_FOLDER, else /tmp/dapr-components-sockets)
  --pubsub NAME         serve a pub/sub socket NAME.sock (type pubsub.NAME; repeatable; default edgemq-pubsub)
  --state NAME          serve a state store socket NAME.sock (type state.NAME; repeatable; default edgemq-state)
  --azure-names         also serve Azure IoT MQ's types: aio-mq-pubsub-pluggable, aio-mq-statestore-pluggable, azure.iotoperations
  --log-level LEVEL     trace|debug|info|warn|error|fatal (default info)
`;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
export async function runDaprComponents(args) {
    const { values } = parseArgs({
        args,
        options: {
            'sockets-folder': { type: 'string' },
            pubsub: { type: 'string', multiple: true },
            state: { type: 'string', multiple: true },
            'azure-names': { type: 'boolean', default: false },
            'log-level': { type: 'string', default: 'info' },
        },
        strict: true,
    });
    const sockets = [];
    if (!values.pubsub && !values.state)
        sockets.push(...DEFAULT_SOCKETS);
    for (const name of values.pubsub ?? [])
        sockets.push({ name, kinds: ['pubsub'] });
    for (const name of values.state ?? [])
        sockets.push({ name, kinds: ['state'] });
    if (values['azure-names'])
        sockets.push(...AZURE_SOCKETS);
    const seen = new Set();
    for (const s of sockets) {
        if (!NAME.test(s.name))
            throw new ConfigError(`--pubsub/--state: "${s.name}" is not a valid component name`);
        if (seen.has(s.name))
            throw new ConfigError(`--pubsub/--state: "${s.name}" is given twice`);
        seen.add(s.name);
    }
    const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
    if (!levels.includes(values['log-level']))
        throw new ConfigError(`--log-level: "${values['log-level']}" is not one of ${levels.join(', ')}`);
    const log = createLogger(values['log-level']);
    const running = await startDaprComponents({
        folder: values['sockets-folder'] ?? socketsFolderFromEnv(),
        extension: socketExtensionFromEnv(),
        sockets,
        log,
    });
    let stopping = false;
    const stop = () => {
        if (stopping)
            return;
        stopping = true;
        running.stop().then(() => process.exit(0), () => process.exit(1));
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
}
//# sourceMappingURL=cli.js.map