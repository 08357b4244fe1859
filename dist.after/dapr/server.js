/**
 * `edgemq dapr-components`: one process serving the pluggable components on Unix sockets, the way
 * daprd discovers them: it lists the sockets folder once at start-up, dials every socket, and asks
 * gRPC reflection (v1alpha) which services each serves. The socket's file name without `.sock` is the
 * component type suffix (`edgemq-pubsub.sock` -> `pubsub.edgemq-pubsub`).
 *
 * A stale socket left by a crash would make daprd's discovery fail for every component, so an existing
 * socket file nobody answers on is removed before binding, and ours are removed on shutdown.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { Instances } from './instances.js';
import { loadDaprPackageDefinition, SERVICE, serviceDefinition } from './protos.js';
import { pubSubService } from './pubsub.js';
import { multiMaxSizeService, stateStoreService, transactionalService } from './state.js';
export const DEFAULT_SOCKETS_FOLDER = '/tmp/dapr-components-sockets';
/** The folder daprd and the Kubernetes injector use, under each name in circulation. */
export function socketsFolderFromEnv(env = process.env) {
    return (env.DAPR_COMPONENTS_SOCKETS_FOLDER || env.DAPR_COMPONENT_SOCKETS_FOLDER || env.DAPR_COMPONENT_SOCKET_FOLDER || DEFAULT_SOCKETS_FOLDER);
}
export function socketExtensionFromEnv(env = process.env) {
    return env.DAPR_COMPONENTS_SOCKETS_EXTENSION || '.sock';
}
/** edgemq's own names, plus Azure IoT MQ's (2023 and 2024+) so their Component YAML finds a socket. */
export const DEFAULT_SOCKETS = [
    { name: 'edgemq-pubsub', kinds: ['pubsub'] },
    { name: 'edgemq-state', kinds: ['state'] },
];
export const AZURE_SOCKETS = [
    { name: 'aio-mq-pubsub-pluggable', kinds: ['pubsub'] },
    { name: 'aio-mq-statestore-pluggable', kinds: ['state'] },
    { name: 'azure.iotoperations', kinds: ['pubsub', 'state'] },
];
export async function startDaprComponents(opts) {
    const def = loadDaprPackageDefinition();
    mkdirSync(opts.folder, { recursive: true });
    const servers = [];
    try {
        for (const sock of opts.sockets) {
            const file = path.join(opts.folder, `${sock.name}${opts.extension ?? '.sock'}`);
            if (file.length > 107)
                throw new Error(`socket path ${file} is longer than the 107 bytes a Unix socket allows`);
            await removeStaleSocket(file);
            const log = opts.log.child({ socket: sock.name });
            const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
            const listed = [];
            const pubsub = new Instances();
            const state = new Instances();
            if (sock.kinds.includes('pubsub')) {
                server.addService(serviceDefinition(def, SERVICE.pubsub), pubSubService(pubsub, log));
                listed.push(SERVICE.pubsub);
            }
            if (sock.kinds.includes('state')) {
                server.addService(serviceDefinition(def, SERVICE.state), stateStoreService(state, log));
                server.addService(serviceDefinition(def, SERVICE.transactional), transactionalService(state));
                server.addService(serviceDefinition(def, SERVICE.multiMaxSize), multiMaxSizeService(state));
                listed.push(SERVICE.state, SERVICE.transactional, SERVICE.multiMaxSize);
            }
            // Only this socket's services: a pub/sub socket listing StateStore would also register `state.<name>` in daprd.
            new ReflectionService(def, { services: listed }).addToServer(server);
            await new Promise((resolve, reject) => server.bindAsync(`unix://${file}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
            // daprd and the component may run as different users in a pod sharing the folder (the Go SDK uses umask 0).
            chmodSync(file, 0o777);
            servers.push({
                server,
                file,
                close: async () => {
                    await Promise.all([pubsub.closeAll(), state.closeAll()]);
                    // Open PullMessages streams would hold a graceful shutdown forever: give them a moment, then force.
                    await new Promise((resolve) => {
                        const force = setTimeout(() => {
                            server.forceShutdown();
                            resolve();
                        }, 1000);
                        server.tryShutdown(() => {
                            clearTimeout(force);
                            resolve();
                        });
                    });
                    try {
                        unlinkSync(file);
                    }
                    catch {
                        // already gone
                    }
                },
            });
            log.info({ file, services: listed }, 'serving Dapr components');
        }
    }
    catch (err) {
        await Promise.all(servers.map((s) => s.close()));
        throw err;
    }
    return {
        sockets: servers.map((s) => s.file),
        async stop() {
            await Promise.all(servers.map((s) => s.close()));
        },
    };
}
/** Removes a socket file nobody listens on; refuses to steal one that is alive. */
async function removeStaleSocket(file) {
    if (!existsSync(file))
        return;
    if (!lstatSync(file).isSocket())
        throw new Error(`${file} exists and is not a socket; remove it or choose another folder`);
    const alive = await new Promise((resolve) => {
        const s = net.connect(file);
        s.once('connect', () => {
            s.destroy();
            resolve(true);
        });
        s.once('error', () => resolve(false));
    });
    if (alive)
        throw new Error(`${file} is in use by another process`);
    unlinkSync(file);
}
//# sourceMappingURL=server.js.map