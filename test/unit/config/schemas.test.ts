import { describe, expect, it } from 'vitest';
import { RESOURCE_SCHEMAS } from '../../../src/config/schemas/index.js';

/** Keywords Kubernetes accepts in a CRD openAPIV3Schema that the schemas are allowed to use. */
const ALLOWED_KEYWORDS = new Set([
  'type', 'description', 'properties', 'required', 'enum', 'minimum', 'maximum', 'items', 'additionalProperties',
  'oneOf', 'minItems', 'minLength', 'pattern', 'x-kubernetes-preserve-unknown-fields',
]);

type Schema = Record<string, unknown>;

function* nodes(schema: Schema, path = '#'): Generator<[string, Schema]> {
  yield [path, schema];
  for (const [name, child] of Object.entries((schema.properties as Record<string, Schema> | undefined) ?? {})) yield* nodes(child, `${path}/${name}`);
  if (typeof schema.items === 'object') yield* nodes(schema.items as Schema, `${path}/items`);
  if (typeof schema.additionalProperties === 'object') yield* nodes(schema.additionalProperties as Schema, `${path}/additionalProperties`);
  for (const [i, branch] of ((schema.oneOf as Schema[] | undefined) ?? []).entries()) yield* nodes(branch, `${path}/oneOf/${i}`);
}

describe('schemas can be emitted as Kubernetes structural CRD schemas', () => {
  for (const [kind, schema] of Object.entries(RESOURCE_SCHEMAS)) {
    it(`${kind}: only CRD-compatible keywords, a type on every node, never properties with additionalProperties`, () => {
      for (const [path, node] of nodes(schema)) {
        const inOneOfBranch = /\/oneOf\/\d+$/.test(path);
        for (const keyword of Object.keys(node)) expect(ALLOWED_KEYWORDS.has(keyword), `${path}: ${keyword}`).toBe(true);
        if (!inOneOfBranch) expect(typeof node.type, `${path} has no type`).toBe('string');
        expect('properties' in node && 'additionalProperties' in node, `${path}`).toBe(false);
      }
    });
  }
});
