/**
 * Checks that span resources: exactly one Broker, names unique per kind, every `brokerRef`,
 * `authenticationRef`, `authorizationRef` and 2023 `listenerRef` pointing at a loaded resource, ports
 * unique across all listeners, and Service names consistent with Service types. For 2023 listeners it
 * also turns the back-pointing `listenerRef` of BrokerAuthentication/BrokerAuthorization into the
 * per-port `authenticationRef`/`authorizationRef`, so later rooms read one shape only.
 */
import { ConfigError } from '../mqtt/errors.js';
import { describeAt, nameOf, resourceId } from './resource-document.js';
export function rejectDuplicateNames(docs) {
    const seen = new Map();
    for (const doc of docs) {
        const key = resourceId(doc);
        const first = seen.get(key);
        if (first !== undefined) {
            throw new ConfigError(`${describeAt(doc)}: metadata.name: ${key} is defined twice (first in ${describeAt(first)})`, key, 'metadata.name');
        }
        seen.set(key, doc);
    }
}
/** The single Broker, or a ConfigError explaining why there is not exactly one. */
export function theOnlyBroker(input) {
    const [broker, second] = input.brokers;
    if (second !== undefined) {
        throw new ConfigError(`${describeAt(second.doc)}: only one Broker is allowed, but ${describeAt(broker.doc)} is defined too`, resourceId(second.doc));
    }
    if (broker === undefined) {
        const dependent = input.listeners[0]?.doc ?? input.authentications[0] ?? input.authorizations[0];
        throw new ConfigError(`no Broker resource found${dependent === undefined ? '' : ` (${describeAt(dependent)} needs one)`}; add a Broker or load no files for the embedded default`, dependent === undefined ? undefined : resourceId(dependent));
    }
    return broker;
}
export function resolveReferences(input, broker, warnings) {
    for (const { doc, settings } of input.listeners) {
        if (settings.brokerRef !== broker.settings.name) {
            throw new ConfigError(`${describeAt(doc, ['spec', 'brokerRef'])}: spec.brokerRef: names Broker '${settings.brokerRef}', which is not loaded ` +
                `(the loaded Broker is ${describeAt(broker.doc)})`, resourceId(doc), 'spec.brokerRef');
        }
    }
    const listeners = input.listeners.map((l) => linkLegacyAuth(l, input, warnings));
    checkPortRefs(input, warnings);
    rejectDanglingListenerRefs(input);
    rejectDuplicatePorts(input.listeners);
    warnOnServiceNames(input.listeners, warnings);
    return listeners;
}
/** 2023: BrokerAuthentication/BrokerAuthorization name their listeners in `spec.listenerRef`. */
function linkLegacyAuth({ doc, settings }, input, warnings) {
    if (isPortsShape(doc))
        return settings;
    const pick = (resources, kind, enabled, field) => {
        const naming = resources.filter((r) => listenerRefsOf(r).includes(settings.name));
        if (naming.length > 1) {
            throw new ConfigError(`${describeAt(doc)}: more than one ${kind} lists it in spec.listenerRef: ${naming.map((r) => describeAt(r)).join(', ')}`, resourceId(doc), 'spec.listenerRef');
        }
        const [only] = naming;
        if (enabled && only === undefined) {
            warnings.push(`${describeAt(doc, ['spec', field])}: spec.${field}: true, but no ${kind} lists '${settings.name}' in spec.listenerRef`);
        }
        if (!enabled && only !== undefined) {
            warnings.push(`${describeAt(only, ['spec', 'listenerRef'])}: spec.listenerRef: listener '${settings.name}' has ${field} false, so this has no effect there`);
        }
        return enabled ? (only === undefined ? undefined : nameOf(only)) : undefined;
    };
    const authenticationRef = pick(input.authentications, 'BrokerAuthentication', settings.authenticationEnabled, 'authenticationEnabled');
    const authorizationRef = settings.authenticationEnabled
        ? pick(input.authorizations, 'BrokerAuthorization', settings.authorizationEnabled, 'authorizationEnabled')
        : undefined;
    return {
        ...settings,
        ports: settings.ports.map((p) => ({
            ...p,
            ...(authenticationRef === undefined ? {} : { authenticationRef }),
            ...(authorizationRef === undefined ? {} : { authorizationRef }),
        })),
    };
}
function checkPortRefs(input, warnings) {
    const authnNames = new Set(input.authentications.map(nameOf));
    const authzNames = new Set(input.authorizations.map(nameOf));
    for (const { doc } of input.listeners) {
        if (!isPortsShape(doc))
            continue;
        const ports = doc.body.spec.ports;
        ports.forEach((entry, i) => {
            for (const [field, kind, names] of [
                ['authenticationRef', 'BrokerAuthentication', authnNames],
                ['authorizationRef', 'BrokerAuthorization', authzNames],
            ]) {
                const ref = entry[field];
                if (typeof ref === 'string' && !names.has(ref)) {
                    throw new ConfigError(`${describeAt(doc, ['spec', 'ports', i, field])}: spec.ports[${i}].${field}: names ${kind} '${ref}', which is not loaded`, resourceId(doc), `spec.ports[${i}].${field}`);
                }
            }
        });
        for (const r of [...input.authentications, ...input.authorizations]) {
            if (listenerRefsOf(r).includes(nameOf(doc) ?? '')) {
                warnings.push(`${describeAt(r, ['spec', 'listenerRef'])}: spec.listenerRef: ignored for ${resourceId(doc)}, which uses per-port references`);
            }
        }
    }
}
function rejectDanglingListenerRefs(input) {
    const listenerNames = new Set(input.listeners.map((l) => l.settings.name));
    for (const r of [...input.authentications, ...input.authorizations]) {
        listenerRefsOf(r).forEach((ref, i) => {
            if (!listenerNames.has(ref)) {
                throw new ConfigError(`${describeAt(r, ['spec', 'listenerRef', i])}: spec.listenerRef[${i}]: names BrokerListener '${ref}', which is not loaded`, resourceId(r), `spec.listenerRef[${i}]`);
            }
        });
    }
}
/**
 * Two listeners cannot bind one port (Azure requires ports unique across ALL listeners, since they
 * share Services). Port 0 asks the OS for a free port each time, so it never collides.
 */
