import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load.js';
import { AZURE_V1, broker, configErrorOf, docs, listener } from './fixtures.js';

/** The 2024+ shape (mqttbroker.iotoperations.azure.com), as in the Azure IoT Operations 1.x docs. */
const AZURE_V1_MANIFEST = `
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: Broker
metadata:
  name: default
  namespace: azure-iot-operations
spec:
  memoryProfile: Low
  cardinality:
    frontend: {replicas: 2, workers: 2}
    backendChain: {partitions: 2, redundancyFactor: 2, workers: 1}
  advanced:
    encryptInternalTraffic: Enabled
    clients:
      maxSessionExpirySeconds: 282277
      maxMessageExpirySeconds: 1622
      subscriberQueueLimit:
        length: 1000
        strategy: DropOldest
      maxReceiveMaximum: 15000
      maxKeepAliveSeconds: 300
  diagnostics:
    logs: {level: debug}
    metrics: {prometheusPort: 9600}
    selfCheck: {mode: Enabled, intervalSeconds: 30, timeoutSeconds: 15}
  diskBackedMessageBuffer:
    maxSize: 500M
  generateResourceLimits: {cpu: Disabled}
---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerListener
metadata:
  name: default
  namespace: azure-iot-operations
spec:
  brokerRef: default
  serviceType: ClusterIp
  serviceName: aio-broker
  ports:
  - port: 18883
    authenticationRef: default
    protocol: Mqtt
    tls:
      mode: Automatic
      certManagerCertificateSpec:
        issuerRef:
          name: azure-iot-operations-aio-certificate-issuer
          kind: ClusterIssuer
          group: cert-manager.io
        privateKey: {algorithm: Ec256, rotationPolicy: Always}
---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerListener
metadata:
  name: loadbalancer-listener
  namespace: azure-iot-operations
spec:
  brokerRef: default
  serviceType: LoadBalancer
  serviceName: aio-broker-loadbalancer
  ports:
  - port: 1883
    protocol: Mqtt
  - port: 8884
    protocol: WebSockets
    authenticationRef: default
    authorizationRef: my-authz
    tls:
      mode: Manual
      manual: {secretRef: server-cert-secret}
---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerAuthentication
metadata:
  name: default
  namespace: azure-iot-operations
spec:
  authenticationMethods:
  - method: ServiceAccountToken
    serviceAccountTokenSettings:
      audiences: [aio-internal]
  - method: X509
    x509Settings:
      trustedClientCaCert: client-ca
      authorizationAttributes:
        smartfan: {subject: "CN = smart-fan", attributes: {building: "17"}}
---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerAuthorization
metadata:
  name: my-authz
  namespace: azure-iot-operations
spec:
  authorizationPolicies:
    cache: Enabled
    rules:
    - principals:
        clientIds: [temperature-sensor]
      brokerResources:
      - method: Connect
      - method: Publish
        topics: ["sensors/{principal.clientId}/telemetry"]
      stateStoreResources:
      - {method: Read, keyType: Pattern, keys: ["clients/{principal.clientId}/*"]}
`;

describe('later Azure generation (mqttbroker.iotoperations.azure.com)', () => {
  const config = parseConfigText(AZURE_V1_MANIFEST, 'aio.yaml');

  it('loads without warnings', () => {
    expect(config.warnings).toEqual([]);
  });

  it('reads capitalised enums, advanced.clients and diagnostics.logs', () => {
    expect(config.broker).toMatchObject({
      name: 'default',
      apiVersion: AZURE_V1,
      memoryProfile: 'low',
      mode: 'auto',
      logLevel: 'debug',
      cardinality: { frontend: { replicas: 2, workers: 2 }, backendChain: { partitions: 2, redundancyFactor: 2, workers: 1 } },
      clients: {
        maxSessionExpirySeconds: 282277,
        maxMessageExpirySeconds: 1622,
        subscriberQueueLimit: { length: 1000, strategy: 'DropOldest' },
        maxReceiveMaximum: 15000,
        maxKeepAliveSeconds: 300,
        maxPacketSizeBytes: 16 * 1024 * 1024,
      },
    });
  });

  it('turns the ports list into ports with per-port protocol, TLS and auth references', () => {
    expect(config.listeners[1]).toEqual({
      name: 'loadbalancer-listener',
      namespace: 'azure-iot-operations',
      apiVersion: AZURE_V1,
      brokerRef: 'default',
      serviceName: 'aio-broker-loadbalancer',
      serviceType: 'LoadBalancer',
      authenticationEnabled: true,
      authorizationEnabled: true,
      ports: [
        { port: 1883, protocol: 'mqtt' },
        {
          port: 8884,
          protocol: 'websockets',
          authenticationRef: 'default',
          authorizationRef: 'my-authz',
          tls: { mode: 'Manual', manual: { secretRef: 'server-cert-secret' } },
        },
      ],
    });
    expect(config.listeners[0]!.ports[0]).toMatchObject({ port: 18883, authenticationRef: 'default', tls: { mode: 'Automatic' } });
  });

  it('defaults serviceName to the listener name, as Azure does since 2024', () => {
    const c = parseConfigText(docs(broker('b', '{}', AZURE_V1), listener('my-listener', ['brokerRef: b', 'ports: [{port: 1883}]'], AZURE_V1)), 'x.yaml');
    expect(c.listeners[0]!.serviceName).toBe('my-listener');
  });

  it('accepts the v1beta1 version of the later group', () => {
    const v1beta1 = 'mqttbroker.iotoperations.azure.com/v1beta1';
    const c = parseConfigText(docs(broker('b', '{}', v1beta1), listener('l', ['brokerRef: b', 'ports: [{port: 1883}]'], v1beta1)), 'x.yaml');
    expect(c.broker.apiVersion).toBe(v1beta1);
  });

  it('rejects an authenticationRef naming no loaded BrokerAuthentication', () => {
    const err = configErrorOf(() =>
      parseConfigText(docs(broker('b'), listener('l', ['brokerRef: b', 'ports: [{port: 1883, authenticationRef: missing}]'])), 'x.yaml'),
    );
    expect(err.message).toBe("BrokerListener/l in x.yaml:13: spec.ports[0].authenticationRef: names BrokerAuthentication 'missing', which is not loaded");
    expect(err.resource).toBe('BrokerListener/l');
    expect(err.field).toBe('spec.ports[0].authenticationRef');
  });

  it('warns about 2023-only listener fields next to ports, and authorizationRef without authenticationRef', () => {
    const c = parseConfigText(
      docs(
        broker('b'),
        listener('l', ['brokerRef: b', 'protocol: websockets', 'ports:', '- port: 1883', '  authorizationRef: z']),
        `apiVersion: mq.edgemq.io/v1beta1\nkind: BrokerAuthorization\nmetadata: {name: z}\nspec: {authorizationPolicies: {rules: []}}\n`,
      ),
      'x.yaml',
    );
    expect(c.warnings).toEqual([
      'BrokerListener/l in x.yaml:13: spec.protocol: ignored with spec.ports; set it per port',
      'BrokerListener/l in x.yaml:16: spec.ports[0].authorizationRef: has no effect without authenticationRef (as in Azure IoT Operations)',
    ]);
  });
});
