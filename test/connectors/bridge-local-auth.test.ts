/**
 * The bridge as a client of the local edgemq broker under each of its authentication methods:
 * Kubernetes service account token (MQTT 5 K8S-SAT, token file re-read on connect) over TLS, X.509
 * client certificate over TLS, username/password; and a subscription the broker's authorization
 * refuses, reported on the route while the process keeps running.
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startBroker, type RunningBroker } from '../helpers/broker.js';
import { BROKER, makePki, writeSecret } from '../security/helpers.js';
import { passwd } from '../../src/security/commands.js';
import { connect, mosquitto, startConnector, tempDir, until, writeConfig, type Connector, type Mosquitto } from './helpers.js';

const dir = tempDir();
const secrets = path.join(dir, 'secrets');
const pki = makePki();
const ports = { sat: 0, x509: 0, pw: 0 };
let local: RunningBroker;
let remote: Mosquitto;
let connector: Connector;
let app: MqttClient;
const atRemote: string[] = [];

const bridge = (name: string, local: string, source: string) => `apiVersion: mq.iotoperations.azure.com/v1beta1
kind: MqttBridgeConnector
metadata: {name: ${name}}
spec:
  clientIdPrefix: ${name}-
  remoteBrokerConnection: {endpoint: '127.0.0.1:${remote.port}', tls: {tlsEnabled: false}}
  localBrokerConnection:
${local}
  edgemq: {reconnectMinDelayMs: 50, reconnectMaxDelayMs: 300}
---
apiVersion: mq.iotoperations.azure.com/v1beta1
kind: MqttBridgeTopicMap
metadata: {name: ${name}-map}
spec:
  mqttBridgeConnectorRef: ${name}
  routes: [{name: up, direction: local-to-remote, source: '${source}'}]
`;

beforeAll(async () => {
  Object.assign(ports, { sat: await freePort(), x509: await freePort(), pw: await freePort() });
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  const publicJwk = { ...(await exportJWK(await importJWK({ kty: jwk.kty, n: jwk.n, e: jwk.e }, 'RS256'))), kid: 'k1', alg: 'RS256', use: 'sig' };
  writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify({ keys: [publicJwk] }));
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ 'kubernetes.io': { namespace: 'edge', serviceaccount: { name: 'bridge', uid: 'u1' } } })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setSubject('system:serviceaccount:edge:bridge')
    .setIssuer('https://kubernetes.default.svc')
    .setAudience('edgemq')
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(privateKey);
  writeFileSync(path.join(dir, 'mq-sat'), `${token}\n`);
  const bridgeCert = pki.client('site1-bridge');
  writeSecret(secrets, 'server-cert', { 'tls.crt': pki.server.cert, 'tls.key': pki.server.key });
  writeSecret(secrets, 'client-ca', { 'ca.pem': pki.ca.cert });
  writeSecret(secrets, 'edge-ca', { 'ca.crt': pki.ca.cert });
  writeSecret(secrets, 'bridge-cert', { 'tls.crt': bridgeCert.cert, 'tls.key': bridgeCert.key });
  writeSecret(secrets, 'passwords', {});
  writeSecret(secrets, 'bridge-login', { username: 'bridge', password: 'bridge-pw' });
  writeSecret(secrets, 'limited-login', { username: 'limited', password: 'limited-pw' });
  const pwfile = path.join(secrets, 'passwords', 'passwords.toml');
  for (const [u, p] of [['bridge', 'bridge-pw'], ['limited', 'limited-pw'], ['app', 'app-pw']]) await passwd({ file: pwfile, username: u!, password: p!, iterations: 1000 });
  const tls = '{mode: Manual, manual: {secretRef: server-cert}}';
  const config = `${BROKER()}---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerListener
metadata: {name: edge}
spec:
  brokerRef: default
  ports:
  - {port: ${ports.sat}, authenticationRef: sat, tls: ${tls}}
  - {port: ${ports.x509}, authenticationRef: certs, tls: ${tls}}
  - {port: ${ports.pw}, authenticationRef: pw, authorizationRef: bridges}
---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerAuthentication
metadata: {name: sat}
spec:
  authenticationMethods:
  - method: ServiceAccountToken
    serviceAccountTokenSettings: {audiences: [edgemq], edgemq: {jwksFile: ${path.join(dir, 'jwks.json')}, issuer: "https://kubernetes.default.svc"}}
---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerAuthentication
metadata: {name: certs}
spec:
  authenticationMethods:
  - method: X509
    x509Settings: {trustedClientCaCert: client-ca}
---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerAuthentication
metadata: {name: pw}
spec:
  authenticationMethods:
  - method: UsernamePassword
    usernamePasswordSettings: {secretName: passwords}
---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerAuthorization
metadata: {name: bridges}
spec:
  authorizationPolicies:
    rules:
    - principals: {usernames: [bridge, app]}
      brokerResources: [{method: Connect}, {method: Publish, topics: ["#"]}, {method: Subscribe, topics: ["#"]}]
    - principals: {usernames: [limited]}
      brokerResources: [{method: Connect}, {method: Subscribe, topics: ["other/#"]}]
`;
  const file = path.join(dir, 'edgemq.yaml');
  writeFileSync(file, config);
  [local, remote] = await Promise.all([startBroker({ port: ports.pw, args: ['--config', file, '--secrets-dir', secrets] }), mosquitto()]);
  const bridges = [
    bridge('sat', `    endpoint: '127.0.0.1:${ports.sat}'\n    tls: {tlsEnabled: true, trustedCaCertificateConfigMap: edge-ca}\n    authentication: {kubernetes: {tokenPath: ${path.join(dir, 'mq-sat')}}}`, 'sat/#'),
    bridge('x509', `    endpoint: '127.0.0.1:${ports.x509}'\n    tls: {tlsEnabled: true, trustedCaCertificateConfigMap: edge-ca}\n    authentication: {x509: {secretName: bridge-cert}}`, 'x509/#'),
    bridge('pw', `    endpoint: '127.0.0.1:${ports.pw}'\n    authentication: {usernamePassword: {secretName: bridge-login}}`, 'pw/#'),
    bridge('denied', `    endpoint: '127.0.0.1:${ports.pw}'\n    authentication: {usernamePassword: {secretName: limited-login}}`, 'pw/#'),
  ];
  connector = startConnector(writeConfig(path.join(dir, 'bridge'), bridges.join('---\n')), ['--secrets-dir', secrets]);
  const watcher = await connect(`mqtt://127.0.0.1:${remote.port}`, { clientId: 'cloud-watch' });
  watcher.on('message', (t, p) => atRemote.push(`${t}=${p.toString()}`));
  await watcher.subscribeAsync('#', { qos: 1 });
  app = await connect(`mqtt://127.0.0.1:${ports.pw}`, { clientId: 'app', username: 'app', password: 'app-pw' });
}, 60_000);

afterAll(async () => {
  app?.end(true);
  await connector?.kill();
  await Promise.all([local?.stop(), remote?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

function route(name: string): Record<string, unknown> | undefined {
  const lines = connector.output().split('\n').filter((l) => l.includes('"bridge route statistics"'));
  const last = lines[lines.length - 1];
  return last === undefined ? undefined : (JSON.parse(last) as { routes: Array<Record<string, unknown>> }).routes.find((r) => r.connector === name);
}

describe('bridge to the local broker, per authentication method', { timeout: 60_000 }, () => {
  for (const [name, topic] of [['sat', 'sat/t'], ['x509', 'x509/t'], ['pw', 'pw/t']] as const) {
    it(`${name}: connects, subscribes and forwards`, async () => {
      await until(`${name} connected on both sides`, () => route(name)?.sourceConnections === 1 && route(name)?.targetConnections === 1);
      await app.publishAsync(topic, name, { qos: 1 });
      await until(`${topic} at the remote`, () => atRemote.includes(`${topic}=${name}`));
    });
  }

  it('reports a subscription the broker does not authorize, retries with backoff, and forwards nothing', async () => {
    await until('the refusal recorded', () => String(route('denied')?.lastError ?? '').includes("subscribing to 'pw/#' on the local broker refused"));
    expect(String(route('denied')?.lastError)).toMatch(/0x87|not authorized/i);
    // Each refusal follows a successful CONNECT; the back-off still grows (50 ms doubling to 300 ms here),
    // so a second holds a handful of attempts, not a tight loop's hundreds. A slow machine only makes fewer.
    const before = Number(route('denied')?.connectFailures);
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 1500));
    const perSecond = ((Number(route('denied')?.connectFailures) - before) * 1000) / (Date.now() - t0);
    expect(perSecond).toBeLessThan(15);
    expect(connector.process.exitCode).toBeNull();
    expect(atRemote.filter((m) => m.startsWith('pw/')).length).toBe(1); // only the pw route's copy
    expect(route('denied')?.forwarded).toBe(0);
  });
});
