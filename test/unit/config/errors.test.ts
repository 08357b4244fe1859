import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfigText } from '../../../src/config/load.js';
import { AZURE_2023, broker, configErrorOf, docs, listener } from './fixtures.js';

/** Broker (lines 1-5) + `---` (6) + a listener whose spec lines start at line 12. */
const withListener = (name: string, specLines: string[]): string => docs(broker('b'), listener(name, specLines));

describe('configuration errors name the resource, the file, the line and the field', () => {
  it('port above 65535', () => {
    const err = configErrorOf(() => parseConfigText(withListener('my-listener', ['brokerRef: b', 'port: 70000']), 'file.yaml'));
    expect(err.message).toBe('BrokerListener/my-listener in file.yaml:13: spec.port: must be <= 65535 (got 70000)');
    expect(err.resource).toBe('BrokerListener/my-listener');
    expect(err.field).toBe('spec.port');
  });

  it('negative port inside a ports list', () => {
    const err = configErrorOf(() => parseConfigText(withListener('l', ['brokerRef: b', 'ports:', '- port: -1']), 'file.yaml'));
    expect(err.message).toBe('BrokerListener/l in file.yaml:14: spec.ports[0].port: must be >= 0 (got -1)');
    expect(err.field).toBe('spec.ports[0].port');
  });

  it('field of the wrong type', () => {
    const err = configErrorOf(() => parseConfigText(withListener('l', ['brokerRef: b', 'port: "8883"']), 'file.yaml'));
    expect(err.message).toBe("BrokerListener/l in file.yaml:13: spec.port: must be an integer (got '8883')");
  });

  it('boolean field of the wrong type in a Broker', () => {
    const err = configErrorOf(() => parseConfigText(broker('b', '{encryptInternalTraffic: yes-please}'), 'b.yaml'));
    expect(err.message).toBe("Broker/b in b.yaml:5: spec.encryptInternalTraffic: must be a boolean (got 'yes-please')");
    expect(err.resource).toBe('Broker/b');
  });

  it('enum value not allowed (lists each value once, whatever the accepted casings)', () => {
    const err = configErrorOf(() => parseConfigText(broker('b', '{memoryProfile: huge}'), 'b.yaml'));
    expect(err.message).toBe("Broker/b in b.yaml:5: spec.memoryProfile: must be one of tiny, low, medium, high (got 'huge')");
    expect(err.field).toBe('spec.memoryProfile');
  });

  it('client limits out of range, all reported at once', () => {
    const err = configErrorOf(() =>
      parseConfigText(
        broker('b', '{advanced: {clients: {maxPacketSizeBytes: 268435457, maxReceiveMaximum: 0, subscriberQueueLimit: {length: 0, strategy: DropNewest}}}}'),
        'b.yaml',
      ),
    );
    expect(err.message.split('\n')).toEqual([
      'Broker/b in b.yaml:5: spec.advanced.clients.maxPacketSizeBytes: must be <= 268435456 (got 268435457)',
      'Broker/b in b.yaml:5: spec.advanced.clients.maxReceiveMaximum: must be >= 1 (got 0)',
      'Broker/b in b.yaml:5: spec.advanced.clients.subscriberQueueLimit.length: must be >= 1 (got 0)',
      "Broker/b in b.yaml:5: spec.advanced.clients.subscriberQueueLimit.strategy: must be one of None, DropOldest (got 'DropNewest')",
    ]);
    expect(err.field).toBe('spec.advanced.clients.maxPacketSizeBytes');
  });

  it('missing required fields', () => {
    const err = configErrorOf(() => parseConfigText(withListener('l', ['serviceType: clusterIp']), 'file.yaml'));
    expect(err.message.split('\n')).toEqual([
      'BrokerListener/l in file.yaml:12: spec: must set one of port or ports',
      'BrokerListener/l in file.yaml:12: spec.brokerRef: is required',
    ]);
  });

  it('both port and ports', () => {
    const err = configErrorOf(() => parseConfigText(withListener('l', ['brokerRef: b', 'port: 1', 'ports: [{port: 2}]']), 'file.yaml'));
    expect(err.message).toBe('BrokerListener/l in file.yaml:12: spec: must set only one of port or ports, not both');
  });

  it('2023 tls with two certificate sources', () => {
    const err = configErrorOf(() =>
      parseConfigText(withListener('l', ['brokerRef: b', 'port: 8883', 'tls: {automatic: {issuerRef: {name: i}}, manual: {secretName: s}}']), 'file.yaml'),
    );
    expect(err.message).toBe('BrokerListener/l in file.yaml:14: spec.tls: must set exactly one of automatic, manual, keyVault (got automatic and manual)');
    expect(err.field).toBe('spec.tls');
  });

  it('brokerRef naming no loaded Broker', () => {
    const err = configErrorOf(() => parseConfigText(withListener('l', ['brokerRef: other', 'port: 1883']), 'file.yaml'));
    expect(err.message).toBe(
      "BrokerListener/l in file.yaml:12: spec.brokerRef: names Broker 'other', which is not loaded (the loaded Broker is Broker/b in file.yaml:1)",
    );
    expect(err.resource).toBe('BrokerListener/l');
    expect(err.field).toBe('spec.brokerRef');
  });

  it('listeners without any Broker', () => {
    const err = configErrorOf(() => parseConfigText(listener('l', ['brokerRef: b', 'port: 1883']), 'file.yaml'));
    expect(err.message).toBe('no Broker resource found (BrokerListener/l in file.yaml:1 needs one); add a Broker or load no files for the embedded default');
  });

  it('two Brokers', () => {
    const err = configErrorOf(() => parseConfigText(docs(broker('one'), broker('two')), 'file.yaml'));
    expect(err.message).toBe('Broker/two in file.yaml:7: only one Broker is allowed, but Broker/one in file.yaml:1 is defined too');
  });

  it('the same resource defined twice', () => {
    const err = configErrorOf(() =>
      parseConfigText(docs(broker('b'), listener('l', ['brokerRef: b', 'port: 1']), listener('l', ['brokerRef: b', 'port: 2'])), 'file.yaml'),
    );
    expect(err.message).toBe('BrokerListener/l in file.yaml:15: metadata.name: BrokerListener/l is defined twice (first in BrokerListener/l in file.yaml:7)');
  });

  it('duplicate port across listeners names both listeners', () => {
    const err = configErrorOf(() =>
      parseConfigText(
        docs(broker('b'), listener('first', ['brokerRef: b', 'port: 1883']), listener('second', ['brokerRef: b', 'ports: [{port: 8883}, {port: 1883}]'])),
        'file.yaml',
      ),
    );
    expect(err.message).toBe(
      'BrokerListener/second in file.yaml:21: spec.ports[1].port: port 1883 is already used by BrokerListener/first in file.yaml:7 (spec.port)',
    );
    expect(err.resource).toBe('BrokerListener/second');
    expect(err.field).toBe('spec.ports[1].port');
  });

  it('duplicate port inside one listener', () => {
    const err = configErrorOf(() => parseConfigText(withListener('l', ['brokerRef: b', 'ports: [{port: 1883}, {port: 1883}]']), 'file.yaml'));
    expect(err.message).toBe('BrokerListener/l in file.yaml:13: spec.ports[1].port: port 1883 is already used by BrokerListener/l in file.yaml:7 (spec.ports[0].port)');
  });

  it('unknown apiVersion group', () => {
    const err = configErrorOf(() => parseConfigText('apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n', 'file.yaml'));
    expect(err.message).toMatch(/^Secret\/s in file\.yaml:1: apiVersion: unknown API group in 'v1' \(accepted: mq\.edgemq\.io\/v1beta1, /);
    expect(err.resource).toBe('Secret/s');
    expect(err.field).toBe('apiVersion');
  });

  it('unsupported version of a known group', () => {
    const err = configErrorOf(() => parseConfigText('apiVersion: mq.edgemq.io/v2\nkind: Broker\nmetadata: {name: b}\nspec: {}\n', 'file.yaml'));
    expect(err.message).toBe("Broker/b in file.yaml:1: apiVersion: unsupported version 'v2' of mq.edgemq.io (accepted: v1beta1)");
  });

  it('unknown kind in a known group', () => {
    const err = configErrorOf(() => parseConfigText(`apiVersion: ${AZURE_2023}\nkind: Brokr\nmetadata: {name: b}\nspec: {}\n`, 'file.yaml'));
    expect(err.message).toBe(
      `Brokr/b in file.yaml:2: kind: unknown kind 'Brokr' in ${AZURE_2023} (edgemq reads Broker, BrokerListener, BrokerAuthentication, BrokerAuthorization, MqttBridgeConnector, MqttBridgeTopicMap)`,
    );
  });

  it('document that is not a mapping', () => {
    const err = configErrorOf(() => parseConfigText(`${broker('b')}---\n- just\n- a list\n`, 'file.yaml'));
    expect(err.message).toBe('file.yaml:7: document 2 must be a mapping (a Kubernetes resource), got a list');
  });

  it('missing metadata.name', () => {
    const err = configErrorOf(() => parseConfigText('apiVersion: mq.edgemq.io/v1beta1\nkind: Broker\nmetadata: {}\nspec: {}\n', 'file.yaml'));
    expect(err.message).toBe('Broker (unnamed) in file.yaml:3: metadata.name: is required');
  });

  it('YAML syntax error with file, line and column', () => {
    const text = `${broker('b')}---\napiVersion: ${AZURE_2023}\nkind: BrokerListener\nspec:\n  ports: [1883\n  brokerRef: b\n`;
    const err = configErrorOf(() => parseConfigText(text, 'broken.yaml'));
    expect(err.message).toMatch(/^broken\.yaml:11:\d+: YAML syntax error: /);
    expect(err.resource).toBe('broken.yaml');
  });

  it('duplicate YAML keys', () => {
    const err = configErrorOf(() => parseConfigText('apiVersion: a\napiVersion: b\n', 'dup.yaml'));
    expect(err.message).toBe('dup.yaml:2:1: YAML syntax error: Map keys must be unique');
  });

  it('file that cannot be read', () => {
    const err = configErrorOf(() => loadConfig(['/nonexistent/edgemq.yaml']));
    expect(err.message).toMatch(/^\/nonexistent\/edgemq\.yaml: cannot read configuration: ENOENT/);
  });

  it('custom authentication endpoint that is not https', () => {
    const authn = `apiVersion: ${AZURE_2023}\nkind: BrokerAuthentication\nmetadata: {name: a}\nspec:\n  authenticationMethods:\n  - custom: {endpoint: "http://auth"}\n`;
    const err = configErrorOf(() => parseConfigText(docs(broker('b'), authn), 'file.yaml'));
    expect(err.message).toBe("BrokerAuthentication/a in file.yaml:12: spec.authenticationMethods[0].custom.endpoint: must match ^https:// (got 'http://auth')");
  });

  it('authorization rule with an unknown method', () => {
    const authz = `apiVersion: ${AZURE_2023}\nkind: BrokerAuthorization\nmetadata: {name: z}\nspec:\n  authorizationPolicies:\n    rules:\n    - brokerResources: [{method: Delete}]\n`;
    const err = configErrorOf(() => parseConfigText(docs(broker('b'), authz), 'file.yaml'));
    expect(err.message).toBe(
      "BrokerAuthorization/z in file.yaml:13: spec.authorizationPolicies.rules[0].brokerResources[0].method: must be one of Connect, Publish, Subscribe (got 'Delete')",
    );
  });

  it('2023 listenerRef naming no loaded listener', () => {
    const authn = `apiVersion: ${AZURE_2023}\nkind: BrokerAuthentication\nmetadata: {name: authn}\nspec:\n  listenerRef: [listenr]\n  authenticationMethods: [{sat: {audiences: [aio-mq]}}]\n`;
    const err = configErrorOf(() => parseConfigText(docs(broker('b'), listener('listener', ['brokerRef: b', 'port: 1883']), authn), 'file.yaml'));
    expect(err.message).toBe("BrokerAuthentication/authn in file.yaml:19: spec.listenerRef[0]: names BrokerListener 'listenr', which is not loaded");
    expect(err.field).toBe('spec.listenerRef[0]');
  });

  it('errors in a later file name that file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgemq-config-'));
    writeFileSync(join(dir, 'broker.yaml'), broker('b'));
    writeFileSync(join(dir, 'listener.yaml'), listener('l', ['brokerRef: b', 'port: 65536']));
    const err = configErrorOf(() => loadConfig([join(dir, 'broker.yaml'), join(dir, 'listener.yaml')]));
    expect(err.message).toBe(`BrokerListener/l in ${join(dir, 'listener.yaml')}:7: spec.port: must be <= 65535 (got 65536)`);
  });
});

