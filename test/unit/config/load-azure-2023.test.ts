import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfigText } from '../../../src/config/load.js';
import { AZURE_2023, samplePath } from './fixtures.js';

/** The shapes of the Nov 2023 Azure IoT MQ docs and `az iot ops init` templates, verbatim. */
const AZURE_2023_MANIFEST = `
apiVersion: mq.iotoperations.azure.com/v1beta1
kind: Broker
metadata:
  name: broker
  namespace: azure-iot-operations
spec:
  authImage:
    pullPolicy: Always
    repository: mcr.microsoft.com/azureiotoperations/dmqtt-authentication
    tag: 0.1.0-preview
  brokerImage:
    pullPolicy: Always
    repository: mcr.microsoft.com/azureiotoperations/dmqtt-pod
    tag: 0.1.0-preview
  memoryProfile: medium
  mode: distributed
  cardinality:
    backendChain:
      partitions: 2
      redundancyFactor: 2
      workers: 2
    frontend:
      replicas: 2
      workers: 2
  diskBackedMessageBufferSettings:
    maxSize: 1G
    ephemeralVolumeClaimSpec:
      storageClassName: local-path
      accessModes: [ReadWriteOnce]
  encryptInternalTraffic: true
  diagnostics:
    diagnosticServiceEndpoint: aio-mq-diagnostics-service:9700
    enableMetrics: true
    enableTracing: true
    logLevel: debug,hyper=off
    logFormat: text
---
apiVersion: mq.iotoperations.azure.com/v1beta1
kind: BrokerListener
metadata:
  name: listener
  namespace: azure-iot-operations
spec:
  brokerRef: broker
  authenticationEnabled: true
  authorizationEnabled: true
  port: 8883
  serviceName: aio-mq-dmqtt-frontend
  serviceType: clusterIp
  tls:
    automatic:
      issuerRef:
        name: mq-dmqtt-frontend
        kind: Issuer
        group: cert-manager.io
---
apiVersion: mq.iotoperations.azure.com/v1beta1
kind: BrokerAuthentication
metadata:
  name: authn
  namespace: azure-iot-operations
spec:
  listenerRef:
    - listener
  authenticationMethods:
    - sat:
        audiences: ["aio-mq"]
    - usernamePassword:
        secretName: passwords-db
    - custom:
        endpoint: https://auth-server-template
        caCert: custom-auth-ca
        auth:
          x509:
            secretName: custom-auth-client-cert
        headers:
          x-api-key: abc
---
apiVersion: mq.iotoperations.azure.com/v1beta1
kind: BrokerAuthorization
metadata:
  name: authz
  namespace: azure-iot-operations
spec:
  listenerRef:
    - listener
  authorizationPolicies:
    enableCache: true
    rules:
      - principals:
          usernames: [temperature-sensor]
          attributes:
            - city: seattle
              organization: contoso
        brokerResources:
          - method: Connect
          - method: Publish
            topics: ["/telemetry/{principal.username}"]
          - method: Subscribe
            topics: ["/commands/{principal.attributes.organization}"]
`;

describe('Azure IoT MQ 2023 (mq.iotoperations.azure.com/v1beta1) manifests', () => {
  const config = parseConfigText(AZURE_2023_MANIFEST, 'azure.yaml');

  it('loads the Broker with its 2023 fields and without warnings', () => {
    expect(config.warnings).toEqual([]);
    expect(config.broker).toMatchObject({
      name: 'broker',
      namespace: 'azure-iot-operations',
      apiVersion: AZURE_2023,
      mode: 'distributed',
      memoryProfile: 'medium',
      cardinality: { frontend: { replicas: 2, workers: 2 }, backendChain: { partitions: 2, redundancyFactor: 2, workers: 2 } },
      logLevel: 'debug,hyper=off',
    });
  });

  it('loads the one-port listener with TLS automatic issuerRef unchanged', () => {
    expect(config.listeners).toEqual([
      {
        name: 'listener',
        namespace: 'azure-iot-operations',
        apiVersion: AZURE_2023,
        brokerRef: 'broker',
        serviceName: 'aio-mq-dmqtt-frontend',
        serviceType: 'ClusterIp',
        authenticationEnabled: true,
        authorizationEnabled: true,
        ports: [
          {
            port: 8883,
            protocol: 'mqtt',
            tls: { automatic: { issuerRef: { name: 'mq-dmqtt-frontend', kind: 'Issuer', group: 'cert-manager.io' } } },
            authenticationRef: 'authn',
            authorizationRef: 'authz',
          },
        ],
      },
    ]);
  });

  it('keeps BrokerAuthentication and BrokerAuthorization raw in others', () => {
    expect(config.others.map((o) => `${o.kind}/${o.name}`)).toEqual(['BrokerAuthentication/authn', 'BrokerAuthorization/authz']);
    expect(config.others[0]).toMatchObject({ apiVersion: AZURE_2023, source: 'azure.yaml' });
    expect(config.others[0]!.spec.authenticationMethods).toHaveLength(3);
  });

  it('defaults serviceName to aio-mq-dmqtt-frontend and serviceType to ClusterIp, like Azure 2023', () => {
    const c = parseConfigText(
      `apiVersion: ${AZURE_2023}\nkind: Broker\nmetadata: {name: broker}\nspec: {}\n---\n` +
        `apiVersion: ${AZURE_2023}\nkind: BrokerListener\nmetadata: {name: plain}\nspec: {brokerRef: broker, port: 1883}\n`,
      'x.yaml',
    );
    expect(c.listeners[0]).toMatchObject({ serviceName: 'aio-mq-dmqtt-frontend', serviceType: 'ClusterIp', authenticationEnabled: false });
  });

  it('loads the sample manifest in samples/config unchanged', () => {
    const file = samplePath('azure-iot-mq-v1beta1.yaml');
    const c = loadConfig([file]);
    expect(c.broker.name).toBe('broker');
    expect(c.listeners.map((l) => [l.name, l.ports[0]!.port, l.ports[0]!.authenticationRef])).toEqual([
      ['listener', 8883, 'authn'],
      ['az-mqtt-non-tls-listener', 1883, undefined],
    ]);
    expect(c.skipped).toEqual([
      { kind: 'DiagnosticService', name: 'diagnostics', apiVersion: AZURE_2023, source: file },
    ]);
    expect(c.warnings).toEqual([
      `DiagnosticService/diagnostics in ${file}:87: kind DiagnosticService is not used by edgemq; skipped`,
    ]);
  });
});
