/**
 * Schema validation of one resource document with ajv. Validators are compiled once per kind, with
 * `allErrors` so an operator sees every problem of a resource at once. ajv's errors are rewritten
 * into messages that name the resource, file, line and field path, e.g.
 * `BrokerListener/my-listener in listeners.yaml:9: spec.port: must be <= 65535 (got 70000)`.
 */
import { Ajv } from 'ajv';
import { ConfigError } from '../mqtt/errors.js';
import { describeAt, formatPath, resourceId } from './resource-document.js';
import { PRESERVE_UNKNOWN } from './schemas/common.js';
import { RESOURCE_SCHEMAS } from './schemas/index.js';
let validators;
function validatorFor(kind) {
    if (validators === undefined) {
        const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, strictTypes: false, strictRequired: false });
        // strictRequired is off because the listener's oneOf branches only name properties declared beside them.
        // Kubernetes' structural-schema extension: meaningful to the API server, a no-op for ajv.
        ajv.addKeyword({ keyword: PRESERVE_UNKNOWN, schemaType: 'boolean' });
        validators = new Map(Object.keys(RESOURCE_SCHEMAS).map((k) => [k, ajv.compile(RESOURCE_SCHEMAS[k])]));
    }
    const validate = validators.get(kind);
    if (validate === undefined)
        throw new Error(`internal: no schema for kind ${kind}`);
    return validate;
}
/** Throws a ConfigError listing every schema violation of `doc`; returns normally when it is valid. */
export function validateResource(kind, doc) {
    const validate = validatorFor(kind);
    if (validate(doc.body))
        return;
    const problems = relevantErrors(validate.errors ?? []).map((error) => describeError(error));
    const lines = problems.map(({ path, problem }) => `${describeAt(doc, path)}: ${formatPath(path) || '(resource)'}: ${problem}`);
    throw new ConfigError([...new Set(lines)].join('\n'), resourceId(doc), formatPath(problems[0]?.path ?? []));
}
/**
 * Errors inside the branches of a `oneOf` only explain why each branch failed ("port is required",
 * "ports is required"); the `oneOf` error itself says it better, so branch errors are dropped.
 */
function relevantErrors(errors) {
    const kept = errors.filter((e) => !/\/oneOf\/\d+\//.test(e.schemaPath));
    return kept.length > 0 ? kept : errors;
}
function describeError(error) {
    const path = error.instancePath
        .split('/')
        .slice(1)
        .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
        .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
    const params = error.params;
    const got = ` (got ${show(error.data)})`;
    switch (error.keyword) {
        case 'required':
            return { path: [...path, String(params.missingProperty)], problem: 'is required' };
        case 'type':
            return { path, problem: `must be ${article(String(params.type))}${got}` };
        case 'minimum':
            return { path, problem: `must be >= ${String(params.limit)}${got}` };
        case 'maximum':
            return { path, problem: `must be <= ${String(params.limit)}${got}` };
        case 'enum':
            return { path, problem: `must be one of ${distinctIgnoringCase(params.allowedValues).join(', ')}${got}` };
        case 'minItems':
            return { path, problem: `must have at least ${String(params.limit)} item(s)` };
        case 'minLength':
            return { path, problem: params.limit === 1 ? 'must not be empty' : `must be at least ${String(params.limit)} characters` };
        case 'pattern':
            return { path, problem: `must match ${String(params.pattern)}${got}` };
        case 'oneOf': {
            const choices = (error.parentSchema.oneOf ?? [])
                .map((branch) => branch.required?.join(' + '))
                .filter((c) => c !== undefined);
            return params.passingSchemas === null
                ? { path, problem: `must set one of ${choices.join(' or ')}` }
                : { path, problem: `must set only one of ${choices.join(' or ')}, not both` };
        }
        default:
            return { path, problem: error.message ?? `fails ${error.keyword}` };
    }
}
function article(type) {
    return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}
/** The enum lists every accepted casing; operators only need each value once. */
function distinctIgnoringCase(values) {
    const seen = new Map();
    for (const v of values)
        if (!seen.has(v.toLowerCase()))
            seen.set(v.toLowerCase(), v);
    return [...seen.values()];
}
function show(value) {
    if (typeof value === 'string')
        return `'${value}'`;
    if (Array.isArray(value))
        return 'a list';
    if (value === null)
        return 'null';
    if (typeof value === 'object')
        return 'a mapping';
    return String(value);
}
//# sourceMappingURL=validate.js.map