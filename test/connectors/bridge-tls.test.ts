/**
 * The bridge's remote connection options against a real Mosquitto: TLS with the CA from
 * `trustedCaCertificateConfigMap`, X.509 client certificates, username/password from a secret over
 * MQTT 3.1.1, WebSocket, and the failures (untrusted server, wrong password, missing secret) reported per route
 * without ending the process.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startBroker, type RunningBroker } from '../helpers/broker.js';
import { issueCertificate } from '../../src/security/tls/cert-gen.js';
import { connect, mosquitto, startConnector, tempDir, until, writeConfig, type Connector, type Mosquitto } from './helpers.js';

const dir = tempDir();
const secrets = path.join(dir, 'secrets');
const ca = issueCertificate({ commonName: 'cloud CA', isCa: true });
const otherCa = issueCertificate({ commonName: 'some other CA', isCa: true });
const server = issueCertificate({ commonName: 'cloud.example', issuer: ca, altNames: ['localhost', '127.0.0.1'], usage: 'server' });
const bridgeCert = issueCertificate({ commonName: 'site1-bridge', issuer: ca, usage: 'client' });
const ports = { tls: 0, pw: 0, ws: 0 };
let local: RunningBroker;
let remote: Mosquitto;
let connector: Connector;
let remoteSub: MqttClient;
const atRemote: Array<{ topic: string; payload: string; user?: unknown }> = [];

function secret(name: string, files: Record<string, string>): void {
  mkdirSync(path.join(secrets, name), { recursive: true });
  for (const [k, v] of Object.entries(files)) writeFileSync(path.join(secrets, name, k), v);
}

const connectorYaml = (name: string, remote: string, routes: string) => `apiVersion: mq.edgemq.io/v1beta1
kind: MqttBridgeConnector
metadata: {name: ${name}}
spec:
  clientIdPrefix: ${name}-
${remote}
  localBrokerConnection: {endpoint: '127.0.0.1:${local.port}'}
  edgemq: {reconnectMinDelayMs: 50, reconnectMaxDelayMs: 300}
---
apiVersion: mq.edgemq.io/v1beta1
kind: MqttBridgeTopicMap
metadata: {name: ${name}-map}
spec:
  mqttBridgeConnectorRef: ${name}
  routes:
${routes}
`;

beforeAll(async () => {
  Object.assign(ports, { tls: await freePort(), pw: await freePort(), ws: await freePort() });
  writeFileSync(path.join(dir, 'ca.crt'), ca.cert);
  writeFileSync(path.join(dir, 'server.crt'), server.cert);
  writeFileSync(path.join(dir, 'server.key'), server.key);
  writeFileSync(path.join(dir, 'passwd'), '');
  expect(spawnSync('mosquitto_passwd', ['-b', path.join(dir, 'passwd'), 'site1', 's3cret']).status).toBe(0);
  const tls = [`cafile ${dir}/ca.crt`, `certfile ${dir}/server.crt`, `keyfile ${dir}/server.key`];
  remote = await mosquitto({
    head: ['per_listener_settings true'],
    extra: [
      `listener ${ports.tls} 127.0.0.1`, ...tls, 'require_certificate true', 'use_identity_as_username true', 'allow_anonymous false',
      `listener ${ports.pw} 127.0.0.1`, ...tls, `password_file ${dir}/passwd`, 'allow_anonymous false',
      `listener ${ports.ws} 127.0.0.1`, 'protocol websockets', 'allow_anonymous true',
    ],
  });
  local = await startBroker();
  secret('cloud-ca', { 'ca.crt': ca.cert });
  secret('wrong-ca', { 'ca.crt': otherCa.cert });
  secret('bridge-cert', { 'tls.crt': bridgeCert.cert, 'tls.key': bridgeCert.key });
  secret('cloud-login', { username: 'site1\n', password: 's3cret' });
  secret('bad-login', { username: 'site1', password: 'wrong' });
  const config = [
    connectorYaml(
      'x509',
      `  remoteBrokerConnection:
    endpoint: 'localhost:${ports.tls}'
    tls: {tlsEnabled: true, trustedCaCertificateConfigMap: cloud-ca}
    authentication: {x509: {secretName: bridge-cert}}`,
      "  - {name: up, direction: local-to-remote, source: 'tls/#'}",
    ),
    connectorYaml(
      'v3pw',
      `  protocol: v3
  remoteBrokerConnection:
    endpoint: '127.0.0.1:${ports.pw}'
    tls: {trustedCaCertificateConfigMap: cloud-ca, serverName: localhost}
    authentication: {usernamePassword: {secretName: cloud-login}}`,
      "  - {name: up, direction: local-to-remote, source: 'pw-up/#'}\n  - {name: down, direction: remote-to-local, source: 'pw-down/#'}",
    ),
    connectorYaml(
      'ws',
      `  remoteBrokerConnection:
    endpoint: '127.0.0.1:${ports.ws}'
    protocol: webSocket
    tls: {tlsEnabled: false}`,
      "  - {name: up, direction: local-to-remote, source: 'ws/#', target: 'via-ws/{topic}'}",
    ),
    connectorYaml(
      'untrusted',
      `  remoteBrokerConnection:
    endpoint: 'localhost:${ports.tls}'
    tls: {trustedCaCertificateConfigMap: wrong-ca}
    authentication: {x509: {secretName: bridge-cert}}`,
      "  - {name: up, direction: local-to-remote, source: 'never/#'}",
    ),
    connectorYaml(
      'badpw',
      `  remoteBrokerConnection:
    endpoint: '127.0.0.1:${ports.pw}'
    tls: {trustedCaCertificateConfigMap: cloud-ca, serverName: localhost}
    authentication: {usernamePassword: {secretName: bad-login}}`,
      "  - {name: up, direction: local-to-remote, source: 'never2/#'}",
    ),
    connectorYaml(
      'nosecret',
      `  remoteBrokerConnection:
    endpoint: 'localhost:${ports.tls}'
    tls: {trustedCaCertificateConfigMap: cloud-ca}
    authentication: {x509: {secretName: not-mounted-yet}}`,
      "  - {name: up, direction: local-to-remote, source: 'never3/#'}",
    ),
  ].join('---\n');
  connector = startConnector(writeConfig(dir, config), ['--secrets-dir', secrets]);
  remoteSub = await connect(`mqtt://127.0.0.1:${remote.port}`, { clientId: 'cloud-watch' });
  remoteSub.on('message', (topic, payload, packet) => atRemote.push({ topic, payload: payload.toString(), user: packet.properties?.userProperties }));
  await remoteSub.subscribeAsync('#', { qos: 1 });
}, 60_000);

afterAll(async () => {
  remoteSub?.end(true);
  await connector?.kill();
  await Promise.all([local?.stop(), remote?.stop()]);
  rmSync(dir, { recursive: true, force: true });
  if (remote) rmSync(remote.dir, { recursive: true, force: true });
});

/** Stats lines hold every connector's routes; route names repeat, so look them up by connector. */
function route(connectorName: string, routeName: string): Record<string, unknown> | undefined {
  const lines = connector.output().split('\n').filter((l) => l.includes('"bridge route statistics"'));
  const last = lines[lines.length - 1];
  if (last === undefined) return undefined;
  return (JSON.parse(last) as { routes: Array<Record<string, unknown>> }).routes.find((r) => r.connector === connectorName && r.route === routeName);
}
const connected = (c: string, r: string) => route(c, r)?.targetConnections === 1 && route(c, r)?.sourceConnections === 1;

