/**
 * Loads the resources `edgemq connector` runs: every `MqttBridgeConnector` with the routes of the
 * `MqttBridgeTopicMap`s that name it. Broker kinds in the same files are validated as `serve` would
 * validate them elsewhere and otherwise ignored, so one manifest can feed both commands.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../mqtt/errors.js';
import { checkApiVersion, CONNECTOR_KINDS, kindUse } from './api-groups.js';
import type { BridgeConnectorSettings } from './bridge-model.js';
import { normalizeBridgeConnector, normalizeTopicMapRoutes } from './normalize-bridge.js';
import { describeAt, kindOf, resourceId, type ResourceDocument } from './resource-document.js';
import { rejectDuplicateNames } from './resolve.js';
import { RESOURCE_SCHEMAS, type ValidatedKind } from './schemas/index.js';
import { unknownFieldWarnings } from './unknown-fields.js';
import { validateResource } from './validate.js';
import { readYamlResources } from './yaml-documents.js';
import { expandDirectories } from './load.js';

export interface LoadedConnectors {
  connectors: BridgeConnectorSettings[];
  warnings: string[];
}

export function loadConnectorConfig(files: string[]): LoadedConnectors {
  const documents = expandDirectories(files).flatMap((file) => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError(`${file}: cannot read configuration: ${(error as Error).message}`, file);
    }
    return readYamlResources(text, file);
  });
  return connectorsFromDocuments(documents);
}

export function connectorsFromDocuments(documents: ResourceDocument[]): LoadedConnectors {
  const warnings: string[] = [];
  const connectors: Array<{ doc: ResourceDocument; settings: BridgeConnectorSettings }> = [];
  const maps: ResourceDocument[] = [];
  for (const doc of documents) {
    const apiVersion = checkApiVersion(doc.body.apiVersion);
    if (!apiVersion.ok) throw new ConfigError(`${describeAt(doc, ['apiVersion'])}: ${apiVersion.problem}`, resourceId(doc), 'apiVersion');
    const kind = kindOf(doc);
    if (!(CONNECTOR_KINDS as readonly string[]).includes(kind)) {
      if (kindUse(kind) === 'unknown') {
        throw new ConfigError(`${describeAt(doc, ['kind'])}: kind: unknown kind '${kind}' (edgemq connector runs ${CONNECTOR_KINDS.join(', ')})`, resourceId(doc), 'kind');
      }
      continue; // a broker kind: served by `edgemq serve`
    }
    validateResource(kind as ValidatedKind, doc);
    warnings.push(...unknownFieldWarnings(RESOURCE_SCHEMAS[kind as ValidatedKind], doc));
    if (kind === 'MqttBridgeConnector') connectors.push({ doc, settings: normalizeBridgeConnector(doc, warnings) });
    else maps.push(doc);
  }
  rejectDuplicateNames([...connectors.map((c) => c.doc), ...maps]);
  for (const map of maps) {
    const ref = String((map.body.spec as Record<string, unknown>).mqttBridgeConnectorRef);
    const owner = connectors.find((c) => c.settings.name === ref);
    if (owner === undefined) {
      const loaded = connectors.map((c) => c.settings.name);
      throw new ConfigError(
        `${describeAt(map, ['spec', 'mqttBridgeConnectorRef'])}: spec.mqttBridgeConnectorRef: names MqttBridgeConnector '${ref}', which is not loaded` +
          (loaded.length > 0 ? ` (loaded: ${loaded.join(', ')})` : ''),
        resourceId(map),
        'spec.mqttBridgeConnectorRef',
      );
    }
    for (const route of normalizeTopicMapRoutes(map)) {
      const clash = owner.settings.routes.find((r) => r.name === route.name);
      if (clash !== undefined) {
        const i = (map.body.spec as { routes: Array<{ name: string }> }).routes.findIndex((r) => r.name === route.name);
        throw new ConfigError(
          `${describeAt(map, ['spec', 'routes', i, 'name'])}: spec.routes[${i}].name: route '${route.name}' is already defined by ${clash.topicMap} ` +
            `for MqttBridgeConnector/${ref} (route names make the client ids, so they must be unique per connector)`,
          resourceId(map),
          `spec.routes[${i}].name`,
        );
      }
      owner.settings.routes.push(route);
    }
  }
  rejectSharedClientIds(connectors.map((c) => c.settings), maps);
  for (const { doc, settings } of connectors) {
    if (settings.routes.length === 0) warnings.push(`${describeAt(doc)}: no MqttBridgeTopicMap names it in spec.mqttBridgeConnectorRef; it forwards nothing`);
  }
  if (connectors.length === 0) throw new ConfigError('no MqttBridgeConnector resource found in the given files');
  return { connectors: connectors.map((c) => c.settings), warnings };
}

/**
 * Two routes with one client id (two connectors with the same clientIdPrefix and route name) would
 * take each other's sessions over on the local broker, back and forth, for ever: refused.
 */
function rejectSharedClientIds(connectors: BridgeConnectorSettings[], maps: ResourceDocument[]): void {
  const owners = new Map<string, string>();
  for (const c of connectors) {
    for (const route of c.routes) {
      const members = route.shared?.clients ?? 1;
      for (let i = 0; i < members; i++) {
        const id = `${c.clientIdPrefix}${route.name}${i === 0 ? '' : `-${i}`}`;
        const first = owners.get(id);
        if (first !== undefined) {
          const map = maps.find((m) => resourceId(m) === route.topicMap)!;
          const index = (map.body.spec as { routes: Array<{ name: string }> }).routes.findIndex((r) => r.name === route.name);
          throw new ConfigError(
            `${describeAt(map, ['spec', 'routes', index, 'name'])}: spec.routes[${index}].name: client id '${id}' ` +
              `(clientIdPrefix of MqttBridgeConnector/${c.name} + route name) is also used by ${first}; give the connectors different clientIdPrefixes`,
            resourceId(map),
            `spec.routes[${index}].name`,
          );
        }
        owners.set(id, `route '${route.name}' of MqttBridgeConnector/${c.name}`);
      }
    }
  }
}
