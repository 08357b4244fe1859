/**
 * Turns a raw BrokerAuthentication spec (2023 one-key methods or the later `method:` + settings
 * shape) into a MethodChain, reading the secrets it names. Also reports what the listener's TLS
 * needs from it (the trusted client CAs of an X509 method) and which folders to watch for changes.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { ConfigError } from '../../mqtt/errors.js';
import { AnonymousMethod, MethodChain } from './chain.js';
import { CustomMethod } from './custom.js';
import { PasswordMethod } from './password.js';
import { parsePasswordFile } from './password-file.js';
import { SatMethod } from './sat.js';
import { pemCertificates, X509Method } from './x509.js';
const objAt = (v) => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {});
const strAt = (v) => (typeof v === 'string' && v.length > 0 ? v : undefined);
const strMap = (v) => Object.fromEntries(Object.entries(objAt(v)).map(([k, x]) => [k, String(x)]));
const K8S_SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
export function buildAuthentication(r, secrets, log) {
    const methods = [];
    const watch = new Set();
    let clientCa;
    const list = Array.isArray(r.spec.authenticationMethods) ? r.spec.authenticationMethods : [];
    list.forEach((raw, i) => {
        const m = objAt(raw);
        const where = `BrokerAuthentication/${r.name}: spec.authenticationMethods[${i}]`;
        const kind = (strAt(m.method) ?? Object.keys(m).find((k) => ['sat', 'usernamePassword', 'x509', 'custom', 'anonymous'].includes(k)) ?? '').toLowerCase();
        switch (kind) {
            case 'serviceaccounttoken':
            case 'sat': {
                const s = objAt(m.sat ?? m.serviceAccountTokenSettings ?? m.serviceAccountToken);
                methods.push(new SatMethod(satOptions(s, r, where, log, watch)));
                break;
            }
            case 'usernamepassword': {
                const s = objAt(m.usernamePassword ?? m.usernamePasswordSettings);
                const secretName = strAt(s.secretName);
                if (!secretName)
                    throw new ConfigError(`${where}: usernamePassword.secretName is required`);
                const text = secrets.read(secretName, 'passwords.toml', where).toString('utf8');
                try {
                    methods.push(new PasswordMethod(parsePasswordFile(text, `secret ${secretName}/passwords.toml`)));
                }
                catch (err) {
                    throw new ConfigError(`${where}: ${err.message}`);
                }
                watch.add(secrets.folder(secretName));
                break;
            }
            case 'x509': {
                const s = objAt(m.x509 ?? m.x509Settings ?? m.x509Credentials);
                const caName = strAt(s.trustedClientCaCert) ?? 'client-ca';
                const pems = secrets.readAll(caName, `${where}.trustedClientCaCert`).map((e) => e.value);
                const trusted = pems.flatMap((p) => pemCertificates(p.toString('utf8')));
                if (trusted.length === 0)
                    throw new ConfigError(`${where}.trustedClientCaCert: '${caName}' holds no PEM certificate`);
                watch.add(secrets.folder(caName));
                const rules = [];
                for (const [name, v] of Object.entries(objAt(s.authorizationAttributes))) {
                    rules.push({ name, subject: String(objAt(v).subject ?? ''), attributes: strMap(objAt(v).attributes) });
                }
                const attrSecret = strAt(objAt(s.attributes).secretName);
                if (attrSecret) {
                    const doc = parseToml(secrets.read(attrSecret, 'x509Attributes.toml', `${where}.attributes`).toString('utf8'));
                    for (const [name, v] of Object.entries(doc))
                        rules.push({ name, subject: String(objAt(v).subject ?? ''), attributes: strMap(objAt(v).attributes) });
                    watch.add(secrets.folder(attrSecret));
                }
                if (!clientCa) {
                    clientCa = pems;
                    methods.push(new X509Method(trusted, rules));
                }
                else
                    log.warn(`${where}: a second X509 method is ignored`);
                break;
            }
            case 'custom': {
                const s = objAt(m.custom ?? m.customSettings);
                const endpoint = strAt(s.endpoint);
                if (!endpoint || !endpoint.startsWith('https://'))
                    throw new ConfigError(`${where}: custom endpoint must be an https:// URL`);
                const caName = strAt(s.caCertConfigMap) ?? strAt(s.caCert);
                const x509 = objAt(objAt(s.auth).x509);
                const certSecret = strAt(x509.secretRef) ?? strAt(x509.secretName);
                const timeout = Number(objAt(s.edgemq).timeoutSeconds ?? 5);
                if (caName)
                    watch.add(secrets.folder(caName));
                if (certSecret)
                    watch.add(secrets.folder(certSecret));
                methods.push(new CustomMethod({
                    url: new URL(endpoint),
                    ...(caName ? { ca: secrets.readAll(caName, `${where}.caCertConfigMap`).map((e) => e.value) } : {}),
                    ...(certSecret ? { cert: secrets.read(certSecret, 'tls.crt', `${where}.auth.x509`), key: secrets.read(certSecret, 'tls.key', `${where}.auth.x509`) } : {}),
                    headers: strMap(s.headers),
                    timeoutMs: Math.round(timeout * 1000),
                }));
                break;
            }
            case 'anonymous': {
                const s = objAt(m.anonymous ?? m.anonymousSettings);
                methods.push(new AnonymousMethod(strMap(s.attributes)));
                break;
            }
            default:
                throw new ConfigError(`${where}: unknown authentication method ${JSON.stringify(raw)}`);
        }
    });
    const customAt = methods.findIndex((m) => m.kind === 'custom');
    if (customAt >= 0 && customAt < methods.length - 1 && methods.slice(customAt + 1).some((m) => m.kind !== 'anonymous')) {
        log.warn(`BrokerAuthentication/${r.name}: methods after Custom are only tried when the webhook is unreachable (Custom is relevant for every client)`);
    }
    return { chain: new MethodChain(r.name, methods, log), ...(clientCa ? { clientCa } : {}), watch: [...watch] };
}
function satOptions(s, r, where, log, watch) {
    const audiences = Array.isArray(s.audiences) ? s.audiences.filter((a) => typeof a === 'string') : [];
    if (audiences.length === 0)
        throw new ConfigError(`${where}: serviceAccountTokenSettings.audiences needs at least one audience`);
    const ext = objAt(s.edgemq);
    const rel = (p) => path.resolve(path.dirname(r.source), p);
    const inCluster = process.env.KUBERNETES_SERVICE_HOST;
    const o = { audiences };
    if (strAt(ext.issuer))
        o.issuer = strAt(ext.issuer);
    const caFile = strAt(ext.caFile) ?? (inCluster ? `${K8S_SA_DIR}/ca.crt` : undefined);
    const tokenFile = strAt(ext.tokenFile) ?? (inCluster ? `${K8S_SA_DIR}/token` : undefined);
    if (strAt(ext.jwksFile)) {
        o.jwksFile = rel(strAt(ext.jwksFile));
        watch.add(path.dirname(o.jwksFile));
        return o;
    }
    if (strAt(ext.jwksUri))
        o.jwksUri = strAt(ext.jwksUri);
    else if (strAt(ext.tokenReviewUrl))
        o.tokenReviewUrl = strAt(ext.tokenReviewUrl);
    else if (inCluster)
        o.tokenReviewUrl = `https://${inCluster.includes(':') ? `[${inCluster}]` : inCluster}:${process.env.KUBERNETES_SERVICE_PORT ?? '443'}/apis/authentication.k8s.io/v1/tokenreviews`;
    else {
        log.warn(`${where}: service account tokens cannot be checked off Kubernetes without serviceAccountTokenSettings.edgemq.jwksFile, jwksUri or tokenReviewUrl; SAT clients will be refused`);
        return o;
    }
    try {
        if (caFile)
            o.ca = [readFileSync(rel(caFile))];
        if (tokenFile)
            o.bearerToken = readFileSync(rel(tokenFile), 'utf8').trim();
    }
    catch (err) {
        throw new ConfigError(`${where}: ${err.message}`);
    }
    return o;
}
//# sourceMappingURL=build.js.map