function rejectDuplicatePorts(listeners) {
    const owners = new Map();
    for (const { doc, settings } of listeners) {
        settings.ports.forEach((p, i) => {
            if (p.port === 0)
                return;
            const field = isPortsShape(doc) ? `spec.ports[${i}].port` : 'spec.port';
            const path = isPortsShape(doc) ? ['spec', 'ports', i, 'port'] : ['spec', 'port'];
            const owner = owners.get(p.port);
            if (owner !== undefined) {
                throw new ConfigError(`${describeAt(doc, path)}: ${field}: port ${p.port} is already used by ${describeAt(owner.doc)} (${owner.field})`, resourceId(doc), field);
            }
            owners.set(p.port, { doc, field });
        });
    }
}
/** Azure's rule: listeners of one Service type share one Service name; different types need different names. */
function warnOnServiceNames(listeners, warnings) {
    const byType = new Map();
    const byName = new Map();
    for (const l of listeners) {
        const { serviceType, serviceName } = l.settings;
        const sameType = byType.get(serviceType);
        if (sameType !== undefined && sameType.settings.serviceName !== serviceName) {
            warnings.push(`${describeAt(l.doc, ['spec', 'serviceName'])}: spec.serviceName: '${serviceName}' differs from '${sameType.settings.serviceName}' ` +
                `of ${describeAt(sameType.doc)}; listeners with serviceType ${serviceType} should share one serviceName`);
        }
        const sameName = byName.get(serviceName);
        if (sameName !== undefined && sameName.settings.serviceType !== serviceType) {
            warnings.push(`${describeAt(l.doc, ['spec', 'serviceType'])}: spec.serviceType: ${serviceType} differs from ${sameName.settings.serviceType} ` +
                `of ${describeAt(sameName.doc)}, which uses the same serviceName '${serviceName}'; one Service cannot have two types`);
        }
        if (!byType.has(serviceType))
            byType.set(serviceType, l);
        if (!byName.has(serviceName))
            byName.set(serviceName, l);
    }
}
function isPortsShape(doc) {
    return Array.isArray(doc.body.spec?.ports);
}
function listenerRefsOf(doc) {
    const refs = doc.body.spec?.listenerRef;
    return Array.isArray(refs) ? refs.filter((r) => typeof r === 'string') : [];
}
//# sourceMappingURL=resolve.js.map