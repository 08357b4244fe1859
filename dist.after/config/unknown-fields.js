/**
 * Finds fields the schema does not know. The schemas cannot reject them (Kubernetes structural
 * schemas forbid `additionalProperties: false` next to `properties`, and on a cluster unknown fields
 * are silently pruned), but off-cluster a typo such as `memoryProfle` would otherwise be ignored
 * without a word. So they become warnings, with a suggestion when a known field is close.
 */
import { describeAt, formatPath } from './resource-document.js';
import { PRESERVE_UNKNOWN } from './schemas/common.js';
export function unknownFieldWarnings(schema, doc) {
    const warnings = [];
    walk(schema, doc.body, [], (path, known) => {
        const field = String(path[path.length - 1]);
        const suggestion = closest(field, known);
        warnings.push(`${describeAt(doc, path)}: ${formatPath(path)}: unknown field, ignored${suggestion === undefined ? '' : ` (did you mean ${suggestion}?)`}`);
    });
    return warnings;
}
function walk(schema, value, path, report) {
    if (Array.isArray(value)) {
        const items = schema.items;
        if (items !== undefined)
            value.forEach((item, i) => walk(items, item, [...path, i], report));
        return;
    }
    if (typeof value !== 'object' || value === null)
        return;
    const properties = schema.properties;
    if (properties === undefined)
        return; // a map (additionalProperties) or an opaque object
    const known = Object.keys(properties);
    for (const [key, child] of Object.entries(value)) {
        const childSchema = properties[key];
        if (childSchema !== undefined)
            walk(childSchema, child, [...path, key], report);
        else if (schema[PRESERVE_UNKNOWN] !== true)
            report([...path, key], known);
    }
}
/** A known field within two edits (or differing only in case) of `field`. */
function closest(field, known) {
    let best;
    for (const name of known) {
        const distance = name.toLowerCase() === field.toLowerCase() ? 0 : editDistance(field, name);
        if (distance <= 2 && (best === undefined || distance < best.distance))
            best = { name, distance };
    }
    return best?.name;
}
function editDistance(a, b) {
    let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        const current = [i];
        for (let j = 1; j <= b.length; j++) {
            current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
        }
        previous = current;
    }
    return previous[b.length];
}
//# sourceMappingURL=unknown-fields.js.map