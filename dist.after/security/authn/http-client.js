/**
 * A small HTTPS/HTTP client for the webhook, TokenReview and JWKS calls: one keep-alive agent per
 * target with its CA and client certificate, a hard deadline per request, and errors sorted into
 * "could not ask" (network, timeout, 5xx) versus an answer.
 */
import http from 'node:http';
import https from 'node:https';
/** The server could not be asked (connection refused, timeout, TLS failure). */
export class Unreachable extends Error {
}
export class HttpClient {
    target;
    agent;
    constructor(target) {
        this.target = target;
        this.agent =
            target.url.protocol === 'https:'
                ? new https.Agent({ keepAlive: true, ca: target.ca, cert: target.cert, key: target.key, maxSockets: 64 })
                : new http.Agent({ keepAlive: true, maxSockets: 64 });
    }
    request(method, pathAndQuery, body, headers = {}) {
        const url = new URL(pathAndQuery, this.target.url);
        const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
        const mod = url.protocol === 'https:' ? https : http;
        return new Promise((resolve, reject) => {
            const req = mod.request(url, {
                method,
                agent: this.agent,
                headers: {
                    ...this.target.headers,
                    ...headers,
                    ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
                },
            }, (res) => {
                const chunks = [];
                let size = 0;
                res.on('data', (c) => {
                    size += c.length;
                    if (size > 1024 * 1024)
                        req.destroy(new Unreachable('answer larger than 1 MiB'));
                    else
                        chunks.push(c);
                });
                res.on('end', () => {
                    clearTimeout(timer);
                    resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks) });
                });
                res.on('error', (err) => reject(new Unreachable(err.message)));
            });
            const timer = setTimeout(() => req.destroy(new Unreachable(`no answer within ${this.target.timeoutMs} ms`)), this.target.timeoutMs);
            req.on('error', (err) => {
                clearTimeout(timer);
                reject(err instanceof Unreachable ? err : new Unreachable(err.message));
            });
            req.end(payload);
        });
    }
    close() {
        this.agent.destroy();
    }
}
//# sourceMappingURL=http-client.js.map