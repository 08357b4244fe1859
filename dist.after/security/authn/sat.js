/**
 * Kubernetes service account tokens (SAT). The token arrives as MQTT 5 enhanced authentication
 * (method `K8S-SAT`, data = the JWT) or, for 3.1.1 clients, as username `$sat` + password = the JWT.
 * It is verified with `jose` against the cluster's JWKS (a file, or fetched from a URL), or by
 * asking the API server (TokenReview), always for one of the configured audiences. The connection's
 * credentials end at the token's `exp`; MQTT 5 clients re-authenticate before that with AUTH 0x19.
 */
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, decodeJwt, errors as joseErrors, jwtVerify } from 'jose';
import { RC } from '../../mqtt/reason-codes.js';
import { HttpClient, Unreachable } from './http-client.js';
import { notRelevant, recordProof } from './method.js';
import { SAT_USERNAMES } from './password.js';
export const SAT_METHOD = 'K8S-SAT';
const ANNOTATION_PREFIXES = ['aio-broker-auth/', 'aio-mq-broker-auth/'];
const ANNOTATION_TTL_MS = 60_000;
const JWKS_REFRESH_COOLDOWN_MS = 30_000;
export class SatMethod {
    o;
    kind = 'sat';
    local;
    remote;
    review;
    annotationCache = new Map();
    constructor(o) {
        this.o = o;
        if (o.jwksFile)
            this.local = createLocalJWKSet(JSON.parse(readFileSync(o.jwksFile, 'utf8')));
        else if (o.jwksUri)
            this.remote = { client: this.client(o.jwksUri), fetchedAt: 0 };
        else if (o.tokenReviewUrl)
            this.review = this.client(o.tokenReviewUrl);
    }
    client(url) {
        return new HttpClient({
            url: new URL(url),
            ...(this.o.ca ? { ca: this.o.ca } : {}),
            ...(this.o.bearerToken ? { headers: { authorization: `Bearer ${this.o.bearerToken}` } } : {}),
            timeoutMs: this.o.timeoutMs ?? 5000,
        });
    }
    async authenticate(f) {
        let token;
        if (f.authenticationMethod === SAT_METHOD)
            token = f.authenticationData?.toString('utf8');
        else if (!f.authenticationMethod && f.username !== undefined && SAT_USERNAMES.has(f.username))
            token = f.password?.toString('utf8');
        else
            return notRelevant;
        const check = await this.check(token ?? '');
        if (check.ok === 'unavailable')
            return { ok: 'not-relevant', unavailable: check.message };
        return this.verdict(f, check, undefined);
    }
    async continueAuth(f, reauthenticate, previous) {
        const check = await this.check(f.authenticationData?.toString('utf8') ?? '');
        if (check.ok === 'unavailable') {
            // A transient failure during re-authentication: AUTH 0x18, the client may try again before expiry.
            return reauthenticate ? { ok: 'continue' } : { ok: false, reasonCode: RC.ServerUnavailable, message: check.message };
        }
        return this.verdict(f, check, reauthenticate ? previous : undefined);
    }
    verdict(f, check, previous) {
        if (check.ok !== true)
            return { ok: false, reasonCode: RC.NotAuthorized, message: `service account token refused: ${check.message}` };
        const id = check.id;
        if (previous && previous.username !== id.username) {
            return { ok: false, reasonCode: RC.NotAuthorized, message: 're-authentication with another service account' };
        }
        const attributes = { ...id.annotations };
        if (id.namespace)
            attributes.namespace = id.namespace;
        if (id.serviceAccount)
            attributes.serviceAccount = id.serviceAccount;
        const principal = recordProof({ clientId: f.clientId, username: id.username, attributes }, { kind: 'sat' });
        return { ok: true, principal, ...(id.exp ? { expiresAt: id.exp * 1000 } : {}) };
    }
    async check(token) {
        if (token.length === 0)
            return { ok: false, message: 'no token' };
        if (this.review)
            return this.tokenReview(token);
        const keys = this.local ?? (await this.remoteKeys(false));
        if (!keys)
            return { ok: 'unavailable', message: 'no JWKS source configured (set serviceAccountTokenSettings.edgemq.jwksFile, jwksUri or tokenReviewUrl)' };
        try {
            return { ok: true, id: identityOf(await this.verify(token, keys)) };
        }
        catch (err) {
            if (err instanceof joseErrors.JWKSNoMatchingKey && this.remote && Date.now() - this.remote.fetchedAt > JWKS_REFRESH_COOLDOWN_MS) {
                const fresh = await this.remoteKeys(true); // the cluster rotated its signing key
                if (fresh) {
                    try {
                        return { ok: true, id: identityOf(await this.verify(token, fresh)) };
                    }
                    catch (again) {
                        return { ok: false, message: describe(again) };
                    }
                }
            }
            if (err instanceof Unreachable)
                return { ok: 'unavailable', message: err.message };
            return { ok: false, message: describe(err) };
        }
    }
    async verify(token, keys) {
        const { payload } = await jwtVerify(token, keys, {
            audience: this.o.audiences,
            ...(this.o.issuer ? { issuer: this.o.issuer } : {}),
            algorithms: ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'EdDSA'],
        });
        return payload;
    }
    async remoteKeys(force) {
        const r = this.remote;
        if (!r)
            return undefined;
        if (r.keys && !force)
            return r.keys;
        const answer = await r.client.request('GET', r.client.target.url.pathname + r.client.target.url.search);
        if (answer.status !== 200)
            throw new Unreachable(`JWKS endpoint answered ${answer.status}`);
        r.keys = createLocalJWKSet(JSON.parse(answer.body.toString('utf8')));
        r.fetchedAt = Date.now();
        return r.keys;
    }
    async tokenReview(token) {
        const client = this.review;
        let answer;
        try {
            answer = await client.request('POST', client.target.url.pathname, {
                apiVersion: 'authentication.k8s.io/v1',
                kind: 'TokenReview',
                spec: { token, audiences: this.o.audiences },
            });
        }
        catch (err) {
            return { ok: 'unavailable', message: err.message };
        }
        if (answer.status >= 500)
            return { ok: 'unavailable', message: `TokenReview answered ${answer.status}` };
        let status;
        try {
            status = JSON.parse(answer.body.toString('utf8')).status;
        }
        catch {
            return { ok: 'unavailable', message: `TokenReview answered ${answer.status} without JSON` };
        }
        if (answer.status !== 201 && answer.status !== 200)
            return { ok: 'unavailable', message: `TokenReview answered ${answer.status}` };
        if (!status?.authenticated || !status.user?.username)
            return { ok: false, message: status?.error ?? 'not authenticated' };
        if (status.audiences && !status.audiences.some((a) => this.o.audiences.includes(a)))
            return { ok: false, message: 'wrong audience' };
        let exp;
        try {
            exp = decodeJwt(token).exp; // the API server verified the token; its exp bounds the connection
        }
        catch {
            exp = undefined;
        }
        const m = /^system:serviceaccount:([^:]+):(.+)$/.exec(status.user.username);
        const annotations = m ? await this.annotations(m[1], m[2]) : {};
        return {
            ok: true,
            id: { username: status.user.username, ...(m ? { namespace: m[1], serviceAccount: m[2] } : {}), ...(exp ? { exp } : {}), annotations },
        };
    }
    /** `aio-broker-auth/<name>: value` annotations of the ServiceAccount, as attributes `<name>: value`. */
    async annotations(namespace, name) {
        const key = `${namespace}/${name}`;
        const hit = this.annotationCache.get(key);
        if (hit && Date.now() - hit.at < ANNOTATION_TTL_MS)
            return hit.value;
        const value = {};
        try {
            const res = await this.review.request('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(name)}`);
            if (res.status === 200) {
                const sa = JSON.parse(res.body.toString('utf8'));
                for (const [k, v] of Object.entries(sa.metadata?.annotations ?? {})) {
                    const prefix = ANNOTATION_PREFIXES.find((pre) => k.startsWith(pre));
                    if (prefix && typeof v === 'string')
                        value[k.slice(prefix.length)] = v;
                }
            }
        }
        catch {
            // no annotations readable: the namespace and service account name still identify the client
        }
        this.annotationCache.set(key, { at: Date.now(), value });
        return value;
    }
}
function identityOf(p) {
    const k8s = (p['kubernetes.io'] ?? {});
    const sub = p.sub ?? '';
    const m = /^system:serviceaccount:([^:]+):(.+)$/.exec(sub);
    const namespace = k8s.namespace ?? m?.[1];
    const serviceAccount = k8s.serviceaccount?.name ?? m?.[2];
    return {
        username: sub,
        ...(namespace ? { namespace } : {}),
        ...(serviceAccount ? { serviceAccount } : {}),
        ...(p.exp ? { exp: p.exp } : {}),
    };
}
function describe(err) {
    if (err instanceof joseErrors.JWTExpired)
        return 'token expired';
    if (err instanceof joseErrors.JWTClaimValidationFailed)
        return `claim ${err.claim} invalid (${err.reason})`;
    if (err instanceof joseErrors.JWSSignatureVerificationFailed)
        return 'bad signature';
    if (err instanceof joseErrors.JWKSNoMatchingKey)
        return 'signed by an unknown key';
    return err instanceof Error ? err.message : String(err);
}
//# sourceMappingURL=sat.js.map