/**
 * Certificate generation for automatic TLS (a development CA and server certificate in the data
 * directory) and for tests. Keys come from Node's native crypto (fast, no JS bignum work); node-forge
 * only assembles and signs the X.509 structure, which Node cannot do. Verification never uses forge:
 * OpenSSL in Node checks every certificate at handshake time.
 */
import { createHash, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import net from 'node:net';
import forge from 'node-forge';
const SHORT_NAMES = { CN: 'commonName', O: 'organizationName', OU: 'organizationalUnitName', C: 'countryName', L: 'localityName', ST: 'stateOrProvinceName' };
export function issueCertificate(o) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: o.keyBits ?? 2048 });
    const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const pub = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
    const cert = forge.pki.createCertificate();
    cert.publicKey = pub;
    cert.serialNumber = '01' + randomBytes(15).toString('hex'); // positive, 128 bits of randomness
    cert.validity.notBefore = o.notBefore ?? new Date(Date.now() - 60_000);
    cert.validity.notAfter = o.notAfter ?? new Date(Date.now() + 365 * 24 * 3600_000);
    const attrs = [{ name: 'commonName', value: o.commonName }];
    for (const [k, v] of Object.entries(o.subject ?? {}))
        attrs.push({ name: SHORT_NAMES[k] ?? k, value: v });
    cert.setSubject(attrs);
    const issuerCert = o.issuer ? forge.pki.certificateFromPem(o.issuer.cert) : undefined;
    cert.setIssuer(issuerCert ? issuerCert.subject.attributes : attrs);
    const usage = o.usage ?? 'server';
    const extensions = [
        { name: 'basicConstraints', cA: o.isCa === true, critical: true },
        o.isCa
            ? { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true }
            : { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'subjectKeyIdentifier' },
    ];
    if (!o.isCa) {
        extensions.push({ name: 'extKeyUsage', serverAuth: usage !== 'client', clientAuth: usage !== 'server' });
    }
    if (o.altNames?.length) {
        extensions.push({
            name: 'subjectAltName',
            altNames: o.altNames.map((n) => (net.isIP(n) ? { type: 7, ip: n } : { type: 2, value: n })),
        });
    }
    if (issuerCert) {
        const ski = issuerCert.getExtension('subjectKeyIdentifier');
        if (ski?.subjectKeyIdentifier)
            extensions.push({ name: 'authorityKeyIdentifier', keyIdentifier: forge.util.hexToBytes(ski.subjectKeyIdentifier) });
    }
    cert.setExtensions(extensions);
    const signer = forge.pki.privateKeyFromPem(o.issuer ? o.issuer.key : keyPem);
    cert.sign(signer, forge.md.sha256.create());
    return { key: keyPem, cert: forge.pki.certificateToPem(cert) };
}
/** SHA-256 fingerprint in the colon form `openssl x509 -fingerprint -sha256` prints. */
export function fingerprint(pem) {
    return new X509Certificate(pem).fingerprint256;
}
export function sha256Hex(data) {
    return createHash('sha256').update(data).digest('hex');
}
//# sourceMappingURL=cert-gen.js.map