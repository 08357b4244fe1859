import { describe, expect, it } from 'vitest';
import { MAX_PACKET_SIZE_BY_PROFILE } from '../../../src/config/defaults.js';
import { embeddedDefaultConfig, loadConfig, parseConfigText } from '../../../src/config/load.js';
import { EDGEMQ, broker, docs, listener } from './fixtures.js';

const MiB = 1024 * 1024;

describe('embedded default (no configuration files)', () => {
  it('is broker default with one plain MQTT listener default on 1883 without authentication', () => {
    const c = loadConfig([]);
    expect(c).toEqual({
      broker: {
        name: 'default',
        apiVersion: EDGEMQ,
        mode: 'auto',
        memoryProfile: 'medium',
        cardinality: { frontend: { replicas: 1, workers: 1 }, backendChain: { partitions: 1, redundancyFactor: 1, workers: 1 } },
        clients: {
          maxSessionExpirySeconds: 0xffffffff,
          maxPacketSizeBytes: 64 * MiB,
          maxReceiveMaximum: 65535,
          maxKeepAliveSeconds: 65535,
          subscriberQueueLimit: { length: 10000, strategy: 'None' },
          stalledSubscriberSeconds: 3,
          receiveMaximum: 1024,
          topicAliasMaximum: 1024,
          outboundTopicAliasMaximum: 128,
          connectTimeoutMs: 10000,
          subscribeDeniedReasonCode: 0x87,
        },
        durability: 'os',
        sharedSubscriptionStrategy: 'round-robin',
        sysIntervalSeconds: 10,
        logLevel: 'info',
        operations: {
          metricsPort: 9600,
          selfCheck: { enabled: true, intervalSeconds: 30, timeoutSeconds: 15 },
          adminPort: 9601,
          adminRequired: false,
        },
      },
      listeners: [
        {
          name: 'default',
          apiVersion: EDGEMQ,
          brokerRef: 'default',
          serviceName: 'edgemq',
          serviceType: 'ClusterIp',
          authenticationEnabled: false,
          authorizationEnabled: false,
          ports: [{ port: 1883, protocol: 'mqtt' }],
        },
      ],
      others: [],
      skipped: [],
      warnings: [],
    });
  });

  it('uses opts.port for the default listener', () => {
    expect(loadConfig([], { port: 11883 }).listeners[0]!.ports[0]!.port).toBe(11883);
    expect(embeddedDefaultConfig({ port: 0 }).listeners[0]!.ports[0]!.port).toBe(0);
  });

  it('applies to text without any resource (empty file, comments only)', () => {
    expect(parseConfigText('# nothing here\n---\n', 'empty.yaml', { port: 2883 }).listeners[0]!.ports[0]!.port).toBe(2883);
  });

  it('serves the default listener, with a warning, for a Broker without listeners', () => {
    const c = parseConfigText(broker('b'), 'b.yaml', { port: 1884 });
    expect(c.listeners).toMatchObject([{ name: 'default', brokerRef: 'b', ports: [{ port: 1884, protocol: 'mqtt' }] }]);
    expect(c.warnings).toEqual(["Broker/b in b.yaml:1: no BrokerListener refers to it; serving the default listener 'default' on port 1884 without authentication"]);
  });
});

describe('defaults filled into resources', () => {
  const load = (spec: string) => parseConfigText(docs(broker('b', spec), listener('l', ['brokerRef: b', 'port: 1883'])), 'x.yaml');

  it.each([
    ['tiny', 4 * MiB],
    ['Low', 16 * MiB],
    ['medium', 64 * MiB],
    ['High', 256 * MiB],
  ])('maxPacketSizeBytes follows memoryProfile %s', (profile, bytes) => {
    expect(load(`{memoryProfile: ${profile}}`).broker.clients.maxPacketSizeBytes).toBe(bytes);
  });

  it('maxPacketSizeBytes below the profile bound is used as given', () => {
    expect(load('{memoryProfile: tiny, advanced: {clients: {maxPacketSizeBytes: 1000}}}').broker.clients.maxPacketSizeBytes).toBe(1000);
  });

  it('maxPacketSizeBytes above the profile bound is capped, with a warning', () => {
    const c = load('{memoryProfile: tiny, advanced: {clients: {maxPacketSizeBytes: 268435456}}}');
    expect(c.broker.clients.maxPacketSizeBytes).toBe(MAX_PACKET_SIZE_BY_PROFILE.tiny);
    expect(c.warnings).toEqual([
      "Broker/b in x.yaml:5: spec.advanced.clients.maxPacketSizeBytes: 268435456 exceeds the tiny memory profile's 4194304; using 4194304",
    ]);
  });

  it('subscriberQueueLimit: a missing length is 10000 and a missing strategy None; both bound the queue', () => {
    expect(load('{clients: {subscriberQueueLimit: {strategy: DropOldest}}}').broker.clients.subscriberQueueLimit).toEqual({ length: 10000, strategy: 'DropOldest' });
    const c = load('{clients: {subscriberQueueLimit: {length: 5}}}');
    expect(c.broker.clients.subscriberQueueLimit).toEqual({ length: 5, strategy: 'None' });
    expect(c.warnings).toEqual([]);
  });

  it('partial cardinality is completed with the single-node values', () => {
    expect(load('{mode: Distributed, cardinality: {backendChain: {partitions: 4}}}').broker).toMatchObject({
      mode: 'distributed',
      cardinality: { frontend: { replicas: 1, workers: 1 }, backendChain: { partitions: 4, redundancyFactor: 1, workers: 1 } },
    });
  });

  it('maxMessageExpirySeconds stays undefined (no cap) unless set', () => {
    expect('maxMessageExpirySeconds' in load('{}').broker.clients).toBe(false);
  });

  it('listener defaults: ClusterIp, protocol mqtt, service name edgemq in our group', () => {
    expect(load('{}').listeners[0]).toEqual({
      name: 'l',
      apiVersion: EDGEMQ,
      brokerRef: 'b',
      serviceName: 'edgemq',
      serviceType: 'ClusterIp',
      authenticationEnabled: false,
      authorizationEnabled: false,
      ports: [{ port: 1883, protocol: 'mqtt' }],
    });
  });
});
