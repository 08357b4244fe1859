/**
 * Server TLS of one listener port, from the BrokerListener's `tls` settings:
 * - Manual: `tls.crt` (leaf, then intermediates) and `tls.key` from `<secrets dir>/<secret>/`.
 * - Automatic: the cert-manager secret when it is mounted (`certManagerCertificateSpec.secretName`),
 *   otherwise a development CA and server certificate generated into `<data dir>/tls/` (kept across
 *   restarts; the CA fingerprint is logged so clients can pin it).
 * Mutual TLS is switched on by an X509 authentication method on the port: client certificates are
 * requested and checked against its trusted CA; clients without one may still use other methods.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../mqtt/errors.js';
import { fingerprint, issueCertificate } from './cert-gen.js';
const objAt = (v) => (typeof v === 'object' && v !== null ? v : {});
const strAt = (v) => (typeof v === 'string' && v.length > 0 ? v : undefined);
/** Reads the port's raw `tls` object (either API generation); `where` names the field for errors. */
export function tlsPlanOf(port, where) {
    if (port.tls === undefined)
        return undefined;
    const t = port.tls;
    if ('keyVault' in t)
        throw new ConfigError(`${where}.keyVault: Azure Key Vault certificates are not supported by edgemq; use manual with a mounted secret`);
    const manual = objAt(t.manual);
    const automatic = objAt(t.automatic ?? t.certManagerCertificateSpec);
    const mode = typeof t.mode === 'string' ? t.mode.toLowerCase() : 'manual' in t ? 'manual' : 'automatic';
    if (mode === 'manual') {
        const secretName = strAt(manual.secretRef) ?? strAt(manual.secretName);
        if (!secretName)
            throw new ConfigError(`${where}.manual.secretRef: required for manual TLS (the TLS secret with tls.crt and tls.key)`);
        return { mode: 'manual', secretName, where };
    }
    const san = objAt(automatic.san);
    const list = (v) => (Array.isArray(v) ? v.filter((x) => typeof x === 'string') : []);
    return {
        mode: 'automatic',
        ...(strAt(automatic.secretName) ? { secretName: strAt(automatic.secretName) } : {}),
        altNames: [...list(san.dns), ...list(san.ip)],
        where,
    };
}
export function buildServerTls(plan, ctx) {
    let key;
    let cert;
    const watch = [];
    const secretName = plan.mode === 'manual' ? plan.secretName : plan.secretName !== undefined && ctx.secrets.exists(plan.secretName) ? plan.secretName : undefined;
    if (secretName !== undefined) {
        cert = ctx.secrets.read(secretName, 'tls.crt', plan.where);
        key = ctx.secrets.read(secretName, 'tls.key', plan.where);
        watch.push(ctx.secrets.folder(secretName));
        try {
            new X509Certificate(cert);
        }
        catch (err) {
            throw new ConfigError(`${plan.where}: tls.crt of secret '${secretName}' is not a PEM certificate: ${err.message}`);
        }
    }
    else {
        ({ key, cert } = automaticCertificate(ctx.dataDir, plan.mode === 'automatic' ? plan.altNames : [], ctx.log));
    }
    const options = { key, cert, minVersion: 'TLSv1.2' };
    if (ctx.clientCa) {
        options.ca = ctx.clientCa;
        options.requestCert = true;
        // Clients without a certificate may still authenticate otherwise; one presenting an untrusted
        // certificate is closed by the front end right after the handshake.
        options.rejectUnauthorized = false;
    }
    return { options, watch };
}
const RENEW_MS = 30 * 24 * 3600_000;
const logged = new Set();
/**
 * The development CA (10 years) and server certificate (1 year, renewed 30 days before expiry or
 * when a wanted name is missing) in `<data dir>/tls/`.
 */
export function automaticCertificate(dataDir, extraNames, log) {
    const dir = path.join(dataDir, 'tls');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = (n) => path.join(dir, n);
    if (!existsSync(file('ca.crt')) || !existsSync(file('ca.key'))) {
        const ca = issueCertificate({ commonName: `edgemq development CA (${os.hostname()})`, isCa: true, notAfter: new Date(Date.now() + 10 * 365 * 24 * 3600_000) });
        writeFileSync(file('ca.key'), ca.key, { mode: 0o600 });
        writeFileSync(file('ca.crt'), ca.cert);
    }
    const ca = { key: readFileSync(file('ca.key'), 'utf8'), cert: readFileSync(file('ca.crt'), 'utf8') };
    const names = [...new Set(['localhost', '127.0.0.1', '::1', os.hostname(), ...extraNames])];
    if (!serverCertUsable(file('tls.crt'), names, ca.cert) || !existsSync(file('tls.key'))) {
        const leaf = issueCertificate({ commonName: names.includes(os.hostname()) ? os.hostname() : 'localhost', issuer: ca, altNames: names, usage: 'server' });
        writeFileSync(file('tls.key'), leaf.key, { mode: 0o600 });
        writeFileSync(file('tls.crt'), leaf.cert + ca.cert);
    }
    const cert = readFileSync(file('tls.crt'));
    if (!logged.has(dir)) {
        logged.add(dir);
        log.warn({ caFile: file('ca.crt'), caFingerprint: fingerprint(ca.cert), serverFingerprint: fingerprint(cert.toString()) }, 'automatic TLS: serving a development certificate; give clients the CA file (e.g. mosquitto_pub --cafile) or pin the fingerprint');
    }
    return { key: readFileSync(file('tls.key')), cert };
}
function serverCertUsable(file, names, caPem) {
    if (!existsSync(file))
        return false;
    try {
        const c = new X509Certificate(readFileSync(file));
        if (Date.parse(c.validTo) - Date.now() < RENEW_MS)
            return false;
        if (!c.checkIssued(new X509Certificate(caPem)))
            return false;
        const san = c.subjectAltName ?? '';
        return names.every((n) => san.includes(`DNS:${n}`) || san.includes(`IP Address:${n}`) || (n.includes(':') && san.includes('IP Address:')));
    }
    catch {
        return false;
    }
}
//# sourceMappingURL=server-tls.js.map