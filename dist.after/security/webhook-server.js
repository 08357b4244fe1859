/**
 * `edgemq authn-webhook`: a reference custom-authentication server speaking Azure IoT MQ's webhook
 * protocol 0.5.0, backed by a users file in `passwords.toml` format (PHC hashes, per-user
 * `attributes`, optional `expirySeconds`). Run it as a sidecar and point a `Custom` method at it.
 *
 * Answers: 200 {expiry?, attributes} | 403 {reason, message} (reason = CONNACK code) |
 * 422 {supportedVersions} | 400 text (no api-version, non-JSON, bad body) | 404 (path) | 405 (method).
 */
import express from 'express';
import { verifyPhc } from './authn/phc.js';
export const SUPPORTED_VERSIONS = ['0.5.0'];
export function createAuthnWebhookApp(o) {
    const app = express();
    app.disable('x-powered-by');
    app.use((req, res, next) => (req.path === '/' ? next() : void res.status(404).type('text/plain').send('not found\n')));
    app.use((req, res, next) => (req.method === 'POST' ? next() : void res.status(405).type('text/plain').send('only POST is supported\n')));
    app.use((req, res, next) => {
        const version = req.query['api-version'];
        if (typeof version !== 'string')
            return void res.status(400).type('text/plain').send('missing api-version\n');
        if (!SUPPORTED_VERSIONS.includes(version))
            return void res.status(422).json({ supportedVersions: SUPPORTED_VERSIONS });
        if (!req.is('application/json'))
            return void res.status(400).type('text/plain').send('Content-Type must be application/json\n');
        next();
    });
    app.use(express.json({ limit: '256kb', type: 'application/json' }));
    app.post('/', (req, res, next) => {
        decide(o, req.body).then(({ status, body }) => {
            const b = body;
            const d = { type: String(req.body?.type), status };
            const username = req.body?.username;
            if (typeof username === 'string')
                d.username = username;
            if (b.reason !== undefined)
                d.reason = b.reason;
            o.onDecision?.(d);
            if (typeof body === 'string')
                res.status(status).type('text/plain').send(body);
            else
                res.status(status).json(body);
        }, next);
    });
    app.use((err, _req, res, _next) => {
        res.status(err.status && err.status < 500 ? 400 : 500).type('text/plain').send(err.status && err.status < 500 ? 'body is not valid JSON\n' : 'internal error\n');
    });
    return app;
}
async function decide(o, body) {
    if (typeof body !== 'object' || body === null || Array.isArray(body))
        return { status: 400, body: 'body must be a JSON object\n' };
    const b = body;
    if (b.type === 'auth') {
        if (typeof b.enhancedAuthentication !== 'object' || b.enhancedAuthentication === null)
            return { status: 400, body: 'auth requests need enhancedAuthentication\n' };
        return { status: 403, body: { reason: 0x8c, message: 'this server does not support enhanced authentication' } };
    }
    if (b.type !== 'connect')
        return { status: 400, body: 'type must be connect or auth\n' };
    if (typeof b.username !== 'string')
        return { status: 403, body: { reason: 0x87, message: 'a username and password are required' } };
    const refused = { status: 403, body: { reason: 0x86, message: 'bad username or password' } };
    if (typeof b.password !== 'string')
        return refused;
    const entry = o.users().get(b.username);
    if (!entry)
        return refused;
    if (!(await verifyPhc(entry.phc, Buffer.from(b.password, 'base64'))))
        return refused;
    const answer = { attributes: entry.attributes };
    if (entry.expirySeconds !== undefined)
        answer.expiry = new Date(Date.now() + entry.expirySeconds * 1000).toISOString();
    return { status: 200, body: answer };
}
//# sourceMappingURL=webhook-server.js.map