/**
 * Component metadata -> how to reach the broker. Accepts edgemq's names and Azure IoT MQ's of both
 * generations, so their Component YAML works unchanged:
 *   edgemq / Dapr mqtt3 style: `url` (`tcp://`, `mqtt://`, `ssl://`, `mqtts://`, `tcps://`, `tls://`, `ws://`, `wss://`;
 *                              user:password in the URL), `username`, `password`, `caCert`, `clientCert`, `clientKey` (PEM),
 *                              `caCertPath`, `clientCertPath`, `clientKeyPath`, `insecureSkipVerify`
 *   Azure 2023 (IoT MQ):       `url` without scheme (default `aio-mq-dmqtt-frontend:8883`), `tlsEnabled` (default true),
 *                              `caCertPath`, `satTokenPath` (username `$sat`, password = the token)
 *   Azure 2024+ (AIO broker):  `hostname` (default `aio-broker`), `tcpPort` (default 18883), `useTls` (default true),
 *                              `caFile`, `satAuthFile` (MQTT 5 enhanced authentication `K8S-SAT`, data = the token)
 * Token files are read again before every reconnect, so rotated service-account tokens keep working.
 */
import { readFileSync } from 'node:fs';
export class MetadataError extends Error {
}
export function truthy(v, fallback, name) {
    if (v === undefined || v === '')
        return fallback;
    const s = v.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(s))
        return true;
    if (['false', '0', 'no', 'off'].includes(s))
        return false;
    throw new MetadataError(`metadata ${name}: "${v}" is not a boolean`);
}
export function intOf(v, fallback, name, min = 0, max = Number.MAX_SAFE_INTEGER) {
    if (v === undefined || v === '')
        return fallback;
    if (!/^-?\d+$/.test(v.trim()))
        throw new MetadataError(`metadata ${name}: "${v}" is not an integer`);
    const n = Number(v.trim());
    if (n < min || n > max)
        throw new MetadataError(`metadata ${name}: ${n} is out of range ${min}..${max}`);
    return n;
}
const TLS_SCHEMES = new Set(['ssl', 'mqtts', 'tcps', 'tls']);
const PLAIN_SCHEMES = new Set(['tcp', 'mqtt']);
export function brokerEndpoint(p) {
    const options = {};
    let url;
    let display;
    let username;
    let password;
    if (p.url) {
        const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(p.url.trim());
        if (m) {
            const scheme = m[1].toLowerCase();
            const parsed = new URL(`x://${m[2]}`);
            if (parsed.username)
                username = decodeURIComponent(parsed.username);
            if (parsed.password)
                password = decodeURIComponent(parsed.password);
            const host = parsed.host;
            if (!host)
                throw new MetadataError(`metadata url: "${p.url}" has no host`);
            const tls = TLS_SCHEMES.has(scheme) || scheme === 'wss';
            if (!TLS_SCHEMES.has(scheme) && !PLAIN_SCHEMES.has(scheme) && scheme !== 'ws' && scheme !== 'wss') {
                throw new MetadataError(`metadata url: scheme "${scheme}" is not one of tcp, mqtt, ssl, mqtts, tcps, tls, ws, wss`);
            }
            const proto = scheme === 'ws' || scheme === 'wss' ? scheme : tls ? 'mqtts' : 'mqtt';
            url = `${proto}://${host}${proto.startsWith('ws') ? parsed.pathname : ''}`;
        }
        else {
            // Azure 2023: "host:port", TLS unless tlsEnabled=false.
            const tls = truthy(p.tlsEnabled ?? p.useTls, true, 'tlsEnabled');
            url = `${tls ? 'mqtts' : 'mqtt'}://${p.url.trim()}`;
        }
    }
    else if (p.hostname || p.tcpPort || p.useTls) {
        const tls = truthy(p.useTls ?? p.tlsEnabled, true, 'useTls');
        const port = intOf(p.tcpPort, 18883, 'tcpPort', 1, 65535);
        url = `${tls ? 'mqtts' : 'mqtt'}://${p.hostname || 'aio-broker'}:${port}`;
    }
    else {
        url = 'mqtt://127.0.0.1:1883';
    }
    display = url;
    username = p.username || username;
    password = p.password || password;
    if (username !== undefined)
        options.username = username;
    if (password !== undefined)
        options.password = password;
    const ca = p.caCert || fileOf(p.caCertPath || p.caFile, 'caCertPath');
    const cert = p.clientCert || fileOf(p.clientCertPath, 'clientCertPath');
    const key = p.clientKey || fileOf(p.clientKeyPath, 'clientKeyPath');
    for (const [name, pem] of [['caCert', ca], ['clientCert', cert], ['clientKey', key]]) {
        if (pem && !pem.includes('-----BEGIN'))
            throw new MetadataError(`metadata ${name}: not a PEM block`);
    }
    if (ca)
        options.ca = ca;
    if (cert)
        options.cert = cert;
    if (key)
        options.key = key;
    if (truthy(p.insecureSkipVerify, false, 'insecureSkipVerify'))
        options.rejectUnauthorized = false;
    const satPassword = p.satTokenPath;
    const satEnhanced = p.satAuthFile;
    const refresh = (o) => {
        if (satPassword) {
            o.username = '$sat';
            o.password = readToken(satPassword, 'satTokenPath');
        }
        if (satEnhanced) {
            o.properties = { ...o.properties, authenticationMethod: 'K8S-SAT', authenticationData: Buffer.from(readToken(satEnhanced, 'satAuthFile')) };
        }
    };
    refresh(options);
    return { url, display, options, refresh };
}
/** Keeps token-file credentials fresh across reconnects of an mqtt.js client. */
export function refreshOnReconnect(client, endpoint) {
    client.on('reconnect', () => {
        try {
            endpoint.refresh(client.options);
        }
        catch {
            // keep the last token; the connect attempt will report the failure
        }
    });
}
function fileOf(file, name) {
    if (!file)
        return undefined;
    try {
        return readFileSync(file, 'utf8');
    }
    catch (err) {
        throw new MetadataError(`metadata ${name}: cannot read ${file}: ${err.message}`);
    }
}
function readToken(file, name) {
    return fileOf(file, name).trim();
}
//# sourceMappingURL=metadata.js.map