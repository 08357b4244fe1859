/**
 * Building blocks shared by the per-kind schemas.
 *
 * Every schema here stays inside the subset of JSON Schema that Kubernetes accepts as a CRD
 * `openAPIV3Schema` (a "structural" schema): `type` on every node, no `$ref`, and never
 * `properties` together with `additionalProperties` on the same node. That is why unknown fields are
 * not rejected by the schemas themselves (Kubernetes prunes them on a cluster); off-cluster the loader
 * reports them as warnings instead (see `unknown-fields.ts`).
 */
/** Marks an object whose content is opaque to edgemq (kept, not validated): PVC specs, Key Vault settings. */
export const PRESERVE_UNKNOWN = 'x-kubernetes-preserve-unknown-fields';
export const opaqueObject = (description) => ({
    type: 'object',
    description,
    [PRESERVE_UNKNOWN]: true,
});
export const str = (description, extra = {}) => ({ type: 'string', description, ...extra });
export const bool = (description) => ({ type: 'boolean', description });
export const int = (description, minimum, maximum) => ({
    type: 'integer',
    description,
    ...(minimum === undefined ? {} : { minimum }),
    ...(maximum === undefined ? {} : { maximum }),
});
export const stringList = (description, extra = {}) => ({
    type: 'array',
    description,
    items: { type: 'string' },
    ...extra,
});
export const stringMap = (description) => ({
    type: 'object',
    description,
    additionalProperties: { type: 'string' },
});
export const obj = (description, properties, required) => ({
    type: 'object',
    description,
    properties,
    ...(required?.length ? { required } : {}),
});
/**
 * The spellings accepted for one enum value. Azure wrote enums as `clusterIp` in 2023 and `ClusterIp`
 * since 2024, and users write `ClusterIP` after the Kubernetes Service field; accepting all common
 * casings lets every generation's YAML load unchanged. The canonical (first) spelling is what
 * `canonicalEnum` maps them back to.
 */
export function spellings(canonical, ...extra) {
    const lowerFirst = canonical.charAt(0).toLowerCase() + canonical.slice(1);
    const upperFirst = canonical.charAt(0).toUpperCase() + canonical.slice(1);
    return [...new Set([canonical, lowerFirst, upperFirst, canonical.toLowerCase(), canonical.toUpperCase(), ...extra])];
}
/** An enum whose values may be written in any of the `spellings` casings. */
export const caseInsensitiveEnum = (description, canonicals, extra = []) => ({
    type: 'string',
    description: `${description} One of ${canonicals.join(', ')} (any casing).`,
    enum: [...canonicals.flatMap((c) => spellings(c)), ...extra],
});
/** Maps a validated spelling back to its canonical value (the schema guarantees a match). */
export function canonicalEnum(value, canonicals) {
    const found = canonicals.find((c) => c.toLowerCase() === value.toLowerCase());
    if (found === undefined)
        throw new Error(`internal: '${value}' is not one of ${canonicals.join(', ')}`);
    return found;
}
/** `{repository, tag, pullPolicy}` of the 2023 Broker images; accepted and ignored (edgemq ships one image). */
export const imageSchema = (description) => obj(description, {
    repository: str('Image repository.'),
    tag: str('Image tag.'),
    pullPolicy: str('Kubernetes imagePullPolicy.'),
    pullSecrets: { type: 'array', items: opaqueObject('Image pull secret reference.') },
});
/** Kubernetes object metadata: edgemq reads `name` and `namespace`, tolerates everything else. */
const metadataSchema = {
    type: 'object',
    description: 'Kubernetes object metadata; edgemq uses name and namespace.',
    [PRESERVE_UNKNOWN]: true,
    properties: {
        name: { type: 'string', minLength: 1 },
        namespace: { type: 'string' },
    },
    required: ['name'],
};
/**
 * Wraps a kind's `spec` schema into the schema of the whole resource. `status` is written by the
 * cluster (and by `kubectl get -o yaml`), so it is accepted and ignored.
 */
export function resourceSchema(kind, description, spec) {
    return {
        type: 'object',
        description,
        properties: {
            apiVersion: { type: 'string' },
            kind: { type: 'string', enum: [kind] },
            metadata: metadataSchema,
            spec,
            status: opaqueObject('Written by the cluster; ignored when loading.'),
        },
        required: ['apiVersion', 'kind', 'metadata', 'spec'],
    };
}
//# sourceMappingURL=common.js.map