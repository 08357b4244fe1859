/**
 * MqttBridgeConnector / MqttBridgeTopicMap loading: defaults, both API groups, the broker kinds of a
 * shared manifest ignored, and every refusal naming the resource, file, line and field.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectorsFromDocuments } from '../../../src/config/load-connectors.js';
import { parseSize } from '../../../src/config/normalize-bridge.js';
import { readYamlResources } from '../../../src/config/yaml-documents.js';
import { Backoff } from '../../../src/connectors/backoff.js';
import { mapTopic } from '../../../src/connectors/message-map.js';
import { loadConnectorConfig } from '../../../src/config/load-connectors.js';
import { configErrorOf } from './fixtures.js';

const load = (text: string) => connectorsFromDocuments(readYamlResources(text, 'bridge.yaml'));

/** Connector on lines 1-9, `---` on 10, topic map from line 11 (its routes start on line 16). */
const manifest = (o: { group?: string; connector?: string; routes?: string; ref?: string } = {}) => `apiVersion: ${o.group ?? 'mq.iotoperations.azure.com/v1beta1'}
kind: MqttBridgeConnector
metadata: {name: cloud}
spec:
  clientIdPrefix: edge-
  remoteBrokerConnection:
    endpoint: cloud.example.com:8883
    tls: {tlsEnabled: true, trustedCaCertificateConfigMap: cloud-ca}
${o.connector ?? '  protocol: v5'}
---
apiVersion: ${o.group ?? 'mq.iotoperations.azure.com/v1beta1'}
kind: MqttBridgeTopicMap
metadata: {name: routes}
spec:
  mqttBridgeConnectorRef: ${o.ref ?? 'cloud'}
  routes:
${o.routes ?? "  - {name: up, direction: local-to-remote, source: 'sensors/#'}"}
`;

