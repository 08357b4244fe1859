/**
 * TLS listeners end to end: manual certificates from a mounted secret, mutual TLS with X.509
 * authentication and subject-mapped attributes, WebSocket over TLS, automatic development
 * certificates, certificate reload without dropping connections, and real handshakes from
 * MQTT.js and `mosquitto_pub --cafile` (wrong CA, expired and untrusted client certificates).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startBroker, type RunningBroker } from '../helpers/broker.js';
import { passwd } from '../../src/security/commands.js';
import { issueCertificate } from '../../src/security/tls/cert-gen.js';
import { BROKER, connectCode, makePki, RawClient, sleep, subscribeCode, tempDir, writeSecret } from './helpers.js';

const haveMosquitto = spawnSync('sh', ['-c', 'command -v mosquitto_pub'], { stdio: 'ignore' }).status === 0;
const dir = tempDir();
const secrets = path.join(dir, 'secrets');
const pki = makePki();
const fan = pki.client('smart-fan', { subject: { O: 'contoso' } });
const files = (name: string, v: string) => writeFileSync(path.join(dir, name), v);
let broker: RunningBroker;
let ports: { mtls: number; wss: number; auto: number };

beforeAll(async () => {
  writeSecret(secrets, 'server-cert', { 'tls.crt': pki.server.cert, 'tls.key': pki.server.key, 'ca.crt': pki.ca.cert });
  writeSecret(secrets, 'client-ca', { 'ca.pem': pki.ca.cert });
  writeSecret(secrets, 'passwords', {});
  await passwd({ file: path.join(secrets, 'passwords', 'passwords.toml'), username: 'dave', password: 'dave-pw', iterations: 1000 });
  files('ca.crt', pki.ca.cert);
  files('other-ca.crt', pki.otherCa.cert);
  files('fan.crt', fan.cert);
  files('fan.key', fan.key);
  ports = { mtls: await freePort(), wss: await freePort(), auto: await freePort() };
  const config = `${BROKER()}---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerListener
metadata: {name: secure}
spec:
  brokerRef: default
  ports:
  - port: ${ports.mtls}
    authenticationRef: devices
    authorizationRef: buildings
    tls: {mode: Manual, manual: {secretRef: server-cert}}
  - port: ${ports.wss}
    protocol: WebSockets
    authenticationRef: devices
    tls: {mode: Manual, manual: {secretRef: server-cert}}
  - port: ${ports.auto}
    tls: {mode: Automatic}
---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerAuthentication
metadata: {name: devices}
spec:
  authenticationMethods:
  - method: X509
    x509Settings:
      trustedClientCaCert: client-ca
      authorizationAttributes:
        fan: {subject: "CN = smart-fan, O = contoso", attributes: {building: "17"}}
  - method: UsernamePassword
    usernamePasswordSettings: {secretName: passwords}
---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerAuthorization
metadata: {name: buildings}
spec:
  authorizationPolicies:
    rules:
    - principals: {attributes: [{building: "17"}]}
      brokerResources:
      - {method: Connect}
      - {method: Subscribe, topics: ["buildings/{principal.attributes.building}/#"]}
      - {method: Publish, topics: ["buildings/{principal.attributes.building}/{principal.username}"]}
    - principals: {usernames: [dave]}
      brokerResources: [{method: Connect}, {method: Publish, topics: ["#"]}, {method: Subscribe, topics: ["#"]}]
`;
  const file = path.join(dir, 'edgemq.yaml');
  writeFileSync(file, config);
  broker = await startBroker({ port: ports.mtls, args: ['--config', file] });
});

afterAll(async () => {
  await broker?.stop();
});

const tlsTo = (extra: tls.ConnectionOptions = {}) => ({ tls: { ca: pki.ca.cert, ...extra } });

describe('manual TLS with client certificates (X509 method)', () => {
  it('admits a certificate client from MQTT.js with subject-mapped attributes', async () => {
    const c = await mqtt.connectAsync(`mqtts://127.0.0.1:${ports.mtls}`, { ca: pki.ca.cert, cert: fan.cert, key: fan.key, protocolVersion: 5, reconnectPeriod: 0, clientId: 'fan-1' });
    const ok = await c.subscribeAsync('buildings/17/#', { qos: 1 });
    expect(ok[0]!.qos).toBe(1);
    await expect(c.subscribeAsync('buildings/18/#', { qos: 1 })).rejects.toThrow(/Not authorized/); // SUBACK 0x87
    const got = new Promise<string>((resolve) => c.on('message', (t) => resolve(t)));
    await c.publishAsync('buildings/17/smart-fan', 'on', { qos: 1 }); // username = leaf CN
    expect(await got).toBe('buildings/17/smart-fan');
    await c.endAsync();
  });

  it('closes connections presenting an untrusted or expired client certificate', async () => {
    for (const bad of [pki.client('rogue', { byOtherCa: true }), pki.client('old', { expired: true })]) {
      const c = await RawClient.open(ports.mtls, 5, tlsTo({ cert: bad.cert, key: bad.key })).catch(() => undefined);
      if (!c) continue; // refused during the handshake (TLS 1.2): also fine
      c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'x' });
      expect(await c.next()).toBeUndefined();
    }
  });

  it('lets clients without a certificate use the next method (password), v5 and v3.1.1 codes', async () => {
    expect((await connectCode(ports.mtls, 5, { clientId: 'd1', username: 'dave', password: Buffer.from('dave-pw') }, tlsTo())).code).toBe(0);
    expect((await connectCode(ports.mtls, 4, { clientId: 'd2', username: 'dave', password: Buffer.from('nope') }, tlsTo())).code).toBe(4);
    expect((await connectCode(ports.mtls, 5, { clientId: 'd3' }, tlsTo())).code).toBe(0x87);
    expect((await connectCode(ports.mtls, 4, { clientId: 'd4' }, tlsTo())).code).toBe(5);
  });

  it('is refused by a client that trusts another CA', async () => {
    await expect(RawClient.open(ports.mtls, 5, { tls: { ca: pki.otherCa.cert } })).rejects.toThrow(/self.signed|unable to verify|certificate/i);
    await expect(mqtt.connectAsync(`mqtts://127.0.0.1:${ports.mtls}`, { ca: pki.otherCa.cert, reconnectPeriod: 0, connectTimeout: 3000 })).rejects.toThrow();
  });

  it('ends the connection when the client certificate expires', async () => {
    const shortLived = issueCertificate({ commonName: 'smart-fan', subject: { O: 'contoso' }, issuer: pki.ca, usage: 'client', notAfter: new Date(Date.now() + 2500) });
    const { code, client } = await connectCode(ports.mtls, 5, { clientId: 'short' }, tlsTo({ cert: shortLived.cert, key: shortLived.key }));
    expect(code).toBe(0);
    expect(await subscribeCode(client, 'buildings/17/x')).toBe(1);
    const t0 = Date.now();
    await client.whenClosed;
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it.skipIf(!haveMosquitto)('works with mosquitto_pub --cafile (password and certificate), and fails with the wrong CA', () => {
    const base = ['-h', '127.0.0.1', '-p', String(ports.mtls), '-t', 'buildings/17/smart-fan', '-m', 'hi', '-q', '1'];
    const run = (args: string[]) => spawnSync('mosquitto_pub', [...base, ...args], { encoding: 'utf8', timeout: 10_000 });
    expect(run(['--cafile', path.join(dir, 'ca.crt'), '-u', 'dave', '-P', 'dave-pw']).status).toBe(0);
    expect(run(['--cafile', path.join(dir, 'ca.crt'), '--cert', path.join(dir, 'fan.crt'), '--key', path.join(dir, 'fan.key'), '-V', 'mqttv5']).status).toBe(0);
    expect(run(['--cafile', path.join(dir, 'other-ca.crt'), '-u', 'dave', '-P', 'dave-pw']).status).not.toBe(0);
    const refused = run(['--cafile', path.join(dir, 'ca.crt'), '-u', 'dave', '-P', 'wrong']);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/not authori[sz]ed|bad user name or password/i);
  });
});

describe('WebSocket over TLS', () => {
  it('serves MQTT.js over wss:// with a client certificate', async () => {
    const c = await mqtt.connectAsync(`wss://127.0.0.1:${ports.wss}/mqtt`, { ca: pki.ca.cert, cert: fan.cert, key: fan.key, reconnectPeriod: 0, protocolVersion: 4 });
    expect(c.connected).toBe(true);
    await c.endAsync();
    await expect(mqtt.connectAsync(`wss://127.0.0.1:${ports.wss}/mqtt`, { ca: pki.ca.cert, reconnectPeriod: 0, connectTimeout: 3000, protocolVersion: 4 })).rejects.toThrow(/Not authorized|Connection refused/i);
  });
});

describe('automatic TLS', () => {
  it('generates a development CA in the data directory and logs its fingerprint', async () => {
    const ca = readFileSync(path.join(broker.dataDir, 'tls', 'ca.crt'), 'utf8');
    const { X509Certificate } = await import('node:crypto');
    expect(broker.output()).toContain(new X509Certificate(ca).fingerprint256);
    const { code, client } = await connectCode(ports.auto, 5, { clientId: 'auto' }, { tls: { ca } });
    expect(code).toBe(0);
    client.end();
    if (haveMosquitto) {
      const r = spawnSync('mosquitto_pub', ['-h', 'localhost', '-p', String(ports.auto), '--cafile', path.join(broker.dataDir, 'tls', 'ca.crt'), '-t', 't', '-m', 'm'], { encoding: 'utf8', timeout: 10_000 });
      expect(r.status, r.stderr).toBe(0);
    }
  });
});

describe('certificate reload', () => {
  it('serves a replaced certificate to new connections without dropping existing ones', async () => {
    const fingerprint = (c: RawClient) => (c.socket as tls.TLSSocket).getPeerX509Certificate()!.fingerprint256;
    const { client: old } = await connectCode(ports.mtls, 5, { clientId: 'd-old', username: 'dave', password: Buffer.from('dave-pw') }, tlsTo());
    const before = fingerprint(old);
    const renewed = issueCertificate({ commonName: 'localhost', issuer: pki.ca, altNames: ['localhost', '127.0.0.1'] });
    writeSecret(secrets, 'server-cert', { 'tls.crt': renewed.cert, 'tls.key': renewed.key });
    let after = before;
    for (let i = 0; i < 40 && after === before; i++) {
      await sleep(100);
      const probe = await RawClient.open(ports.mtls, 5, tlsTo());
      after = fingerprint(probe);
      probe.end();
    }
    expect(after).not.toBe(before);
    old.send({ cmd: 'pingreq' });
    expect((await old.next())?.cmd).toBe('pingresp');
    old.end();
  });
});
