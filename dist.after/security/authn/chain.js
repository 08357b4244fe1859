import { RC } from '../../mqtt/reason-codes.js';
import { notRelevant, proofOf, recordProof } from './method.js';
export class AnonymousMethod {
    attributes;
    kind = 'anonymous';
    constructor(attributes) {
        this.attributes = attributes;
    }
    async authenticate(f) {
        // Only clients that present nothing: a wrong password must never fall back to anonymous.
        if (f.username !== undefined || f.password !== undefined || f.authenticationMethod || f.clientCertificates?.length)
            return notRelevant;
        return { ok: true, principal: recordProof({ clientId: f.clientId, attributes: { ...this.attributes } }, { kind: 'anonymous' }) };
    }
}
export class MethodChain {
    name;
    methods;
    log;
    /** Which method accepted a CONNECT, so its AUTH packets go back to it. Keyed by the channel's facts. */
    owners = new WeakMap();
    constructor(name, methods, log) {
        this.name = name;
        this.methods = methods;
        this.log = log;
    }
    async authenticate(f) {
        let unavailable;
        for (const m of this.methods) {
            let r;
            try {
                r = await m.authenticate(f);
            }
            catch (err) {
                this.log.error({ authentication: this.name, method: m.kind, err: err.message }, 'authentication method failed');
                return { ok: false, reasonCode: RC.UnspecifiedError, message: 'authentication failed' };
            }
            if (r.ok === 'not-relevant') {
                if (r.unavailable) {
                    unavailable ??= r.unavailable;
                    this.log.warn({ authentication: this.name, method: m.kind, clientId: f.clientId, reason: r.unavailable }, 'authentication method unavailable; trying the next');
                }
                continue;
            }
            this.owners.set(f, { method: m, ...(r.ok === true ? { principal: r.principal } : {}) });
            if (r.ok === false)
                this.log.info({ authentication: this.name, method: m.kind, clientId: f.clientId, rc: r.reasonCode, reason: r.message }, 'authentication refused');
            return r;
        }
        if (unavailable)
            return { ok: false, reasonCode: RC.ServerUnavailable, message: 'authentication service unavailable' };
        if (f.authenticationMethod)
            return { ok: false, reasonCode: RC.BadAuthenticationMethod, message: `authentication method ${f.authenticationMethod} is not served here` };
        return { ok: false, reasonCode: RC.NotAuthorized, message: 'no authentication method accepts these credentials' };
    }
    async continueAuth(f, reauthenticate) {
        const owner = this.owners.get(f);
        if (!owner?.method.continueAuth)
            return { ok: false, reasonCode: RC.BadAuthenticationMethod, message: 'this method cannot continue or re-authenticate' };
        let v;
        try {
            v = await owner.method.continueAuth(f, reauthenticate, owner.principal);
        }
        catch (err) {
            this.log.error({ authentication: this.name, method: owner.method.kind, err: err.message }, 'authentication method failed');
            return { ok: false, reasonCode: RC.UnspecifiedError, message: 'authentication failed' };
        }
        if (v.ok === true)
            owner.principal = v.principal;
        return v;
    }
    /** After a reload: may a principal admitted by an earlier configuration stay connected? */
    stillValid(p) {
        const proof = proofOf(p);
        if (!proof)
            return false;
        const m = this.methods.find((x) => x.kind === proof.kind);
        return m !== undefined && (m.stillValid?.(proof) ?? true);
    }
    close() {
        for (const m of this.methods)
            m.close?.();
    }
}
//# sourceMappingURL=chain.js.map