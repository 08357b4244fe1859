import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfigText } from '../../../src/config/load.js';
import { EDGEMQ, broker, docs, listener, samplePath } from './fixtures.js';

describe('edgemq group (mq.edgemq.io/v1beta1)', () => {
  it('loads the sample: Broker with extensions, a TCP listener on 1883 and a WebSocket listener on 8080', () => {
    const c = loadConfig([samplePath('edgemq-broker.yaml')]);
    expect(c.warnings).toEqual([]);
    expect(c.broker).toMatchObject({
      name: 'edgemq',
      apiVersion: EDGEMQ,
      memoryProfile: 'low',
      durability: 'os',
      sharedSubscriptionStrategy: 'least-inflight',
      sysIntervalSeconds: 10,
      clients: {
        maxSessionExpirySeconds: 604800,
        maxMessageExpirySeconds: 86400,
        maxPacketSizeBytes: 1048576,
        maxKeepAliveSeconds: 300,
        subscriberQueueLimit: { length: 50000, strategy: 'DropOldest' },
        receiveMaximum: 1024,
        topicAliasMaximum: 1024,
        outboundTopicAliasMaximum: 128,
        connectTimeoutMs: 10000,
        subscribeDeniedReasonCode: 0x87,
      },
    });
    expect(c.listeners.map((l) => [l.name, l.serviceName, l.ports])).toEqual([
      ['mqtt', 'edgemq', [{ port: 1883, protocol: 'mqtt' }]],
      ['websockets', 'edgemq', [{ port: 8080, protocol: 'websockets' }]],
    ]);
  });

  it('reads every extension under spec.edgemq', () => {
    const c = parseConfigText(
      docs(
        broker('b', '{edgemq: {durability: fsync, sharedSubscriptionStrategy: least-inflight, receiveMaximum: 10, topicAliasMaximum: 0, outboundTopicAliasMaximum: 0, connectTimeoutSeconds: 3, sysIntervalSeconds: 0}}'),
        listener('l', ['brokerRef: b', 'port: 1883']),
      ),
      'x.yaml',
    );
    expect(c.broker.durability).toBe('fsync');
    expect(c.broker.sharedSubscriptionStrategy).toBe('least-inflight');
    expect(c.broker.sysIntervalSeconds).toBe(0);
    expect(c.broker.clients).toMatchObject({ receiveMaximum: 10, topicAliasMaximum: 0, outboundTopicAliasMaximum: 0, connectTimeoutMs: 3000 });
  });

  it('accepts client limits at spec.clients as well as spec.advanced.clients', () => {
    const c = parseConfigText(docs(broker('b', '{clients: {maxKeepAliveSeconds: 60, maxReceiveMaximum: 100}}'), listener('l', ['brokerRef: b', 'port: 1883'])), 'x.yaml');
    expect(c.broker.clients).toMatchObject({ maxKeepAliveSeconds: 60, maxReceiveMaximum: 100 });
    expect(c.warnings).toEqual([]);
  });

  it('prefers spec.advanced.clients when both places set a field, and says so', () => {
    const c = parseConfigText(
      docs(broker('b', '{clients: {maxKeepAliveSeconds: 60}, advanced: {clients: {maxKeepAliveSeconds: 30}}}'), listener('l', ['brokerRef: b', 'port: 1883'])),
      'x.yaml',
    );
    expect(c.broker.clients.maxKeepAliveSeconds).toBe(30);
    expect(c.warnings).toEqual([
      'Broker/b in x.yaml:5: spec.clients.maxKeepAliveSeconds: also set in spec.advanced.clients; using spec.advanced.clients.maxKeepAliveSeconds',
    ]);
  });

  it('accepts protocol spellings Mqtt/WebSockets and service types in any casing', () => {
    const c = parseConfigText(
      docs(
        broker('b'),
        listener('a', ['brokerRef: b', 'port: 1', 'protocol: Mqtt', 'serviceType: LoadBalancer', 'serviceName: lb']),
        listener('c', ['brokerRef: b', 'port: 2', 'protocol: WebSockets', 'serviceType: nodePort', 'serviceName: np']),
        listener('d', ['brokerRef: b', 'port: 3', 'serviceType: ClusterIP', 'serviceName: cip']),
      ),
      'x.yaml',
    );
    expect(c.listeners.map((l) => [l.serviceType, l.ports[0]!.protocol])).toEqual([
      ['LoadBalancer', 'mqtt'],
      ['NodePort', 'websockets'],
      ['ClusterIp', 'mqtt'],
    ]);
  });

  it('loads several files and the YAML files of a directory, in name order', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgemq-config-'));
    writeFileSync(join(dir, '10-broker.yaml'), broker('b'));
    writeFileSync(join(dir, '20-listener.yml'), listener('l', ['brokerRef: b', 'port: 1883']));
    writeFileSync(join(dir, 'README.md'), 'not: config');
    const c = loadConfig([dir]);
    expect(c.broker.name).toBe('b');
    expect(c.listeners.map((l) => l.name)).toEqual(['l']);
    const split = loadConfig([join(dir, '10-broker.yaml'), join(dir, '20-listener.yml')]);
    expect(split.listeners[0]!.ports[0]!.port).toBe(1883);
  });

  it('expands a kind: List as printed by kubectl get -o yaml', () => {
    const text = [
      'apiVersion: v1',
      'kind: List',
      'items:',
      `- {apiVersion: ${EDGEMQ}, kind: Broker, metadata: {name: b}, spec: {}}`,
      `- {apiVersion: ${EDGEMQ}, kind: BrokerListener, metadata: {name: l}, spec: {brokerRef: b, port: 99999}}`,
    ].join('\n');
    expect(() => parseConfigText(text, 'list.yaml')).toThrow('BrokerListener/l in list.yaml:5: spec.port: must be <= 65535 (got 99999)');
  });

  it('accepts port 0 (any free port) several times without a duplicate-port error', () => {
    const c = parseConfigText(docs(broker('b'), listener('a', ['brokerRef: b', 'port: 0']), listener('c', ['brokerRef: b', 'port: 0'])), 'x.yaml');
    expect(c.listeners.map((l) => l.ports[0]!.port)).toEqual([0, 0]);
  });
});
