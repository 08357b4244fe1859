/**
 * Attribute-based authorization of one BrokerAuthorization: rules of principals (client ids,
 * usernames, attribute sets; ORed) x broker resources (Connect with client-id narrowing, Publish and
 * Subscribe with topic filters) x state-store resources. Deny by default; edgemq's `effect: Deny`
 * makes a rule withhold what it names, winning over every Allow.
 *
 * Subscribe: a requested filter is allowed when an Allow rule's filter covers every topic it can
 * match (so `sensors/#` allows `sensors/+/temp`), and refused when a Deny rule's filter covers it
 * (as EMQX matches ACL topics). `$share/<group>/` is ignored for the check.
 *
 * Decisions can be cached per principal (`cache: Enabled`); a configuration change builds a new
 * Policy, which is how the cache is invalidated.
 */
import type { Authorizer, Principal } from '../../frontend/ports.js';
import { ConfigError } from '../../mqtt/errors.js';
import { coversFilter, globRegExp, matchesClientId, matchesTopic, parseTemplate, topicLevels, type Template } from './templates.js';

type Obj = Record<string, unknown>;
const objAt = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

type KeyRule = { access: 'read' | 'write' | 'readwrite'; kind: 'pattern'; templates: Template[] } | { access: 'read' | 'write' | 'readwrite'; kind: 'exact'; keys: Buffer[] };

interface Rule {
  deny: boolean;
  clientIds: Set<string>;
  usernames: Set<string>;
  attributeSets: Array<Record<string, string>>;
  /** Connect resources: undefined entry = any client id. */
  connect: Array<Template[] | undefined>;
  publish: Template[];
  subscribe: Template[];
  keys: KeyRule[];
}

const CACHE_PER_PRINCIPAL = 1024;

export class Policy implements Authorizer {
  private readonly rules: Rule[];
  private readonly cache?: WeakMap<Principal, Map<string, boolean>>;

  constructor(
    readonly name: string,
    spec: Obj,
    warn: (msg: string) => void,
  ) {
    const policies = objAt(spec.authorizationPolicies);
    const cacheField = typeof policies.cache === 'string' ? policies.cache.toLowerCase() === 'enabled' : policies.enableCache;
    if (cacheField === undefined ? true : cacheField === true) this.cache = new WeakMap();
    const raw = Array.isArray(policies.rules) ? policies.rules : [];
    this.rules = raw.map((r, i) => compileRule(objAt(r), `BrokerAuthorization/${name}: spec.authorizationPolicies.rules[${i}]`, warn));
    if (this.rules.length === 0) warn(`BrokerAuthorization/${name}: no rules, so every client is denied`);
  }

  canConnect(p: Principal): boolean {
    return this.decide(p, 'c', p.clientId, (r) => r.connect.some((ids) => ids === undefined || ids.some((t) => matchesClientId(t, p, p.clientId))));
  }

  canPublish(p: Principal, topic: string): boolean {
    return this.decide(p, 'p', topic, (r) => r.publish.some((t) => {
      const levels = topicLevels(t, p);
      return levels !== undefined && matchesTopic(levels, topic);
    }));
  }

  canSubscribe(p: Principal, filter: string): boolean {
    const shared = /^\$share\/[^/]+\/(.*)$/s.exec(filter);
    const f = shared ? shared[1]! : filter;
    return this.decide(p, 's', f, (r) => r.subscribe.some((t) => {
      const levels = topicLevels(t, p);
      return levels !== undefined && coversFilter(levels, f);
    }));
  }

  canAccessStateStoreKey(p: Principal, key: Buffer, access: 'read' | 'write'): boolean {
    const text = key.toString('latin1');
    return this.decide(p, access === 'read' ? 'r' : 'w', text, (r) =>
      r.keys.some((k) => {
        if (k.access !== 'readwrite' && k.access !== access) return false;
        if (k.kind === 'exact') return k.keys.some((b) => b.equals(key));
        return k.templates.some((t) => globRegExp(t, p)?.test(text) === true);
      }),
    );
  }

  private decide(p: Principal, kind: string, subject: string, hit: (r: Rule) => boolean): boolean {
    const key = kind + subject;
    const memo = this.cache?.get(p);
    const cached = memo?.get(key);
    if (cached !== undefined) return cached;
    let allowed = false;
    for (const r of this.rules) {
      if (!(r.deny || !allowed) || !principalMatches(r, p) || !hit(r)) continue;
      if (r.deny) {
        allowed = false;
        break;
      }
      allowed = true;
    }
    if (this.cache) {
      let m = memo;
      if (!m) this.cache.set(p, (m = new Map()));
      if (m.size >= CACHE_PER_PRINCIPAL) m.clear();
      m.set(key, allowed);
    }
    return allowed;
  }
}

function principalMatches(r: Rule, p: Principal): boolean {
  if (r.clientIds.has(p.clientId)) return true;
  if (p.username !== undefined && r.usernames.has(p.username)) return true;
  return r.attributeSets.some((set) => Object.entries(set).every(([k, v]) => p.attributes[k] === v));
}

function compileRule(r: Obj, where: string, warn: (msg: string) => void): Rule {
  const template = (s: string, field: string): Template => {
    try {
      return parseTemplate(s);
    } catch (err) {
      throw new ConfigError(`${where}.${field}: ${(err as Error).message}`);
    }
  };
  const principals = objAt(r.principals);
  const rule: Rule = {
    deny: typeof r.effect === 'string' && r.effect.toLowerCase() === 'deny',
    clientIds: new Set(strings(principals.clientIds)),
    usernames: new Set(strings(principals.usernames)),
    attributeSets: (Array.isArray(principals.attributes) ? principals.attributes : []).map((a) =>
      Object.fromEntries(Object.entries(objAt(a)).map(([k, v]) => [k, String(v)])),
    ),
    connect: [],
    publish: [],
    subscribe: [],
    keys: [],
  };
  if (rule.clientIds.size + rule.usernames.size + rule.attributeSets.length === 0) warn(`${where}.principals: names no client id, username or attribute set, so the rule applies to nobody`);
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
    if (topics.length === 0) warn(`${where}.${field}: ${method} without topics allows nothing`);
    (method === 'publish' ? rule.publish : rule.subscribe).push(...topics);
  });
  const keyResources = Array.isArray(r.stateStoreResources) ? r.stateStoreResources : [];
  keyResources.forEach((raw, i) => {
    const res = objAt(raw);
    const access = String(res.method ?? 'read').toLowerCase() as KeyRule['access'];
    const keyType = String(res.keyType ?? 'pattern').toLowerCase();
    const keys = strings(res.keys);
    if (keyType === 'pattern') rule.keys.push({ access, kind: 'pattern', templates: keys.map((k) => template(k, `stateStoreResources[${i}].keys`)) });
    else rule.keys.push({ access, kind: 'exact', keys: keys.map((k) => (keyType === 'binary' ? Buffer.from(k, 'base64') : Buffer.from(k, 'utf8'))) });
  });
  return rule;
}