describe('bridge remote connection', { timeout: 60_000 }, () => {
  // A minute, not the default 30 s: each test starts processes (tsx compiles on start), slow on a busy machine.
  it('connects over TLS with the CA of trustedCaCertificateConfigMap and an X.509 client certificate', async () => {
    await until('x509 route connected', () => connected('x509', 'up'));
    const pub = await connect(local.url, { clientId: 'tls-pub' });
    await pub.publishAsync('tls/a', 'over-tls', { qos: 1, properties: { userProperties: { k: 'v' } } });
    pub.end();
    await until('the message at the remote', () => atRemote.some((m) => m.topic === 'tls/a'));
    expect(atRemote.find((m) => m.topic === 'tls/a')).toEqual({ topic: 'tls/a', payload: 'over-tls', user: { k: 'v', 'edgemq-bridge': 'x509' } });
  });

  it('speaks MQTT 3.1.1 with username/password from a secret, both directions', async () => {
    await until('v3 routes connected', () => connected('v3pw', 'up') && connected('v3pw', 'down'));
    const localSub = await connect(local.url, { clientId: 'pw-watch' });
    const down: string[] = [];
    localSub.on('message', (t, p) => down.push(`${t}=${p.toString()}`));
    await localSub.subscribeAsync('pw-down/#', { qos: 1 });
    const pub = await connect(local.url, { clientId: 'pw-pub' });
    for (let i = 0; i < 10; i++) await pub.publishAsync('pw-up/x', `u${i}`, { qos: 1, properties: { userProperties: { lost: 'on 3.1.1' } } });
    const cloud = await connect(`mqtt://127.0.0.1:${remote.port}`, { clientId: 'pw-cloud' });
    for (let i = 0; i < 10; i++) await cloud.publishAsync('pw-down/y', `d${i}`, { qos: 1 });
    await until('10 up and 10 down', () => atRemote.filter((m) => m.topic === 'pw-up/x').length === 10 && down.length === 10);
    expect(atRemote.filter((m) => m.topic === 'pw-up/x').map((m) => m.payload)).toEqual(Array.from({ length: 10 }, (_, i) => `u${i}`));
    expect(atRemote.find((m) => m.topic === 'pw-up/x')?.user).toBeUndefined(); // MQTT 3.1.1 has no properties
    expect(down).toEqual(Array.from({ length: 10 }, (_, i) => `pw-down/y=d${i}`));
    for (const c of [localSub, pub, cloud]) c.end();
  });

  it('connects over WebSocket', async () => {
    await until('ws route connected', () => connected('ws', 'up'));
    const pub = await connect(local.url, { clientId: 'ws-pub' });
    await pub.publishAsync('ws/1', 'over-ws', { qos: 1 });
    pub.end();
    await until('the message at the remote', () => atRemote.some((m) => m.topic === 'via-ws/ws/1'));
  });

  it('reports an untrusted server certificate, a wrong password and a secret not mounted (yet) on the route, and keeps the rest running', async () => {
    await until('failures recorded', () => Number(route('untrusted', 'up')?.connectFailures) >= 2 && Number(route('badpw', 'up')?.connectFailures) >= 2);
    expect(String(route('untrusted', 'up')?.lastError)).toMatch(/certificate/i);
    expect(route('untrusted', 'up')?.targetConnections).toBe(0);
    expect(String(route('badpw', 'up')?.lastError)).toMatch(/not authorized|bad user ?name or password/i);
    await until('the missing secret reported', () => String(route('nosecret', 'up')?.lastError ?? '').includes("cannot read tls.crt of secret 'not-mounted-yet'"));
    expect(String(route('nosecret', 'up')?.lastError)).toContain('spec.remoteBrokerConnection.authentication.x509.secretName');
    expect(connector.process.exitCode).toBeNull();
    expect(connected('x509', 'up')).toBe(true);
  });
});