describe('warnings', () => {
  it('skips kinds edgemq does not use, naming kind and name', () => {
    const bridge = `apiVersion: ${AZURE_2023}\nkind: MqttBridgeConnector\nmetadata: {name: my-bridge}\nspec: {protocol: v5}\n`;
    const kafka = `apiVersion: ${AZURE_2023}\nkind: KafkaConnectorTopicMap\nmetadata: {name: my-map}\nspec: {}\n`;
    const c = parseConfigText(docs(broker('b'), listener('l', ['brokerRef: b', 'port: 1883']), bridge, kafka), 'file.yaml');
    expect(c.skipped).toEqual([
      { kind: 'MqttBridgeConnector', name: 'my-bridge', apiVersion: AZURE_2023, source: 'file.yaml' },
      { kind: 'KafkaConnectorTopicMap', name: 'my-map', apiVersion: AZURE_2023, source: 'file.yaml' },
    ]);
    expect(c.warnings).toEqual([
      'MqttBridgeConnector/my-bridge in file.yaml:15: kind MqttBridgeConnector is run by `edgemq connector`, not by this command; skipped',
      'KafkaConnectorTopicMap/my-map in file.yaml:20: kind KafkaConnectorTopicMap is not used by edgemq; skipped',
    ]);
    expect(c.listeners).toHaveLength(1);
  });

  it('unknown fields are warned about (with a suggestion), not rejected', () => {
    const c = parseConfigText(docs(broker('b', '{memoryProfle: low, advanced: {clients: {maxKeepAlive: 5}}}'), listener('l', ['brokerRef: b', 'port: 1883'])), 'file.yaml');
    expect(c.warnings).toEqual([
      'Broker/b in file.yaml:5: spec.memoryProfle: unknown field, ignored (did you mean memoryProfile?)',
      'Broker/b in file.yaml:5: spec.advanced.clients.maxKeepAlive: unknown field, ignored',
    ]);
    expect(c.broker.memoryProfile).toBe('medium');
  });

  it('listeners of one serviceType with different serviceNames', () => {
    const c = parseConfigText(
      docs(broker('b'), listener('a', ['brokerRef: b', 'port: 1', 'serviceName: one']), listener('c', ['brokerRef: b', 'port: 2', 'serviceName: two'])),
      'file.yaml',
    );
    expect(c.warnings).toEqual([
      "BrokerListener/c in file.yaml:23: spec.serviceName: 'two' differs from 'one' of BrokerListener/a in file.yaml:7; listeners with serviceType ClusterIp should share one serviceName",
    ]);
  });

  it('listeners of different serviceTypes sharing a serviceName', () => {
    const c = parseConfigText(
      docs(broker('b'), listener('a', ['brokerRef: b', 'port: 1']), listener('c', ['brokerRef: b', 'port: 2', 'serviceType: loadBalancer'])),
      'file.yaml',
    );
    expect(c.warnings).toEqual([
      "BrokerListener/c in file.yaml:22: spec.serviceType: LoadBalancer differs from ClusterIp of BrokerListener/a in file.yaml:7, which uses the same serviceName 'edgemq'; one Service cannot have two types",
    ]);
  });

  it('nodePort without serviceType NodePort', () => {
    const c = parseConfigText(withListener('l', ['brokerRef: b', 'ports: [{port: 1883, nodePort: 31883}]']), 'file.yaml');
    expect(c.warnings).toEqual(['BrokerListener/l in file.yaml:13: spec.ports[0].nodePort: ignored because serviceType is ClusterIp, not NodePort']);
  });

  it('2023 authenticationEnabled without a BrokerAuthentication pointing at the listener', () => {
    const c = parseConfigText(withListener('l', ['brokerRef: b', 'port: 8883', 'authenticationEnabled: true']), 'file.yaml');
    expect(c.warnings).toEqual(["BrokerListener/l in file.yaml:14: spec.authenticationEnabled: true, but no BrokerAuthentication lists 'l' in spec.listenerRef"]);
  });
});
