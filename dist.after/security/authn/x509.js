/**
 * X.509 client certificates. The TLS handshake already verified the chain against the port's
 * trusted client CAs (`trustedClientCaCert`); this method re-checks it, names the principal after
 * the leaf's CN, and maps attributes from certificate subjects: the chain is walked leaf to root
 * and the first certificate whose subject matches a rule gives the attributes (Azure's rule).
 * Credentials end when the first certificate of the chain expires; certificates cannot re-authenticate.
 */
import { X509Certificate } from 'node:crypto';
import { RC } from '../../mqtt/reason-codes.js';
import { notRelevant, recordProof } from './method.js';
export class X509Method {
    trusted;
    kind = 'x509';
    rules;
    constructor(trusted, rules) {
        this.trusted = trusted;
        this.rules = rules.map((r) => ({ ...r, key: normalizeSubject(r.subject) }));
    }
    async authenticate(f) {
        const chain = f.clientCertificates;
        if (!chain || chain.length === 0)
            return notRelevant;
        const now = Date.now();
        if (chain.some((c) => Date.parse(c.validFrom) > now || Date.parse(c.validTo) <= now)) {
            return { ok: false, reasonCode: RC.NotAuthorized, message: 'client certificate not valid now' };
        }
        if (!this.anchored(chain))
            return { ok: false, reasonCode: RC.NotAuthorized, message: 'client certificate not issued by a trusted CA' };
        const leaf = chain[0];
        let attributes = {};
        for (const cert of chain) {
            const key = normalizeSubject(cert.subject);
            const rule = this.rules.find((r) => r.key === key);
            if (rule) {
                attributes = { ...rule.attributes };
                break;
            }
        }
        const cn = commonName(leaf.subject);
        const principal = recordProof({ clientId: f.clientId, ...(cn === undefined ? {} : { username: cn }), attributes }, { kind: 'x509' });
        return { ok: true, principal, expiresAt: Math.min(...chain.map((c) => Date.parse(c.validTo))) };
    }
    /** Some certificate of the chain is a trusted CA or was signed by one. */
    anchored(chain) {
        return chain.some((c) => this.trusted.some((ca) => c.fingerprint256 === ca.fingerprint256 || (c.checkIssued(ca) && c.verify(ca.publicKey))));
    }
    stillValid() {
        return true; // trust changes apply to new handshakes; the certificate's own expiry still ends the connection
    }
}
/** "CN = a, OU = b, C = US" and Node's "C=US\nOU=b\nCN=a" both become "C=US|CN=a|OU=b". */
export function normalizeSubject(subject) {
    return subject
        .split(/[\n,]/)
        .map((part) => {
        const i = part.indexOf('=');
        return i < 0 ? part.trim() : `${part.slice(0, i).trim().toUpperCase()}=${part.slice(i + 1).trim()}`;
    })
        .filter((p) => p.length > 0)
        .sort()
        .join('|');
}
function commonName(subject) {
    for (const line of subject.split('\n'))
        if (line.startsWith('CN='))
            return line.slice(3);
    return undefined;
}
/** Splits a PEM bundle (a ConfigMap key may hold several CAs). */
export function pemCertificates(pem) {
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    return blocks.map((b) => new X509Certificate(b));
}
//# sourceMappingURL=x509.js.map