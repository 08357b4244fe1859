/**
 * Splits multi-document YAML into resource documents. YAML syntax errors become ConfigErrors naming
 * the file, line and column; a `kind: List` (what `kubectl get -o yaml` prints) is expanded into its
 * items so exported cluster state loads as it is.
 */
import { LineCounter, parseAllDocuments } from 'yaml';
import { ConfigError } from '../mqtt/errors.js';
export function readYamlResources(text, source) {
    const lineCounter = new LineCounter();
    const parsed = parseAllDocuments(text, { lineCounter });
    // Text without any document parses to an EmptyStream: an array with no items.
    const documents = Array.isArray(parsed) ? parsed : [];
    const lineAt = (offset) => lineCounter.linePos(offset).line;
    const resources = [];
    documents.forEach((document, index) => {
        const error = document.errors[0];
        if (error !== undefined) {
            const pos = error.linePos?.[0];
            const where = pos === undefined ? source : `${source}:${pos.line}:${pos.col}`;
            // yaml's message repeats the position and a snippet after " at line"; the position is already in `where`.
            const reason = error.message.split(/ at line \d+/)[0];
            throw new ConfigError(`${where}: YAML syntax error: ${reason}`, source);
        }
        const value = document.toJS({ maxAliasCount: 100 });
        if (value === null || value === undefined)
            return; // empty or comment-only document, e.g. after a trailing `---`
        const startLine = document.contents?.range ? lineAt(document.contents.range[0]) : undefined;
        const locateIn = (prefix) => (path) => {
            // Walk up to the closest existing node: a missing field is reported at its parent.
            for (let depth = path.length; depth >= 0; depth--) {
                const node = document.getIn([...prefix, ...path.slice(0, depth)], true);
                if (node?.range)
                    return lineAt(node.range[0]);
            }
            return undefined;
        };
        if (!isMapping(value)) {
            const got = Array.isArray(value) ? 'a list' : `${typeof value} ${JSON.stringify(value)}`;
            throw new ConfigError(`${source}${startLine === undefined ? '' : `:${startLine}`}: document ${index + 1} must be a mapping (a Kubernetes resource), got ${got}`, source);
        }
        if (value.kind === 'List' && Array.isArray(value.items)) {
            value.items.forEach((item, i) => {
                const locate = locateIn(['items', i]);
                if (!isMapping(item)) {
                    throw new ConfigError(`${source}:${locate([]) ?? startLine}: items[${i}] of the List must be a mapping (a Kubernetes resource)`, source);
                }
                resources.push({ body: item, source, line: locate([]), locate });
            });
            return;
        }
        resources.push({ body: value, source, line: startLine, locate: locateIn([]) });
    });
    return resources;
}
function isMapping(value) {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}
//# sourceMappingURL=yaml-documents.js.map