describe('MqttBridgeConnector and MqttBridgeTopicMap', () => {
  it('loads Azure 2023 resources with defaults filled in', () => {
    const { connectors, warnings } = load(manifest());
    expect(warnings).toEqual([]);
    expect(connectors).toHaveLength(1);
    const c = connectors[0]!;
    expect(c).toMatchObject({
      name: 'cloud',
      protocolVersion: 5,
      clientIdPrefix: 'edge-',
      remote: { host: 'cloud.example.com', port: 8883, transport: 'mqtt', tls: { caConfigMap: 'cloud-ca' }, auth: { method: 'none' }, keepAliveSeconds: 60, cleanStart: false, sessionExpirySeconds: 86400 },
      local: { host: '127.0.0.1', port: 1883, auth: { method: 'none' } },
      buffer: { maxMessages: 10000, maxBytes: 64 * 1024 * 1024 },
      loopMarker: true,
    });
    expect(c.local.tls).toBeUndefined();
    expect(c.routes).toEqual([{ name: 'up', topicMap: 'MqttBridgeTopicMap/routes', direction: 'local-to-remote', qos: 1, source: 'sensors/#' }]);
  });

  it('reads edgemq\'s group, v3, WebSocket, shared subscriptions and every authentication method', () => {
    const { connectors } = load(
      manifest({
        group: 'mq.edgemq.io/v1beta1',
        connector: `  protocol: v3
  localBrokerConnection:
    endpoint: '[::1]:18883'
    tls: {trustedCaCertificateConfigMap: local-ca}
    authentication: {kubernetes: {}}
  edgemq: {maxBufferedMessages: 500, maxBufferedSize: 1G}`,
        routes: "  - {name: down, direction: REMOTE-TO-LOCAL, qos: 0, source: 'cmd/+/set', target: 'edge/{topic}', sharedSubscription: {groupName: g, groupMinimumShareNumber: 4}}",
      }),
    );
    const c = connectors[0]!;
    expect(c.protocolVersion).toBe(4);
    expect(c.local).toMatchObject({ host: '::1', port: 18883, tls: { caConfigMap: 'local-ca' }, auth: { method: 'serviceAccountToken', tokenPath: '/var/run/secrets/tokens/mq-sat' } });
    expect(c.buffer).toEqual({ maxMessages: 500, maxBytes: 1024 ** 3 });
    expect(c.routes[0]).toEqual({ name: 'down', topicMap: 'MqttBridgeTopicMap/routes', direction: 'remote-to-local', qos: 0, source: 'cmd/+/set', target: 'edge/{topic}', shared: { groupName: 'g', clients: 4 } });
  });

  it('ignores broker kinds in the same manifest and warns about a connector without routes', () => {
    const broker = 'apiVersion: mq.edgemq.io/v1beta1\nkind: Broker\nmetadata: {name: b}\nspec: {}\n---\n';
    const lone = 'apiVersion: mq.edgemq.io/v1beta1\nkind: MqttBridgeConnector\nmetadata: {name: lone}\nspec: {remoteBrokerConnection: {endpoint: "c:1"}}\n';
    const { connectors, warnings } = load(broker + lone);
    expect(connectors.map((c) => c.name)).toEqual(['lone']);
    expect(warnings).toEqual(['MqttBridgeConnector/lone in bridge.yaml:6: no MqttBridgeTopicMap names it in spec.mqttBridgeConnectorRef; it forwards nothing']);
  });

  const refused: Array<[string, Parameters<typeof manifest>[0], string, string]> = [
    ['a wildcard in a target', { routes: "  - {name: up, direction: local-to-remote, source: 'a/#', target: 'b/#'}" }, 'MqttBridgeTopicMap/routes in bridge.yaml:17: spec.routes[0].target: topic name contains a wildcard; a target is one topic, no + or # (got \'b/#\')', 'spec.routes[0].target'],
    ['an invalid source filter', { routes: "  - {name: up, direction: local-to-remote, source: 'a/#/b'}" }, "MqttBridgeTopicMap/routes in bridge.yaml:17: spec.routes[0].source: '#' must be the last character of the filter (got 'a/#/b')", 'spec.routes[0].source'],
    ['a $share source', { routes: "  - {name: up, direction: local-to-remote, source: '$share/g/a'}" }, "MqttBridgeTopicMap/routes in bridge.yaml:17: spec.routes[0].source: must be a plain topic filter; use sharedSubscription for '$share/g/a'", 'spec.routes[0].source'],
    ['QoS 2', { routes: "  - {name: up, direction: local-to-remote, qos: 2, source: 'a'}" }, 'MqttBridgeTopicMap/routes in bridge.yaml:17: spec.routes[0].qos: must be <= 1 (got 2)', 'spec.routes[0].qos'],
    ['an unknown direction', { routes: "  - {name: up, direction: sideways, source: 'a'}" }, "MqttBridgeTopicMap/routes in bridge.yaml:17: spec.routes[0].direction: must be one of local-to-remote, remote-to-local (got 'sideways')", 'spec.routes[0].direction'],
    ['a missing source', { routes: '  - {name: up, direction: local-to-remote}' }, 'MqttBridgeTopicMap/routes in bridge.yaml:17: spec.routes[0].source: is required', 'spec.routes[0].source'],
    ['two routes of one name', { routes: "  - {name: up, direction: local-to-remote, source: a}\n  - {name: up, direction: remote-to-local, source: b}" }, "MqttBridgeTopicMap/routes in bridge.yaml:18: spec.routes[1].name: 'up' is already the name of spec.routes[0]", 'spec.routes[1].name'],
    ['a dangling connector reference', { ref: 'nope' }, "MqttBridgeTopicMap/routes in bridge.yaml:15: spec.mqttBridgeConnectorRef: names MqttBridgeConnector 'nope', which is not loaded (loaded: cloud)", 'spec.mqttBridgeConnectorRef'],
    ['an endpoint without a port', { connector: '  localBrokerConnection: {endpoint: localhost}' }, "MqttBridgeConnector/cloud in bridge.yaml:9: spec.localBrokerConnection.endpoint: must match ^(\\[[0-9a-fA-F:.]+\\]|[^:/\\s\\[\\]]+):[0-9]{1,5}$ (got 'localhost')", 'spec.localBrokerConnection.endpoint'],
    ['port 0', { connector: "  localBrokerConnection: {endpoint: 'h:0'}" }, "MqttBridgeConnector/cloud in bridge.yaml:9: spec.localBrokerConnection.endpoint: port must be 1-65535 (got 'h:0')", 'spec.localBrokerConnection.endpoint'],
    ['an unknown protocol', { connector: '  protocol: v4' }, "MqttBridgeConnector/cloud in bridge.yaml:9: spec.protocol: must be one of v5, v3 (got 'v4')", 'spec.protocol'],
    ['two authentication methods', { connector: '  localBrokerConnection:\n    authentication: {kubernetes: {}, x509: {secretName: s}}' }, 'MqttBridgeConnector/cloud in bridge.yaml:10: spec.localBrokerConnection.authentication: must set only one method (got x509 and kubernetes)', 'spec.localBrokerConnection.authentication'],
    ['a managed identity', { connector: '  protocol: v5' }, 'MqttBridgeConnector/cloud in bridge.yaml:8: spec.remoteBrokerConnection.authentication.systemAssignedManagedIdentity: Azure managed identities need Azure Arc and are not supported by edgemq; use x509 or usernamePassword', 'spec.remoteBrokerConnection.authentication.systemAssignedManagedIdentity'],
    ['a CA with TLS off', { connector: '  localBrokerConnection:\n    tls: {tlsEnabled: false, trustedCaCertificateConfigMap: ca}' }, 'MqttBridgeConnector/cloud in bridge.yaml:10: spec.localBrokerConnection.tls.trustedCaCertificateConfigMap: set, but tlsEnabled is false', 'spec.localBrokerConnection.tls.trustedCaCertificateConfigMap'],
    ['a buffer above the receive window', { connector: '  edgemq: {maxBufferedMessages: 100000}' }, 'MqttBridgeConnector/cloud in bridge.yaml:9: spec.edgemq.maxBufferedMessages: must be <= 65535 (got 100000)', 'spec.edgemq.maxBufferedMessages'],
    ['a reconnect ceiling under the floor', { connector: '  edgemq: {reconnectMinDelayMs: 5000, reconnectMaxDelayMs: 100}' }, 'MqttBridgeConnector/cloud in bridge.yaml:9: spec.edgemq.reconnectMaxDelayMs: must be >= reconnectMinDelayMs (5000), got 100', 'spec.edgemq.reconnectMaxDelayMs'],
  ];
  for (const [what, o, message, field] of refused) {
    it(`refuses ${what}`, () => {
      let text = manifest(o);
      if (what === 'a managed identity') text = text.replace('    tls: {tlsEnabled: true, trustedCaCertificateConfigMap: cloud-ca}', '    authentication: {systemAssignedManagedIdentity: {audience: https://eventgrid.azure.net}}');
      const err = configErrorOf(() => load(text));
      expect(err.message).toBe(message);
      expect(err.field).toBe(field);
    });
  }

  it('refuses a route name used by two topic maps of one connector (the client ids would collide)', () => {
    const second = "---\napiVersion: mq.edgemq.io/v1beta1\nkind: MqttBridgeTopicMap\nmetadata: {name: more}\nspec:\n  mqttBridgeConnectorRef: cloud\n  routes:\n  - {name: up, direction: remote-to-local, source: x}\n";
    const err = configErrorOf(() => load(manifest() + second));
    expect(err.message).toBe(
      'MqttBridgeTopicMap/more in bridge.yaml:25: spec.routes[0].name: route \'up\' is already defined by MqttBridgeTopicMap/routes for MqttBridgeConnector/cloud (route names make the client ids, so they must be unique per connector)',
    );
  });

  it('refuses two connectors whose routes would share a client id', () => {
    const other = `---
apiVersion: mq.edgemq.io/v1beta1
kind: MqttBridgeConnector
metadata: {name: backup}
spec: {clientIdPrefix: edge-, remoteBrokerConnection: {endpoint: 'backup.example.com:8883'}}
---
apiVersion: mq.edgemq.io/v1beta1
kind: MqttBridgeTopicMap
metadata: {name: backup-routes}
spec:
  mqttBridgeConnectorRef: backup
  routes:
  - {name: up, direction: local-to-remote, source: x}
`;
    const err = configErrorOf(() => load(manifest() + other));
    expect(err.message).toBe(
      "MqttBridgeTopicMap/backup-routes in bridge.yaml:30: spec.routes[0].name: client id 'edge-up' (clientIdPrefix of MqttBridgeConnector/backup + route name) is also used by route 'up' of MqttBridgeConnector/cloud; give the connectors different clientIdPrefixes",
    );
  });

  it('`edgemq connector` exits with code 2 and the message on a bad resource', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgemq-bridge-cfg-'));
    const file = join(dir, 'bridge.yaml');
    writeFileSync(file, manifest({ routes: "  - {name: up, direction: local-to-remote, source: 'a/#', target: 'b/+'}" }));
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'connector', '--config', file], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`MqttBridgeTopicMap/routes in ${file}:17: spec.routes[0].target: topic name contains a wildcard`);
  });
});

