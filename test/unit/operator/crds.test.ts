import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { brokerSpecSchema } from '../../../src/config/schemas/broker.js';
import { brokerAuthenticationSpecSchema } from '../../../src/config/schemas/broker-authentication.js';
import { brokerAuthorizationSpecSchema } from '../../../src/config/schemas/broker-authorization.js';
import { brokerListenerSpecSchema } from '../../../src/config/schemas/broker-listener.js';
import { mqttBridgeConnectorSpecSchema, mqttBridgeTopicMapSpecSchema } from '../../../src/config/schemas/mqtt-bridge.js';
import { buildCrds, renderCrdsYaml } from '../../../src/operator/crds.js';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const CRD_DIR = path.join(repoRoot, 'helm/edgemq/crds');
const CRD_FILE = path.join(CRD_DIR, 'edgemq-crds.yaml');
const REGENERATE = 'npx tsx src/cli/main.ts crds > helm/edgemq/crds/edgemq-crds.yaml (or EDGEMQ_UPDATE_CRDS=1 npx vitest run --config test/vitest.config.ts test/unit/operator)';

type Schema = Record<string, unknown>;
type Crd = {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string; singular: string; listKind: string };
    versions: Array<{
      name: string;
      served: boolean;
      storage: boolean;
      schema: { openAPIV3Schema: Schema };
      subresources?: Schema;
      additionalPrinterColumns?: Array<{ name: string; type: string; jsonPath: string }>;
    }>;
  };
};

const crds = buildCrds() as Crd[];
const byKind = new Map(crds.map((c) => [c.spec.names.kind, c]));
const SPEC_SCHEMAS: Record<string, Schema> = {
  Broker: brokerSpecSchema,
  BrokerListener: brokerListenerSpecSchema,
  BrokerAuthentication: brokerAuthenticationSpecSchema,
  BrokerAuthorization: brokerAuthorizationSpecSchema,
  MqttBridgeConnector: mqttBridgeConnectorSpecSchema,
  MqttBridgeTopicMap: mqttBridgeTopicMapSpecSchema,
};

const JUNCTORS = ['oneOf', 'anyOf', 'allOf', 'not'] as const;

/** Every schema node with its path; `inJunctor` marks nodes below oneOf/anyOf/allOf/not. */
function* walk(node: Schema, at: string, inJunctor = false): Generator<{ at: string; node: Schema; inJunctor: boolean }> {
  yield { at, node, inJunctor };
  for (const [name, child] of Object.entries((node.properties as Record<string, Schema> | undefined) ?? {})) yield* walk(child, `${at}.${name}`, inJunctor);
  if (node.items && typeof node.items === 'object') yield* walk(node.items as Schema, `${at}[]`, inJunctor);
  if (node.additionalProperties && typeof node.additionalProperties === 'object') yield* walk(node.additionalProperties as Schema, `${at}{}`, inJunctor);
  for (const j of JUNCTORS) {
    const v = node[j];
    const branches = Array.isArray(v) ? (v as Schema[]) : v && typeof v === 'object' ? [v as Schema] : [];
    for (const [i, b] of branches.entries()) yield* walk(b, `${at}/${j}[${i}]`, true);
  }
}

