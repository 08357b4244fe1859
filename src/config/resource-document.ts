/**
 * One Kubernetes-style resource as read from a file, before validation: its raw object plus where it
 * came from, so every error can point at the file, the resource and the line.
 */

export type FieldPath = ReadonlyArray<string | number>;

export interface ResourceDocument {
  /** The whole resource object (apiVersion, kind, metadata, spec, ...), as parsed. */
  body: Record<string, unknown>;
  /** File name (or any label the caller gave, e.g. a ConfigMap key). */
  source: string;
  /** 1-based line of the resource's first line in `source`, when known. */
  line?: number;
  /** 1-based line of the value at `path` (relative to the resource), when known. */
  locate(path: FieldPath): number | undefined;
}

export function kindOf(doc: ResourceDocument): string {
  return typeof doc.body.kind === 'string' ? doc.body.kind : '';
}

export function nameOf(doc: ResourceDocument): string | undefined {
  const metadata = doc.body.metadata;
  if (typeof metadata !== 'object' || metadata === null) return undefined;
  const name = (metadata as Record<string, unknown>).name;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

export function namespaceOf(doc: ResourceDocument): string | undefined {
  const metadata = doc.body.metadata;
  if (typeof metadata !== 'object' || metadata === null) return undefined;
  const namespace = (metadata as Record<string, unknown>).namespace;
  return typeof namespace === 'string' && namespace !== '' ? namespace : undefined;
}

/** `Broker/my-broker` (or `Broker (unnamed)`): the `resource` of a ConfigError. */
export function resourceId(doc: ResourceDocument): string {
  const name = nameOf(doc);
  return `${kindOf(doc) || 'resource'}${name === undefined ? ' (unnamed)' : `/${name}`}`;
}

/** `Broker/my-broker in broker.yaml:12`: how messages name a resource, with the line of `path` if known. */
export function describeAt(doc: ResourceDocument, path: FieldPath = []): string {
  const line = (path.length > 0 ? doc.locate(path) : undefined) ?? doc.line;
  return `${resourceId(doc)} in ${doc.source}${line === undefined ? '' : `:${line}`}`;
}

/** `spec.ports[0].port`: a field path as operators write it. */
export function formatPath(path: FieldPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out;
}
