/**
 * The security room's composition: for every listener port, its TLS settings, its authenticator
 * (the BrokerAuthentication its `authenticationRef` names) and its authorizer (the BrokerAuthorization,
 * applied only together with authentication, as in Azure IoT MQ). `reload()` rebuilds everything from
 * a new configuration: new connections see it at once, certificates are swapped on the listening
 * servers without dropping connections, and live sessions that are no longer allowed are ended.
 *
 * Secure by default: a port without authentication is only served on a loopback address, unless the
 * operator opts in (BrokerListener `spec.edgemq.allowAnonymous: true` or `--allow-anonymous`).
 */
import { createHash } from 'node:crypto';
import { isLoopbackHost } from '../frontend/frontend.js';
import { openAccess } from '../frontend/ports.js';
import { ConfigError } from '../mqtt/errors.js';
import { RC } from '../mqtt/reason-codes.js';
import { buildAuthentication } from './authn/build.js';
import { MethodChain } from './authn/chain.js';
import { Policy } from './authz/policy.js';
import { SecretStore } from './secrets.js';
import { buildServerTls, tlsPlanOf } from './tls/server-tls.js';
const keyOf = (listener, index) => `${listener}#${index}`;
export class Security {
    o;
    built;
    servers = new Map();
    secrets;
    constructor(config, o) {
        this.o = o;
        this.secrets = new SecretStore(o.secretsDir);
        this.built = this.build(config, true);
    }
    /** For `FrontEndOptions.security`. */
    forPort = (l, _port, index) => {
        const key = keyOf(l.name, index);
        const state = this.built.ports.get(key);
        if (!state)
            throw new Error(`internal: no security for ${key}`);
        return {
            ...(state.tls ? { tls: state.tls.options } : {}),
            attachServer: (server) => {
                const list = this.servers.get(key) ?? [];
                list.push(server);
                this.servers.set(key, list);
            },
            authn: () => this.built.ports.get(key)?.authn ?? denyAll,
            authz: () => this.built.ports.get(key)?.authz ?? openAccess,
        };
    };
    /** Folders (secrets, JWKS files) whose change calls for a reload. */
    watchedFolders() {
        return [...this.built.watch];
    }
    /**
     * Applies a new configuration; on error the previous one stays in force. Returns the number of
     * sessions ended because they are no longer allowed.
     */
    reload(config, live) {
        let next;
        try {
            next = this.build(config, false);
        }
        catch (err) {
            this.o.log.error({ err: err.message }, 'security configuration not applied; keeping the previous one');
            return 0;
        }
        for (const [key, servers] of this.servers) {
            const before = this.built.ports.get(key);
            const after = next.ports.get(key);
            if (!after || !after.tls || (before?.tls?.options.requestCert ?? false) !== (after.tls.options.requestCert ?? false)) {
                this.o.log.warn({ port: key }, 'TLS or client-certificate mode of this port changed: restart to apply it');
                if (before && after)
                    after.tls = before.tls;
                continue;
            }
            if (after.tlsDigest !== before?.tlsDigest) {
                for (const s of servers)
                    s.setSecureContext(after.tls.options);
                this.o.log.info({ listener: after.listener, port: after.port }, 'TLS certificates reloaded');
            }
        }
        for (const key of next.ports.keys()) {
            if (!this.built.ports.has(key))
                this.o.log.warn({ port: key }, 'new listener port: restart to open it');
        }
        this.built = next;
        return this.revoke(live);
    }
    /** Ends live sessions that the current configuration no longer admits (DISCONNECT 0x87 for MQTT 5). */
    revoke(live) {
        let ended = 0;
        for (const { listener, portIndex, channel } of live) {
            const p = channel.identity;
            const state = this.built.ports.get(keyOf(listener, portIndex));
            if (!channel.connected || !p || !state)
                continue;
            const authenticated = state.chain ? state.chain.stillValid(p) : true;
            if (authenticated && state.authz.canConnect(p))
                continue;
            this.o.log.info({ listener, clientId: p.clientId, reason: authenticated ? 'authorization' : 'authentication' }, 'ending a session the new configuration does not allow');
            channel.kick(RC.NotAuthorized);
            ended++;
        }
        return ended;
    }
    /**
     * State-store key authorization (`stateStoreResources`) for the DSS responder, which knows only
     * the requesting client id: the rules of the port that client is connected on decide; a port
     * without authorization allows every key; a client no longer connected gets nothing.
     */
    authorizeKey(live, clientId, key, access) {
        if (![...this.built.ports.values()].some((s) => s.authz instanceof Policy))
            return true; // no authorization anywhere
        for (const { listener, portIndex, channel } of live) {
            const p = channel.identity;
            if (!p || p.clientId !== clientId || !channel.connected)
                continue;
            const authz = this.built.ports.get(keyOf(listener, portIndex))?.authz ?? openAccess;
            return authz.canAccessStateStoreKey ? authz.canAccessStateStoreKey(p, key, access) : true;
        }
        return false;
    }
    close() {
        for (const c of this.built.chains)
            c.close();
    }
    build(config, starting) {
        const { log } = this.o;
        const warn = (m) => log.warn(m);
        const authnDocs = config.others.filter((r) => r.kind === 'BrokerAuthentication');
        const authzDocs = config.others.filter((r) => r.kind === 'BrokerAuthorization');
        const authns = new Map();
        const policies = new Map();
        const watch = new Set();
        const authnOf = (name) => {
            let b = authns.get(name);
            if (!b) {
                const doc = authnDocs.find((d) => d.name === name);
                if (!doc)
                    throw new ConfigError(`BrokerAuthentication '${name}' is not loaded`);
                b = buildAuthentication({ name, spec: doc.spec, source: doc.source }, this.secrets, log);
                b.watch.forEach((w) => watch.add(w));
                authns.set(name, b);
            }
            return b;
        };
        const policyOf = (name) => {
            let p = policies.get(name);
            if (!p) {
                const doc = authzDocs.find((d) => d.name === name);
                p = new Policy(name, doc?.spec ?? {}, warn);
                policies.set(name, p);
            }
            return p;
        };
        const ports = new Map();
        for (const l of config.listeners) {
            // 2023 listeners: authenticationEnabled/authorizationEnabled without a resource naming them
            // must not silently mean "open": such a port refuses everyone (and the loader warned).
            const legacyAuthn = l.authenticationEnabled && l.ports.every((p) => p.authenticationRef === undefined);
            const legacyAuthz = l.authorizationEnabled && l.authenticationEnabled && l.ports.every((p) => p.authorizationRef === undefined);
            l.ports.forEach((port, index) => {
                const where = `BrokerListener/${l.name}: ${l.ports.length > 1 || port.authenticationRef ? `spec.ports[${index}]` : 'spec'}`;
                const state = { listener: l.name, port: port.port, authn: denyAll, authz: openAccess };
                let clientCa;
                if (port.authenticationRef !== undefined) {
                    const b = authnOf(port.authenticationRef);
                    state.chain = b.chain;
                    state.authn = b.chain;
                    clientCa = b.clientCa;
                    if (port.authorizationRef !== undefined)
                        state.authz = policyOf(port.authorizationRef);
                    else if (legacyAuthz)
                        state.authz = new Policy(`${l.name} (no BrokerAuthorization)`, {}, () => { });
                }
                else if (legacyAuthn) {
                    if (starting)
                        log.error(`BrokerListener/${l.name}: authenticationEnabled is true but no BrokerAuthentication lists it; every client is refused`);
                    state.chain = new MethodChain(`${l.name} (none)`, [], log);
                    state.authn = state.chain;
                }
                else {
                    state.authn = openAccess;
                    if (!isLoopbackHost(this.o.host)) {
                        if (!l.allowAnonymous && !this.o.allowAnonymous) {
                            throw new ConfigError(`BrokerListener/${l.name}: port ${port.port} would serve ${this.o.host} without authentication; ` +
                                `set an authenticationRef, or allow anonymous clients explicitly (BrokerListener spec.edgemq.allowAnonymous: true, or --allow-anonymous)`, `BrokerListener/${l.name}`);
                        }
                        if (starting)
                            log.warn({ listener: l.name, port: port.port, host: this.o.host }, 'serving without authentication on a non-loopback address (anonymous access allowed explicitly)');
                    }
                }
                const plan = tlsPlanOf(port, `${where}.tls`);
                if (plan) {
                    state.tls = buildServerTls(plan, { secrets: this.secrets, dataDir: this.o.dataDir, log, ...(clientCa ? { clientCa } : {}) });
                    state.tls.watch.forEach((w) => watch.add(w));
                    state.tlsDigest = digest(state.tls.options);
                }
                else if (clientCa && starting) {
                    log.warn(`${where}: the X509 authentication method needs a TLS port; client certificates cannot arrive here`);
                }
                ports.set(keyOf(l.name, index), state);
            });
        }
        return { ports, chains: [...authns.values()].map((b) => b.chain), watch };
    }
}
const denyAll = new MethodChain('(none)', [], { info() { }, warn() { }, error() { } });
function digest(o) {
    const h = createHash('sha256');
    for (const part of [o.cert, o.key, o.ca]) {
        for (const x of Array.isArray(part) ? part : [part])
            if (x !== undefined)
                h.update(typeof x === 'string' ? x : Buffer.isBuffer(x) ? x : JSON.stringify(x));
        h.update('|');
    }
    return h.digest('hex');
}
//# sourceMappingURL=security.js.map