/** The schema node a printer column's `.a.b[0].c` path points to. */
function schemaAt(root: Schema, jsonPath: string): Schema | undefined {
  let node: Schema | undefined = root;
  for (const part of jsonPath.replace(/^\./, '').split('.')) {
    const m = /^([^[]+)(\[\d+\])?$/.exec(part);
    if (!m || !node) return undefined;
    node = (node.properties as Record<string, Schema> | undefined)?.[m[1]!];
    if (m[2] && node) node = node.items as Schema | undefined;
  }
  return node;
}

describe('buildCrds', () => {
  it('defines the broker and bridge kinds in mq.edgemq.io, version v1beta1 served and stored', () => {
    expect([...byKind.keys()].sort()).toEqual(['Broker', 'BrokerAuthentication', 'BrokerAuthorization', 'BrokerListener', 'MqttBridgeConnector', 'MqttBridgeTopicMap']);
    for (const crd of crds) {
      expect(crd.apiVersion).toBe('apiextensions.k8s.io/v1');
      expect(crd.kind).toBe('CustomResourceDefinition');
      expect(crd.spec.group).toBe('mq.edgemq.io');
      expect(crd.spec.scope).toBe('Namespaced');
      expect(crd.metadata.name).toBe(`${crd.spec.names.plural}.mq.edgemq.io`);
      expect(crd.spec.names.plural).toBe(`${crd.spec.names.kind.toLowerCase()}s`);
      expect(crd.spec.names.singular).toBe(crd.spec.names.kind.toLowerCase());
      expect(crd.spec.names.listKind).toBe(`${crd.spec.names.kind}List`);
      expect(crd.spec.versions).toHaveLength(1);
      const [v] = crd.spec.versions;
      expect(v).toMatchObject({ name: 'v1beta1', served: true, storage: true, subresources: { status: {} } });
    }
  });

  it('uses the loader\'s spec schemas unchanged (one schema, two uses) and an open status', () => {
    for (const [kind, spec] of Object.entries(SPEC_SCHEMAS)) {
      const root = byKind.get(kind)!.spec.versions[0]!.schema.openAPIV3Schema;
      expect(root.type).toBe('object');
      expect(Object.keys(root.properties as Schema).sort()).toEqual(['spec', 'status']);
      expect((root.properties as Schema).spec).toEqual(spec);
      expect((root.properties as Schema).status).toEqual({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
    }
  });

  it('returns copies: changing a CRD does not change the loader\'s schemas', () => {
    const [first] = buildCrds() as Crd[];
    const spec = first!.spec.versions[0]!.schema.openAPIV3Schema.properties as Record<string, Schema>;
    (spec.spec!.properties as Record<string, Schema>).memoryProfile!.description = 'changed';
    expect((brokerSpecSchema.properties as Record<string, Schema>).memoryProfile!.description).not.toBe('changed');
  });

  for (const kind of Object.keys(SPEC_SCHEMAS)) {
    it(`${kind}: the schema is structural (Kubernetes' rules for apiextensions.k8s.io/v1)`, () => {
      const root = byKind.get(kind)!.spec.versions[0]!.schema.openAPIV3Schema;
      // Rule: metadata may only restrict name/generateName; we leave it to the API server entirely.
      expect((root.properties as Schema).metadata).toBeUndefined();
      for (const { at, node, inJunctor } of walk(root, '')) {
        const where = at || '(root)';
        expect('$ref' in node, `${where}: $ref is not allowed`).toBe(false);
        // Rule: properties and additionalProperties are mutually exclusive.
        expect('properties' in node && 'additionalProperties' in node, `${where}: properties next to additionalProperties`).toBe(false);
        if (inJunctor) {
          // Rule: inside oneOf/anyOf/allOf/not no type, description, default, additionalProperties or nullable.
          for (const k of ['type', 'description', 'default', 'additionalProperties', 'nullable']) expect(k in node, `${where}: ${k} inside a junctor`).toBe(false);
        } else if (node['x-kubernetes-preserve-unknown-fields'] !== true || 'properties' in node) {
          // Rule: a non-empty type on every node (preserve-unknown-fields objects still say object).
          expect(['object', 'array', 'string', 'integer', 'number', 'boolean'], `${where}: type`).toContain(node.type);
        }
        if (node.type === 'array') expect(typeof node.items, `${where}: array without items`).toBe('object');
        if ('properties' in node) expect(node.type, `${where}: properties on a non-object`).toBe('object');
        for (const field of (!inJunctor ? (node.required as string[] | undefined) : undefined) ?? []) {
          expect(Object.keys((node.properties as Schema | undefined) ?? {}), `${where}: required '${field}' is not a property`).toContain(field);
        }
        if (Array.isArray(node.enum)) {
          expect(new Set(node.enum).size, `${where}: duplicate enum values`).toBe(node.enum.length);
          for (const e of node.enum) {
            // JSON has one number type: an `integer` enum holds whole numbers.
            const kind = node.type === 'integer' && Number.isInteger(e) ? 'integer' : typeof e;
            expect(kind, `${where}: enum value ${String(e)}`).toBe(node.type);
          }
        }
        if (typeof node.pattern === 'string') expect(() => new RegExp(node.pattern as string), where).not.toThrow();
      }
      // Rule: every field a junctor branch names is specified outside the junctor.
      for (const { node } of walk(root, '')) {
        for (const j of JUNCTORS) {
          const branches = (Array.isArray(node[j]) ? node[j] : node[j] ? [node[j]] : []) as Schema[];
          for (const b of branches) for (const f of (b.required as string[] | undefined) ?? []) expect(Object.keys(node.properties as Schema)).toContain(f);
        }
      }
    });
  }

  it('printer columns point at existing fields of the right type', () => {
    const cols = (kind: string) => byKind.get(kind)!.spec.versions[0]!.additionalPrinterColumns ?? [];
    expect(cols('Broker').map((c) => c.jsonPath)).toContain('.spec.memoryProfile');
    expect(cols('BrokerListener').map((c) => c.jsonPath)).toEqual(expect.arrayContaining(['.spec.port', '.spec.serviceType']));
    for (const crd of crds) {
      const v = crd.spec.versions[0]!;
      for (const c of v.additionalPrinterColumns ?? []) {
        expect(c.jsonPath.startsWith('.'), c.jsonPath).toBe(true);
        if (c.jsonPath === '.metadata.creationTimestamp') {
          expect(c.type).toBe('date');
          continue;
        }
        const node = schemaAt(v.schema.openAPIV3Schema, c.jsonPath);
        expect(node, `${crd.spec.names.kind} ${c.jsonPath}`).toBeDefined();
        expect(node!.type, `${crd.spec.names.kind} ${c.jsonPath}`).toBe(c.type);
      }
    }
  });
});

describe('helm/edgemq/crds/ is generated from buildCrds()', () => {
  it('holds exactly the output of `edgemq crds`', () => {
    const expected = renderCrdsYaml();
    if (process.env.EDGEMQ_UPDATE_CRDS === '1') writeFileSync(CRD_FILE, expected);
    expect(readdirSync(CRD_DIR)).toEqual(['edgemq-crds.yaml']);
    const actual = readFileSync(CRD_FILE, 'utf8');
    expect(actual === expected, `helm/edgemq/crds/edgemq-crds.yaml is out of date; regenerate it: ${REGENERATE}`).toBe(true);
  });

  it('parses back to the same objects, without YAML anchors or aliases', () => {
    const docs = YAML.parseAllDocuments(readFileSync(CRD_FILE, 'utf8'));
    for (const d of docs) expect(d.errors).toEqual([]);
    expect(docs.map((d) => d.toJS())).toEqual(buildCrds());
    expect(readFileSync(CRD_FILE, 'utf8')).not.toMatch(/:\s+[&*][A-Za-z]/);
  });

  it('`edgemq crds` prints it', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/cli/main.ts'), 'crds'], { cwd: repoRoot, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(renderCrdsYaml());
  });
});
