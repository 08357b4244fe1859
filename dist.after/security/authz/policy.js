import { ConfigError } from '../../mqtt/errors.js';
import { coversFilter, globRegExp, matchesClientId, matchesTopic, parseTemplate, topicLevels } from './templates.js';
const objAt = (v) => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {});
const strings = (v) => (Array.isArray(v) ? v.filter((x) => typeof x === 'string') : []);
const CACHE_PER_PRINCIPAL = 1024;
export class Policy {
    name;
    rules;
    cache;
    constructor(name, spec, warn) {
        this.name = name;
        const policies = objAt(spec.authorizationPolicies);
        const cacheField = typeof policies.cache === 'string' ? policies.cache.toLowerCase() === 'enabled' : policies.enableCache;
        if (cacheField === undefined ? true : cacheField === true)
            this.cache = new WeakMap();
        const raw = Array.isArray(policies.rules) ? policies.rules : [];
        this.rules = raw.map((r, i) => compileRule(objAt(r), `BrokerAuthorization/${name}: spec.authorizationPolicies.rules[${i}]`, warn));
        if (this.rules.length === 0)
            warn(`BrokerAuthorization/${name}: no rules, so every client is denied`);
    }
    canConnect(p) {
        return this.decide(p, 'c', p.clientId, (r) => r.connect.some((ids) => ids === undefined || ids.some((t) => matchesClientId(t, p, p.clientId))));
    }
    canPublish(p, topic) {
        return this.decide(p, 'p', topic, (r) => r.publish.some((t) => {
            const levels = topicLevels(t, p);
            return levels !== undefined && matchesTopic(levels, topic);
        }));
    }
    canSubscribe(p, filter) {
        const shared = /^\$share\/[^/]+\/(.*)$/s.exec(filter);
        const f = shared ? shared[1] : filter;
        return this.decide(p, 's', f, (r) => r.subscribe.some((t) => {
            const levels = topicLevels(t, p);
            return levels !== undefined && coversFilter(levels, f);
        }));
    }
    canAccessStateStoreKey(p, key, access) {
        const text = key.toString('latin1');
        return this.decide(p, access === 'read' ? 'r' : 'w', text, (r) => r.keys.some((k) => {
            if (k.access !== 'readwrite' && k.access !== access)
                return false;
            if (k.kind === 'exact')
                return k.keys.some((b) => b.equals(key));
            return k.templates.some((t) => globRegExp(t, p)?.test(text) === true);
        }));
    }
    decide(p, kind, subject, hit) {
        const key = kind + subject;
        const memo = this.cache?.get(p);
        const cached = memo?.get(key);
        if (cached !== undefined)
            return cached;
        let allowed = false;
        for (const r of this.rules) {
            if (!(r.deny || !allowed) || !principalMatches(r, p) || !hit(r))
                continue;
            if (r.deny) {
                allowed = false;
                break;
            }
            allowed = true;
        }
        if (this.cache) {
            let m = memo;
            if (!m)
                this.cache.set(p, (m = new Map()));
            if (m.size >= CACHE_PER_PRINCIPAL)
                m.clear();
            m.set(key, allowed);
        }
        return allowed;
    }
}
function principalMatches(r, p) {
    if (r.clientIds.has(p.clientId))
        return true;
    if (p.username !== undefined && r.usernames.has(p.username))
        return true;
    return r.attributeSets.some((set) => Object.entries(set).every(([k, v]) => p.attributes[k] === v));
}
function compileRule(r, where, warn) {
    const template = (s, field) => {
        try {
            return parseTemplate(s);
        }
        catch (err) {
            throw new ConfigError(`${where}.${field}: ${err.message}`);
        }
    };
    const principals = objAt(r.principals);
    const rule = {
        deny: typeof r.effect === 'string' && r.effect.toLowerCase() === 'deny',
        clientIds: new Set(strings(principals.clientIds)),
        usernames: new Set(strings(principals.usernames)),
        attributeSets: (Array.isArray(principals.attributes) ? principals.attributes : []).map((a) => Object.fromEntries(Object.entries(objAt(a)).map(([k, v]) => [k, String(v)]))),
        connect: [],
        publish: [],
        subscribe: [],
        keys: [],
    };
    if (rule.clientIds.size + rule.usernames.size + rule.attributeSets.length === 0)
        warn(`${where}.principals: names no client id, username or attribute set, so the rule applies to nobody`);
    const resources = Array.isArray(r.brokerResources) ? r.brokerResources : [];
    resources.forEach((raw, i) => {
        const res = objAt(raw);
        const field = `brokerResources[${i}]`;
        const method = String(res.method ?? '').toLowerCase();
        if (method === 'connect') {
            const ids = strings(res.clientIds);
            rule.connect.push(ids.length === 0 ? undefined : ids.map((s) => template(s, `${field}.clientIds`)));
            return;
        }
        const topics = strings(res.topics).map((s) => template(s, `${field}.topics`));
        if (topics.length === 0)
            warn(`${where}.${field}: ${method} without topics allows nothing`);
        (method === 'publish' ? rule.publish : rule.subscribe).push(...topics);
    });
    const keyResources = Array.isArray(r.stateStoreResources) ? r.stateStoreResources : [];
    keyResources.forEach((raw, i) => {
        const res = objAt(raw);
        const access = String(res.method ?? 'read').toLowerCase();
        const keyType = String(res.keyType ?? 'pattern').toLowerCase();
        const keys = strings(res.keys);
        if (keyType === 'pattern')
            rule.keys.push({ access, kind: 'pattern', templates: keys.map((k) => template(k, `stateStoreResources[${i}].keys`)) });
        else
            rule.keys.push({ access, kind: 'exact', keys: keys.map((k) => (keyType === 'binary' ? Buffer.from(k, 'base64') : Buffer.from(k, 'utf8'))) });
    });
    return rule;
}
//# sourceMappingURL=policy.js.map