describe('samples/cloud-bridge', () => {
  it('loads without warnings: TLS to the cloud, X.509, three routes', () => {
    const { connectors, warnings } = loadConnectorConfig([join(import.meta.dirname, '../../../samples/cloud-bridge/bridge.yaml')]);
    expect(warnings).toEqual([]);
    expect(connectors[0]).toMatchObject({ name: 'cloud', remote: { tls: { caConfigMap: 'cloud-ca' }, auth: { method: 'x509', secretName: 'cloud-bridge-cert' } } });
    expect(connectors[0]!.routes.map((r) => `${r.name} ${r.direction}`)).toEqual(['telemetry local-to-remote', 'readings local-to-remote', 'commands remote-to-local']);
  });
});

describe('bridge helpers', () => {
  it('maps topics: omitted target keeps the topic, {topic} substitutes it, a fixed target is used as is', () => {
    expect(mapTopic(undefined, 'a/b')).toBe('a/b');
    expect(mapTopic('site1/{topic}/raw', 'a/b')).toBe('site1/a/b/raw');
    expect(mapTopic('all/telemetry', 'a/b')).toBe('all/telemetry');
  });

  it('backs off exponentially with jitter in the upper half, capped, and starts again after a success', () => {
    let r = 0;
    const b = new Backoff(100, 1000, () => r);
    expect([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([50, 100, 200, 400, 500, 500]);
    r = 1;
    b.reset();
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 800, 1000]);
  });

  it('parses sizes as binary multiples', () => {
    expect([parseSize('512'), parseSize('64K'), parseSize('64M'), parseSize('1G')]).toEqual([512, 65536, 64 * 1024 ** 2, 1024 ** 3]);
  });
});
