import { RC } from '../../mqtt/reason-codes.js';
import { HttpClient, Unreachable } from './http-client.js';
import { recordProof } from './method.js';
export const WEBHOOK_API_VERSION = '0.5.0';
export class CustomMethod {
    kind = 'custom';
    client;
    constructor(target) {
        this.client = new HttpClient(target);
    }
    async authenticate(f) {
        const body = { type: 'connect' };
        if (f.username !== undefined)
            body.username = f.username;
        if (f.password !== undefined)
            body.password = f.password.toString('base64');
        if (f.clientCertificates?.length)
            body.certs = f.clientCertificates.map((c) => c.toString()).join('');
        if (f.authenticationMethod)
            body.enhancedAuthentication = enhanced(f);
        const answer = await this.call(body);
        if (answer.kind === 'unavailable')
            return { ok: 'not-relevant', unavailable: `authentication webhook ${this.client.target.url.origin}: ${answer.message}` };
        return this.verdict(f, answer);
    }
    async continueAuth(f, reauthenticate, previous) {
        const answer = await this.call({ type: 'auth', enhancedAuthentication: enhanced(f) });
        if (answer.kind === 'unavailable') {
            return reauthenticate ? { ok: 'continue' } : { ok: false, reasonCode: RC.ServerUnavailable, message: answer.message };
        }
        const v = this.verdict(f, answer);
        // Re-authentication keeps the username of CONNECT (AUTH carries none).
        if (v.ok === true && previous?.username !== undefined)
            v.principal.username = previous.username;
        return v;
    }
    verdict(f, a) {
        if (a.kind === 'refused')
            return { ok: false, reasonCode: a.reason, message: `authentication webhook: ${a.message}` };
        if (a.kind === 'garbage')
            return { ok: false, reasonCode: RC.ServerUnavailable, message: `authentication webhook answered badly: ${a.message}` };
        const principal = recordProof({ clientId: f.clientId, ...(f.username === undefined ? {} : { username: f.username }), attributes: a.attributes }, { kind: 'custom' });
        return { ok: true, principal, ...(a.expiresAt === undefined ? {} : { expiresAt: a.expiresAt }) };
    }
    async call(body) {
        let version = WEBHOOK_API_VERSION;
        for (let attempt = 0; attempt < 2; attempt++) {
            const url = this.client.target.url;
            const query = new URLSearchParams(url.search);
            query.set('api-version', version);
            let res;
            try {
                res = await this.client.request('POST', `${url.pathname}?${query}`, body);
            }
            catch (err) {
                return { kind: 'unavailable', message: err instanceof Unreachable ? err.message : String(err) };
            }
            if (res.status >= 500)
                return { kind: 'unavailable', message: `HTTP ${res.status}` };
            const json = parseJson(res.body);
            if (res.status === 422) {
                const listed = json?.supportedVersions;
                const next = Array.isArray(listed) ? listed.find((v) => typeof v === 'string' && v !== version) : undefined;
                if (attempt === 0 && next !== undefined) {
                    version = next;
                    continue;
                }
                return { kind: 'garbage', message: `no common API version (server supports ${JSON.stringify(listed)})` };
            }
            if (res.status === 403) {
                const o = (json ?? {});
                const reason = typeof o.reason === 'number' && Number.isInteger(o.reason) && o.reason >= 0x80 && o.reason <= 0xff ? o.reason : RC.NotAuthorized;
                return { kind: 'refused', reason, message: typeof o.message === 'string' ? o.message.slice(0, 200) : 'refused' };
            }
            if (res.status !== 200)
                return { kind: 'garbage', message: `HTTP ${res.status}` };
            if (res.body.length === 0)
                return { kind: 'ok', attributes: {} };
            if (json === undefined || typeof json !== 'object' || json === null || Array.isArray(json))
                return { kind: 'garbage', message: 'body is not a JSON object' };
            const o = json;
            const attributes = {};
            if (o.attributes !== undefined && o.attributes !== null) {
                if (typeof o.attributes !== 'object' || Array.isArray(o.attributes))
                    return { kind: 'garbage', message: 'attributes is not an object' };
                for (const [k, v] of Object.entries(o.attributes)) {
                    if (typeof v !== 'string')
                        return { kind: 'garbage', message: `attribute ${k} is not a string` };
                    attributes[k] = v;
                }
            }
            if (o.expiry === undefined || o.expiry === null)
                return { kind: 'ok', attributes };
            const expiresAt = typeof o.expiry === 'string' ? Date.parse(o.expiry) : NaN;
            if (Number.isNaN(expiresAt))
                return { kind: 'garbage', message: `expiry ${JSON.stringify(o.expiry)} is not an RFC 3339 time` };
            return { kind: 'ok', expiresAt, attributes };
        }
        return { kind: 'garbage', message: 'no common API version' };
    }
    close() {
        this.client.close();
    }
}
function enhanced(f) {
    return { method: f.authenticationMethod ?? '', ...(f.authenticationData ? { data: f.authenticationData.toString('base64') } : {}) };
}
function parseJson(body) {
    try {
        return JSON.parse(body.toString('utf8'));
    }
    catch {
        return undefined;
    }
}
//# sourceMappingURL=custom.js.map