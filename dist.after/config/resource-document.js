/**
 * One Kubernetes-style resource as read from a file, before validation: its raw object plus where it
 * came from, so every error can point at the file, the resource and the line.
 */
export function kindOf(doc) {
    return typeof doc.body.kind === 'string' ? doc.body.kind : '';
}
export function nameOf(doc) {
    const metadata = doc.body.metadata;
    if (typeof metadata !== 'object' || metadata === null)
        return undefined;
    const name = metadata.name;
    return typeof name === 'string' && name !== '' ? name : undefined;
}
export function namespaceOf(doc) {
    const metadata = doc.body.metadata;
    if (typeof metadata !== 'object' || metadata === null)
        return undefined;
    const namespace = metadata.namespace;
    return typeof namespace === 'string' && namespace !== '' ? namespace : undefined;
}
/** `Broker/my-broker` (or `Broker (unnamed)`): the `resource` of a ConfigError. */
export function resourceId(doc) {
    const name = nameOf(doc);
    return `${kindOf(doc) || 'resource'}${name === undefined ? ' (unnamed)' : `/${name}`}`;
}
/** `Broker/my-broker in broker.yaml:12`: how messages name a resource, with the line of `path` if known. */
export function describeAt(doc, path = []) {
    const line = (path.length > 0 ? doc.locate(path) : undefined) ?? doc.line;
    return `${resourceId(doc)} in ${doc.source}${line === undefined ? '' : `:${line}`}`;
}
/** `spec.ports[0].port`: a field path as operators write it. */
export function formatPath(path) {
    let out = '';
    for (const part of path) {
        if (typeof part === 'number')
            out += `[${part}]`;
        else
            out += out === '' ? part : `.${part}`;
    }
    return out;
}
//# sourceMappingURL=resource-document.js.map