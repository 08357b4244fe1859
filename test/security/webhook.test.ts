/**
 * The custom authentication webhook (Azure IoT MQ protocol 0.5.0): the reference server
 * (`edgemq authn-webhook`, express) checked with supertest, and the broker's webhook client end to
 * end against a scripted HTTPS server: attributes, 403 reason codes, expiry and re-authentication,
 * a webhook that is down, slow (timeout -> next method) or answers garbage, 422 version negotiation,
 * and the reference server over mutual TLS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { edgemqCommand, freePort, repoRoot, startBroker, type RunningBroker } from '../helpers/broker.js';
import { parsePasswordFile } from '../../src/security/authn/password-file.js';
import { hashPassword } from '../../src/security/authn/phc.js';
import { passwd } from '../../src/security/commands.js';
import { createAuthnWebhookApp } from '../../src/security/webhook-server.js';
import { BROKER, connectCode, makePki, sleep, subscribeCode, tempDir, writeSecret } from './helpers.js';

const dir = tempDir();
const secrets = path.join(dir, 'secrets');
const pki = makePki();
const brokerClient = pki.client('edgemq-broker');

describe('reference webhook server (supertest)', () => {
  let app: ReturnType<typeof createAuthnWebhookApp>;
  const decisions: unknown[] = [];
  beforeAll(async () => {
    const text = `[alice]\npassword = "${await hashPassword('pw', 1000)}"\nexpirySeconds = 60\n[alice.attributes]\ngroup = "g1"\n`;
    const users = parsePasswordFile(text, 'users');
    app = createAuthnWebhookApp({ users: () => users, onDecision: (d) => decisions.push(d) });
  });
  const post = (body: unknown, version = '0.5.0') => request(app).post(`/?api-version=${version}`).set('content-type', 'application/json').send(JSON.stringify(body));
  const b64 = (s: string) => Buffer.from(s).toString('base64');

  it('answers 200 with attributes and an RFC 3339 expiry for the right password', async () => {
    const res = await post({ type: 'connect', username: 'alice', password: b64('pw') }).expect(200);
    expect(res.body.attributes).toEqual({ group: 'g1' });
    expect(Date.parse(res.body.expiry) - Date.now()).toBeGreaterThan(50_000);
    expect(decisions.at(-1)).toMatchObject({ type: 'connect', username: 'alice', status: 200 });
  });

  it('answers 403 with the CONNACK reason code', async () => {
    expect((await post({ type: 'connect', username: 'alice', password: b64('no') }).expect(403)).body).toMatchObject({ reason: 134 });
    expect((await post({ type: 'connect', username: 'bob', password: b64('pw') }).expect(403)).body).toMatchObject({ reason: 134 });
    expect((await post({ type: 'connect' }).expect(403)).body).toMatchObject({ reason: 135 });
    expect((await post({ type: 'auth', enhancedAuthentication: { method: 'X', data: b64('d') } }).expect(403)).body).toMatchObject({ reason: 140 });
  });

  it('negotiates the version and rejects malformed requests like the Azure sample', async () => {
    expect((await post({ type: 'connect' }, '0.4.0').expect(422)).body).toEqual({ supportedVersions: ['0.5.0'] });
    await request(app).post('/').set('content-type', 'application/json').send('{}').expect(400);
    await request(app).post('/?api-version=0.5.0').set('content-type', 'text/plain').send('hi').expect(400);
    await request(app).post('/?api-version=0.5.0').set('content-type', 'application/json').send('{not json').expect(400);
    await post({ type: 'auth' }).expect(400);
    await post({ type: 'other' }).expect(400);
    await request(app).get('/?api-version=0.5.0').expect(405);
    await request(app).post('/elsewhere?api-version=0.5.0').expect(404);
  });
});

describe('broker webhook client', () => {
  let broker: RunningBroker;
  let hook: https.Server;
  let ref: ChildProcess;
  const seen: Array<{ url: string; headers: Record<string, unknown>; body: Record<string, unknown> }> = [];
  let ports: { main: number; down: number; ref: number; v422: number };

  beforeAll(async () => {
    // A scripted webhook: behaviour chosen by the username (or the enhanced method).
    hook = https.createServer({ cert: pki.server.cert, key: pki.server.key }, (req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        const body = JSON.parse(raw) as Record<string, unknown> & { username?: string; enhancedAuthentication?: { method: string } };
        seen.push({ url: req.url ?? '', headers: req.headers, body });
        const json = (status: number, o: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(o));
        if (req.url?.startsWith('/v422')) {
          return req.url.includes('api-version=0.6.0') ? json(200, { attributes: {} }) : json(422, { supportedVersions: ['0.6.0'] });
        }
        const u = body.username ?? body.enhancedAuthentication?.method ?? '';
        const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();
        if (u.startsWith('ok')) return json(200, { attributes: { group: 'g1' } });
        if (u.startsWith('deny')) return json(403, { reason: 0x8a, message: 'banned' });
        if (u.startsWith('slow')) return void setTimeout(() => json(200, {}), 1500);
        if (u.startsWith('garbage')) return res.writeHead(200, { 'content-type': 'application/json' }).end('<html>');
        if (u.startsWith('expire')) return json(200, { expiry: inSeconds(2), attributes: { group: 'g1' } });
        if (u === 'TOKEN') return json(200, { expiry: inSeconds(body.type === 'auth' ? 600 : 2), attributes: { group: 'g1' } });
        return json(500, {});
      });
    });
    const hookPort = await new Promise<number>((r) => hook.listen(0, '127.0.0.1', () => r((hook.address() as AddressInfo).port)));

    // The reference server as a separate process, over mutual TLS.
    writeFileSync(path.join(dir, 'server.crt'), pki.server.cert);
    writeFileSync(path.join(dir, 'server.key'), pki.server.key);
    writeFileSync(path.join(dir, 'ca.crt'), pki.ca.cert);
    const users = path.join(dir, 'users.toml');
    await passwd({ file: users, username: 'carol', password: 'carol-pw', attributes: { group: 'g2' }, iterations: 1000 });
    const c = edgemqCommand(['authn-webhook', '--users', users, '--cert', path.join(dir, 'server.crt'), '--key', path.join(dir, 'server.key'), '--client-ca', path.join(dir, 'ca.crt'), '--port', '0']);
    ref = spawn(c.cmd, c.args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
    const refPort = await new Promise<number>((resolve, reject) => {
      let out = '';
      ref.stdout!.on('data', (d) => {
        out += d;
        const m = /"msg":"listening".*?"port":(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      ref.once('exit', () => reject(new Error(`authn-webhook exited: ${out}`)));
    });

    writeSecret(secrets, 'webhook-ca', { 'ca.crt': pki.ca.cert });
    writeSecret(secrets, 'webhook-client', { 'tls.crt': brokerClient.cert, 'tls.key': brokerClient.key });
    writeSecret(secrets, 'passwords', {});
    await passwd({ file: path.join(secrets, 'passwords', 'passwords.toml'), username: 'slowpoke', password: 'sp', iterations: 1000 });
    ports = { main: await freePort(), down: await freePort(), ref: await freePort(), v422: await freePort() };
    const authn = (name: string, endpoint: string, extra = '', then = '') => `---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerAuthentication
metadata: {name: ${name}}
spec:
  authenticationMethods:
  - method: Custom
    customSettings:
      endpoint: ${endpoint}
      caCertConfigMap: webhook-ca
      headers: {x-edgemq-test: "yes"}
      edgemq: {timeoutSeconds: 0.4}${extra}${then}
`;
    const config = `${BROKER()}---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerListener
metadata: {name: hooks}
spec:
  brokerRef: default
  ports:
  - {port: ${ports.main}, authenticationRef: hook, authorizationRef: groups}
  - {port: ${ports.down}, authenticationRef: hook-down}
  - {port: ${ports.ref}, authenticationRef: hook-ref, authorizationRef: groups}
  - {port: ${ports.v422}, authenticationRef: hook-422}
${authn('hook', `https://localhost:${hookPort}/`, '', '\n  - method: UsernamePassword\n    usernamePasswordSettings: {secretName: passwords}')}${authn('hook-down', 'https://127.0.0.1:1/')}${authn('hook-ref', `https://localhost:${refPort}`, '\n      auth: {x509: {secretRef: webhook-client}}')}${authn('hook-422', `https://localhost:${hookPort}/v422`)}---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerAuthorization
metadata: {name: groups}
spec:
  authorizationPolicies:
    rules:
    - principals: {attributes: [{group: g1}, {group: g2}]}
      brokerResources: [{method: Connect}, {method: Subscribe, topics: ["groups/{principal.attributes.group}/#"]}]
    - principals: {usernames: [slowpoke]}
      brokerResources: [{method: Connect}]
`;
    const file = path.join(dir, 'edgemq.yaml');
    writeFileSync(file, config);
    broker = await startBroker({ port: ports.main, args: ['--config', file] });
  });

  afterAll(async () => {
    await broker?.stop();
    hook?.close();
    ref?.kill('SIGTERM');
  });

  const login = (username: string, password = 'pw', clientId = username) => ({ clientId, username, password: Buffer.from(password) });

  it('posts Azure 0.5.0 connect bodies and applies the attributes it answers', async () => {
    const { code, client } = await connectCode(ports.main, 5, login('ok-1', 'secret'));
    expect(code).toBe(0);
    expect(await subscribeCode(client, 'groups/g1/#')).toBe(1);
    expect(await subscribeCode(client, 'groups/g2/#', 2)).toBe(0x87);
    client.end();
    const req = seen.find((s) => s.body.username === 'ok-1')!;
    expect(req.url).toBe('/?api-version=0.5.0');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['x-edgemq-test']).toBe('yes');
    expect(req.body).toEqual({ type: 'connect', username: 'ok-1', password: Buffer.from('secret').toString('base64') });
  });

  it('passes the 403 reason code on: 0x8A (5.0) / 5 (3.1.1)', async () => {
    expect((await connectCode(ports.main, 5, login('deny-1'))).code).toBe(0x8a);
    expect((await connectCode(ports.main, 4, login('deny-2'))).code).toBe(5);
  });

  it('refuses with Server unavailable when the webhook answers garbage (fail closed)', async () => {
    expect((await connectCode(ports.main, 5, login('garbage-1'))).code).toBe(0x88);
    expect((await connectCode(ports.main, 4, login('garbage-2'))).code).toBe(3);
  });

  it('treats a slow webhook as not relevant and tries the next method', async () => {
    const t0 = Date.now();
    const { code, client } = await connectCode(ports.main, 5, { clientId: 'sp', username: 'slowpoke', password: Buffer.from('sp') });
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(1400);
    client.end();
    expect((await connectCode(ports.main, 4, login('slow-unknown'))).code).toBe(4); // the password method decides
  });

  it('answers 0x88 / 3 at once when the webhook is down and nothing else is relevant', async () => {
    expect((await connectCode(ports.down, 5, login('anyone'))).code).toBe(0x88);
    expect((await connectCode(ports.down, 4, login('anyone'))).code).toBe(3);
  });

  it('closes the connection at the expiry the webhook gave', async () => {
    const { code, client } = await connectCode(ports.main, 4, login('expire-1'));
    expect(code).toBe(0);
    const t0 = Date.now();
    await client.whenClosed;
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('re-authenticates MQTT 5 enhanced authentication through type "auth" requests', async () => {
    const { code, client } = await connectCode(ports.main, 5, { clientId: 'tok', properties: { authenticationMethod: 'TOKEN', authenticationData: Buffer.from('t1') } });
    expect(code).toBe(0);
    client.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'TOKEN', authenticationData: Buffer.from('t2') } });
    expect(await client.next()).toMatchObject({ cmd: 'auth', reasonCode: 0 });
    expect(seen.at(-1)!.body).toEqual({ type: 'auth', enhancedAuthentication: { method: 'TOKEN', data: Buffer.from('t2').toString('base64') } });
    await sleep(2400);
    client.send({ cmd: 'pingreq' });
    expect((await client.next())?.cmd).toBe('pingresp');
    client.end();
  });

  it('retries with a version the webhook lists in a 422', async () => {
    const { code, client } = await connectCode(ports.v422, 5, login('anyone'));
    expect(code).toBe(0);
    client.end();
  });

  it('works with the reference server over mutual TLS', async () => {
    const { code, client } = await connectCode(ports.ref, 4, login('carol', 'carol-pw'));
    expect(code).toBe(0);
    expect(await subscribeCode(client, 'groups/g2/x')).toBe(1);
    client.end();
    expect((await connectCode(ports.ref, 5, login('carol', 'wrong'))).code).toBe(0x86);
  });
});
