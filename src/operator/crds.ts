/**
 * The CustomResourceDefinitions of edgemq's kinds (the broker's four and the MQTT bridge's two), built from the same `*SpecSchema`s the loader
 * validates with (one schema, two uses: DESIGN.md section 3). `edgemq crds` prints them; the Helm
 * chart ships the output in `helm/edgemq/crds/` (a unit test keeps that file up to date).
 *
 * Only edgemq's own group `mq.edgemq.io` is defined: Azure's groups belong to Azure IoT Operations
 * (their CRDs may already be on a cluster), and off-cluster the loader accepts them without a CRD.
 */
import YAML from 'yaml';
import { brokerSpecSchema } from '../config/schemas/broker.js';
import { brokerAuthenticationSpecSchema } from '../config/schemas/broker-authentication.js';
import { brokerAuthorizationSpecSchema } from '../config/schemas/broker-authorization.js';
import { brokerListenerSpecSchema } from '../config/schemas/broker-listener.js';
import type { JsonSchema } from '../config/schemas/common.js';
import { mqttBridgeConnectorSpecSchema, mqttBridgeTopicMapSpecSchema } from '../config/schemas/mqtt-bridge.js';

export const CRD_GROUP = 'mq.edgemq.io';
export const CRD_VERSION = 'v1beta1';

interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  priority?: number;
}

interface KindInfo {
  kind: string;
  plural: string;
  description: string;
  spec: JsonSchema;
  columns: PrinterColumn[];
}

const AGE: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

const KINDS: KindInfo[] = [
  {
    kind: 'Broker',
    plural: 'brokers',
    description: 'An MQTT broker deployment (field names follow Azure IoT MQ v1beta1).',
    spec: brokerSpecSchema,
    columns: [
      { name: 'Memory Profile', type: 'string', jsonPath: '.spec.memoryProfile', description: 'Memory budget: tiny, low, medium or high.' },
      { name: 'Mode', type: 'string', jsonPath: '.spec.mode', description: 'auto or distributed.' },
      AGE,
    ],
  },
  {
    kind: 'BrokerListener',
    plural: 'brokerlisteners',
    description: 'A set of listening ports of a Broker.',
    spec: brokerListenerSpecSchema,
    columns: [
      { name: 'Broker', type: 'string', jsonPath: '.spec.brokerRef' },
      { name: 'Port', type: 'integer', jsonPath: '.spec.port', description: 'Port (one-port shape).' },
      { name: 'First Port', type: 'integer', jsonPath: '.spec.ports[0].port', description: 'First port (multi-port shape).' },
      { name: 'Service Type', type: 'string', jsonPath: '.spec.serviceType' },
      { name: 'Service', type: 'string', jsonPath: '.spec.serviceName', priority: 1 },
      AGE,
    ],
  },
  {
    kind: 'BrokerAuthentication',
    plural: 'brokerauthentications',
    description: 'Authentication methods of one or more listeners.',
    spec: brokerAuthenticationSpecSchema,
    columns: [AGE],
  },
  {
    kind: 'BrokerAuthorization',
    plural: 'brokerauthorizations',
    description: 'Authorization rules of one or more listeners.',
    spec: brokerAuthorizationSpecSchema,
    columns: [AGE],
  },
  {
    kind: 'MqttBridgeConnector',
    plural: 'mqttbridgeconnectors',
    description: 'An MQTT bridge from the local broker to a remote one, run by `edgemq connector`.',
    spec: mqttBridgeConnectorSpecSchema,
    columns: [
      { name: 'Remote', type: 'string', jsonPath: '.spec.remoteBrokerConnection.endpoint', description: 'host:port of the remote broker.' },
      { name: 'Protocol', type: 'string', jsonPath: '.spec.protocol', description: 'v5 or v3.' },
      AGE,
    ],
  },
  {
    kind: 'MqttBridgeTopicMap',
    plural: 'mqttbridgetopicmaps',
    description: 'Routes of an MQTT bridge connector.',
    spec: mqttBridgeTopicMapSpecSchema,
    columns: [{ name: 'Connector', type: 'string', jsonPath: '.spec.mqttBridgeConnectorRef' }, AGE],
  },
];

/** A deep copy, so that no CRD shares (or could alter) the loader's schema objects. */
const copy = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** apiextensions.k8s.io/v1 CustomResourceDefinitions for every kind in KINDS. */
export function buildCrds(): object[] {
  return KINDS.map((k) => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${k.plural}.${CRD_GROUP}`,
      labels: { 'app.kubernetes.io/name': 'edgemq', 'app.kubernetes.io/part-of': 'edgemq' },
    },
    spec: {
      group: CRD_GROUP,
      names: {
        kind: k.kind,
        listKind: `${k.kind}List`,
        plural: k.plural,
        singular: k.kind.toLowerCase(),
        categories: ['edgemq'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: CRD_VERSION,
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: k.description,
              properties: {
                spec: copy(k.spec),
                status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
              },
              required: ['spec'],
            },
          },
          subresources: { status: {} },
          additionalPrinterColumns: copy(k.columns),
        },
      ],
    },
  }));
}

export const CRDS_HEADER = '# Generated by `edgemq crds` from src/config/schemas; do not edit (see helm/edgemq/README.md).\n';

/** The CRDs as multi-document YAML (what `edgemq crds` prints and helm/edgemq/crds/ holds). */
export function renderCrdsYaml(): string {
  const docs = buildCrds().map((crd) => YAML.stringify(crd, { lineWidth: 0, aliasDuplicateObjects: false }));
  return CRDS_HEADER + docs.map((d) => `---\n${d}`).join('');
}
