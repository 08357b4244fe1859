/**
 * `edgemq serve`: the embedded default. One process runs the front end, one back-end partition
 * (a chain of one) and the coordinator role (trivial here).
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config/load.js';
import { LocalBrokerCore } from '../core/local-core.js';
import { openPartitionStore } from '../storage/open-store.js';
import { recoverPartition } from '../storage/recover.js';
import { FrontEnd } from '../frontend/frontend.js';
import { createLogger } from '../observability/logger.js';
import { SysTopics } from '../observability/sys-topics.js';
import { Partition } from '../partition/partition.js';
import { StateStoreResponder } from '../statestore/responder.js';
import { Security } from '../security/security.js';
import { ReloadWatcher } from '../security/watch.js';
/** `secrets/` beside the (first) config file; for a config folder, inside it; else in the working directory. */
export function defaultSecretsDir(configFiles) {
    const first = configFiles[0];
    if (first === undefined)
        return path.resolve('secrets');
    const isDir = existsSync(first) && statSync(first).isDirectory();
    return path.join(isDir ? path.resolve(first) : path.dirname(path.resolve(first)), 'secrets');
}
export async function serve(opts) {
    const config = loadConfig(opts.configFiles, { port: opts.port });
    const log = createLogger(opts.logLevel ?? config.broker.logLevel);
    for (const w of config.warnings)
        log.warn(w);
    const dataDir = path.resolve(opts.dataDir);
    mkdirSync(dataDir, { recursive: true });
    // Security first: a listener that may not start (e.g. anonymous on a public address) stops us before any state opens.
    const security = new Security(config, {
        secretsDir: path.resolve(opts.secretsDir ?? defaultSecretsDir(opts.configFiles)),
        dataDir,
        host: opts.host,
        allowAnonymous: opts.allowAnonymous === true,
        log: log.child({ component: 'security' }),
    });
    const b = config.broker;
    const limits = {
        queueLength: b.clients.subscriberQueueLimit.length,
        queueStrategy: b.clients.subscriberQueueLimit.strategy,
        sharedStrategy: b.sharedSubscriptionStrategy,
    };
    let partition;
    let executor;
    if (b.durability === 'memory') {
        partition = new Partition(limits);
    }
    else {
        const sync = b.durability === 'fsync';
        const store = openPartitionStore(path.join(dataDir, 'partition-0'), { sync });
        const recovered = await recoverPartition(store, limits, {
            sync,
            onError: (err) => log.error({ err: err.message }, 'durable write failed; refusing until storage recovers'),
        });
        partition = recovered.partition;
        executor = recovered.executor;
        log.info({ replayed: recovered.replayed, sessions: partition.sessions.size, retained: partition.retained.size }, 'state recovered');
    }
    const core = new LocalBrokerCore(partition, executor);
    // The state store (DSS) answers MQTT 5 requests as an in-process client; key authorization: `authorize` hook (security room).
    const stateStore = new StateStoreResponder({
        core,
        log: log.child({ component: 'statestore' }),
        authorize: (clientId, key, access) => security.authorizeKey(frontEnd.portChannelsOf(clientId), clientId, key, access),
    });
    await stateStore.start();
    const frontEnd = new FrontEnd({ core, limits: b.clients, listeners: config.listeners, host: opts.host, log, security: security.forPort });
    try {
        await frontEnd.start();
    }
    catch (err) {
        await frontEnd.close();
        await stateStore.stop();
        await core.close();
        security.close();
        throw err;
    }
    // Configuration and secret changes apply without restart: new connections at once, and live
    // sessions the new rules no longer allow are ended.
    const watcher = new ReloadWatcher(() => {
        let next;
        try {
            next = loadConfig(opts.configFiles, { port: opts.port });
        }
        catch (err) {
            log.error({ err: err.message }, 'configuration change not applied');
            return;
        }
        const ended = security.reload(next, frontEnd.portChannels());
        log.info({ ended }, 'security configuration reloaded');
        watcher.set([...opts.configFiles, ...security.watchedFolders()]);
    });
    watcher.set([...opts.configFiles, ...security.watchedFolders()]);
    const sys = new SysTopics(core, b.sysIntervalSeconds, frontEnd);
    log.info({ broker: b.name, dataDir, durability: b.durability }, 'edgemq started');
    return {
        config,
        frontEnd,
        core,
        async stop() {
            watcher.close();
            sys.close();
            await frontEnd.close();
            await stateStore.stop();
            await core.close();
            security.close();
        },
    };
}
//# sourceMappingURL=serve.js.map