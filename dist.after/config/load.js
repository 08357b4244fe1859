/**
 * Entry points of the config room: YAML files (or text) in, a validated, normalized `LoadedConfig`
 * out. Steps: split documents -> check apiVersion/kind -> schema-validate -> normalize with defaults
 * -> resolve references across resources.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../mqtt/errors.js';
import { checkApiVersion, kindUse } from './api-groups.js';
import * as D from './defaults.js';
import { normalizeBroker } from './normalize-broker.js';
import { normalizeListener } from './normalize-listener.js';
import { describeAt, kindOf, nameOf, resourceId } from './resource-document.js';
import { rejectDuplicateNames, resolveReferences, theOnlyBroker } from './resolve.js';
import { RESOURCE_SCHEMAS } from './schemas/index.js';
import { unknownFieldWarnings } from './unknown-fields.js';
import { validateResource } from './validate.js';
import { readYamlResources } from './yaml-documents.js';
/**
 * Loads every resource in `files` (a directory stands for its `*.yaml`/`*.yml`/`*.json` files, in name
 * order). No files, or files without any resource, give the embedded default configuration.
 */
export function loadConfig(files, opts = {}) {
    const documents = expandDirectories(files).flatMap((file) => readYamlResources(readText(file), file));
    return configFromDocuments(documents, opts);
}
/** Like `loadConfig` for text already in memory (a ConfigMap value, a test); `sourceName` labels messages. */
export function parseConfigText(text, sourceName, opts = {}) {
    return configFromDocuments(readYamlResources(text, sourceName), opts);
}
/** Builds the configuration from parsed resources (also the entry point for resources read from the Kubernetes API). */
export function configFromDocuments(documents, opts = {}) {
    if (documents.length === 0)
        return embeddedDefaultConfig(opts);
    const warnings = [];
    const skipped = [];
    const input = { brokers: [], listeners: [], authentications: [], authorizations: [] };
    const consumed = [];
    for (const doc of documents) {
        const apiVersion = checkApiVersion(doc.body.apiVersion);
        const kind = kindOf(doc);
        if (!apiVersion.ok) {
            throw new ConfigError(`${describeAt(doc, ['apiVersion'])}: ${apiVersion.problem}`, resourceId(doc), 'apiVersion');
        }
        const use = kindUse(kind);
        if (use === 'unknown') {
            const known = Object.keys(RESOURCE_SCHEMAS).join(', ');
            throw new ConfigError(`${describeAt(doc, ['kind'])}: kind: ${kind === '' ? 'is required' : `unknown kind '${kind}' in ${String(doc.body.apiVersion)}`} (edgemq reads ${known})`, resourceId(doc), 'kind');
        }
        if (use === 'skipped') {
            const name = nameOf(doc) ?? '(unnamed)';
            skipped.push({ kind, name, apiVersion: String(doc.body.apiVersion), source: doc.source });
            warnings.push(`${describeAt(doc)}: kind ${kind} is not used by edgemq; skipped`);
            continue;
        }
        const validatedKind = kind;
        validateResource(validatedKind, doc);
        warnings.push(...unknownFieldWarnings(RESOURCE_SCHEMAS[validatedKind], doc));
        consumed.push(doc);
        switch (validatedKind) {
            case 'Broker':
                input.brokers.push({ doc, settings: normalizeBroker(doc, warnings) });
                break;
            case 'BrokerListener':
                input.listeners.push({ doc, settings: normalizeListener(doc, apiVersion.group, warnings) });
                break;
            case 'BrokerAuthentication':
                input.authentications.push(doc);
                break;
            case 'BrokerAuthorization':
                input.authorizations.push(doc);
                break;
        }
    }
    rejectDuplicateNames(consumed);
    if (input.brokers.length === 0 && input.listeners.length === 0 && input.authentications.length === 0 && input.authorizations.length === 0) {
        // Only skipped kinds (e.g. a file of connectors): nothing says how to serve, so serve the default.
        const fallback = embeddedDefaultConfig(opts);
        return { ...fallback, skipped, warnings: [...warnings, ...fallback.warnings] };
    }
    const broker = theOnlyBroker(input);
    let listeners = resolveReferences(input, broker, warnings);
    if (listeners.length === 0) {
        listeners = [embeddedListener(broker.settings, opts)];
        warnings.push(`${describeAt(broker.doc)}: no BrokerListener refers to it; serving the default listener '${D.EMBEDDED_LISTENER_NAME}' on port ${listeners[0].ports[0].port} without authentication`);
    }
    return {
        broker: broker.settings,
        listeners,
        others: [...input.authentications, ...input.authorizations].map((doc) => ({
            kind: kindOf(doc),
            name: nameOf(doc) ?? '',
            apiVersion: String(doc.body.apiVersion),
            spec: doc.body.spec,
            source: doc.source,
        })),
        skipped,
        warnings,
    };
}
/** `edgemq serve` with no configuration: broker `default`, one plain MQTT listener `default`, no auth. */
export function embeddedDefaultConfig(opts = {}) {
    const source = 'embedded default';
    const text = [
        `apiVersion: ${D.EMBEDDED_API_VERSION}`,
        'kind: Broker',
        `metadata: {name: ${D.EMBEDDED_BROKER_NAME}}`,
        'spec: {}',
    ].join('\n');
    // The default broker goes through the same normalization as a file, so defaults live in one place.
    const [doc] = readYamlResources(text, source);
    const warnings = [];
    const broker = normalizeBroker(doc, warnings);
    return { broker, listeners: [embeddedListener(broker, opts)], others: [], skipped: [], warnings };
}
function embeddedListener(broker, opts) {
    return {
        name: D.EMBEDDED_LISTENER_NAME,
        ...(broker.namespace === undefined ? {} : { namespace: broker.namespace }),
        apiVersion: broker.apiVersion,
        brokerRef: broker.name,
        serviceName: D.DEFAULT_SERVICE_NAME_BY_GROUP['mq.edgemq.io'] ?? D.EMBEDDED_LISTENER_NAME,
        serviceType: D.DEFAULT_SERVICE_TYPE,
        authenticationEnabled: false,
        authorizationEnabled: false,
        ports: [{ port: opts.port ?? D.EMBEDDED_PORT, protocol: D.DEFAULT_PROTOCOL }],
    };
}
const CONFIG_EXTENSIONS = /\.(ya?ml|json)$/i;
function expandDirectories(paths) {
    return paths.flatMap((path) => {
        let isDirectory;
        try {
            isDirectory = statSync(path).isDirectory();
        }
        catch (error) {
            throw new ConfigError(`${path}: cannot read configuration: ${error.message}`, path);
        }
        if (!isDirectory)
            return [path];
        return readdirSync(path)
            .filter((name) => CONFIG_EXTENSIONS.test(name))
            .sort()
            .map((name) => join(path, name));
    });
}
function readText(file) {
    try {
        return readFileSync(file, 'utf8');
    }
    catch (error) {
        throw new ConfigError(`${file}: cannot read configuration: ${error.message}`, file);
    }
}
//# sourceMappingURL=load.js.map