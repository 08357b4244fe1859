/**
 * Kubernetes service account tokens: MQTT 5 enhanced authentication `K8S-SAT` and the 3.1.1
 * `$sat` username, verified against a JWKS file, a JWKS URL (loopback HTTP server) and a fake
 * TokenReview API; wrong audience, expiry and bad signatures; re-authentication with AUTH 0x19; the
 * connection ending at token expiry.
 */
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startBroker, type RunningBroker } from '../helpers/broker.js';
import { BROKER, connectCode, sleep, subscribeCode, tempDir } from './helpers.js';

const dir = tempDir();
let broker: RunningBroker;
let ports: { file: number; uri: number; review: number; reviewDown: number };
let key: CryptoKey;
let rogue: CryptoKey;
let jwksServer: http.Server;
let reviewServer: http.Server;
const reviews: unknown[] = [];

async function token(o: { aud?: string; expIn?: number; signer?: CryptoKey; ns?: string; kid?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ 'kubernetes.io': { namespace: o.ns ?? 'plant', serviceaccount: { name: 'dapr', uid: 'u1' } } })
    .setProtectedHeader({ alg: 'RS256', kid: o.kid ?? 'k1' })
    .setSubject(`system:serviceaccount:${o.ns ?? 'plant'}:dapr`)
    .setIssuer('https://kubernetes.default.svc')
    .setAudience(o.aud ?? 'edgemq')
    .setIssuedAt(now)
    .setExpirationTime(now + (o.expIn ?? 3600))
    .sign(o.signer ?? key);
}

const listen = (s: http.Server) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));

beforeAll(async () => {
  ({ privateKey: key } = await generateKeyPair('RS256', { extractable: true }));
  const pair = await generateKeyPair('RS256', { extractable: true });
  rogue = pair.privateKey;
  const jwk = { ...(await exportJWK((await generateKeyPairFromPrivate(key)))), kid: 'k1', alg: 'RS256', use: 'sig' };
  writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
  jwksServer = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
  reviewServer = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/api/v1/namespaces/plant/serviceaccounts/dapr') {
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({ metadata: { name: 'dapr', annotations: { 'aio-broker-auth/group': 'dapr-workload', 'other/x': 'y' } } }),
      );
    }
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const r = JSON.parse(body) as { spec: { token: string; audiences: string[] } };
      reviews.push({ auth: req.headers.authorization, ...r });
      const ok = r.spec.token.split('.').length === 3 && !r.spec.token.endsWith('x');
      res.writeHead(201, { 'content-type': 'application/json' }).end(
        JSON.stringify({ kind: 'TokenReview', status: ok ? { authenticated: true, user: { username: 'system:serviceaccount:plant:dapr' }, audiences: r.spec.audiences } : { authenticated: false, error: 'invalid token' } }),
      );
    });
  });
  const jwksPort = await listen(jwksServer);
  const reviewPort = await listen(reviewServer);
  writeFileSync(path.join(dir, 'reviewer-token'), 'broker-sa-token\n');
  ports = { file: await freePort(), uri: await freePort(), review: await freePort(), reviewDown: await freePort() };
  const sat = (name: string, ext: string) => `---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerAuthentication
metadata: {name: ${name}}
spec:
  authenticationMethods:
  - method: ServiceAccountToken
    serviceAccountTokenSettings:
      audiences: [edgemq, other]
      edgemq: {${ext}}
`;
  const config = `${BROKER()}---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerListener
metadata: {name: cluster}
spec:
  brokerRef: default
  ports:
  - {port: ${ports.file}, authenticationRef: sat-file, authorizationRef: by-namespace}
  - {port: ${ports.uri}, authenticationRef: sat-uri}
  - {port: ${ports.review}, authenticationRef: sat-review, authorizationRef: by-group}
  - {port: ${ports.reviewDown}, authenticationRef: sat-review-down}
${sat('sat-file', 'jwksFile: jwks.json, issuer: "https://kubernetes.default.svc"')}${sat('sat-uri', `jwksUri: "http://127.0.0.1:${jwksPort}/openid/v1/jwks"`)}${sat('sat-review', `tokenReviewUrl: "http://127.0.0.1:${reviewPort}/apis/authentication.k8s.io/v1/tokenreviews", tokenFile: reviewer-token`)}${sat('sat-review-down', `tokenReviewUrl: "http://127.0.0.1:1/x"`)}---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerAuthorization
metadata: {name: by-namespace}
spec:
  authorizationPolicies:
    rules:
    - principals: {attributes: [{namespace: plant}]}
      brokerResources: [{method: Connect}, {method: Subscribe, topics: ["ns/{principal.attributes.namespace}/#"]}]
---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerAuthorization
metadata: {name: by-group}
spec:
  authorizationPolicies:
    rules:
    - principals: {attributes: [{group: dapr-workload}]}
      brokerResources: [{method: Connect}, {method: Subscribe, topics: ["{principal.attributes.group}/#"]}]
`;
  const file = path.join(dir, 'edgemq.yaml');
  writeFileSync(file, config);
  broker = await startBroker({ port: ports.file, args: ['--config', file] });
});

/** The public half of a private CryptoKey (jose exports the public JWK from a private key's components). */
async function generateKeyPairFromPrivate(k: CryptoKey): Promise<CryptoKey> {
  const jwk = await exportJWK(k);
  const { importJWK } = await import('jose');
  return (await importJWK({ kty: jwk.kty, n: jwk.n, e: jwk.e }, 'RS256')) as CryptoKey;
}

afterAll(async () => {
  await broker?.stop();
  jwksServer?.close();
  reviewServer?.close();
});

const v5 = async (tok: string, clientId = 'sat5') =>
  connectCode(ports.file, 5, { clientId, properties: { authenticationMethod: 'K8S-SAT', authenticationData: Buffer.from(tok) } });
const v3 = async (tok: string, port = ports.file) => connectCode(port, 4, { clientId: 'sat3', username: '$sat', password: Buffer.from(tok) });

describe('service account tokens against a JWKS file', () => {
  it('admits a valid token as MQTT 5 K8S-SAT and as 3.1.1 $sat, with namespace attributes', async () => {
    const a = await v5(await token());
    expect(a.code).toBe(0);
    expect(a.connack?.properties).toMatchObject({ authenticationMethod: 'K8S-SAT' });
    expect(await subscribeCode(a.client, 'ns/plant/#')).toBe(1);
    expect(await subscribeCode(a.client, 'ns/other/#', 2)).toBe(0x87);
    a.client.end();
    const b = await v3(await token({ aud: 'other' }));
    expect(b.code).toBe(0);
    b.client.end();
  });

  it.each([
    ['wrong audience', { aud: 'kubernetes' }],
    ['expired', { expIn: -60 }],
    ['bad signature', { signer: undefined as unknown as CryptoKey, rogue: true }],
    ['unknown key id', { kid: 'k9' }],
  ])('refuses a token with %s: 0x87 (5.0) / 5 (3.1.1)', async (_name, o) => {
    const tok = await token({ ...o, ...('rogue' in o ? { signer: rogue } : {}) });
    const a = await v5(tok);
    expect(a.code).toBe(0x87);
    const b = await v3(tok);
    expect(b.code).toBe(5);
  });

  it('refuses garbage and an enhanced method nobody serves (0x8C)', async () => {
    expect((await v5('not-a-jwt')).code).toBe(0x87);
    const { code } = await connectCode(ports.file, 5, { clientId: 'x', properties: { authenticationMethod: 'SCRAM-SHA-1', authenticationData: Buffer.from('x') } });
    expect(code).toBe(0x8c);
  });

  it('closes a 3.1.1 connection when its token expires', async () => {
    const { code, client } = await v3(await token({ expIn: 2 }));
    expect(code).toBe(0);
    const t0 = Date.now();
    await client.whenClosed;
    expect(Date.now() - t0).toBeLessThan(3500);
  });

  it('keeps an MQTT 5 connection that re-authenticates with AUTH 0x19 before expiry, ends one that fails', async () => {
    const { code, client } = await v5(await token({ expIn: 2 }), 'reauth');
    expect(code).toBe(0);
    client.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'K8S-SAT', authenticationData: Buffer.from(await token({ expIn: 600 })) } });
    const ack = await client.next();
    expect(ack).toMatchObject({ cmd: 'auth', reasonCode: 0 });
    await sleep(2600);
    client.send({ cmd: 'pingreq' });
    expect((await client.next())?.cmd).toBe('pingresp');
    client.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'K8S-SAT', authenticationData: Buffer.from(await token({ aud: 'nope' })) } });
    expect(await client.next()).toMatchObject({ cmd: 'disconnect', reasonCode: 0x87 });
  });
});

describe('other token sources', () => {
  it('verifies against a JWKS URL', async () => {
    const ok = await connectCode(ports.uri, 5, { clientId: 'u', properties: { authenticationMethod: 'K8S-SAT', authenticationData: Buffer.from(await token()) } });
    expect(ok.code).toBe(0);
    ok.client.end();
    expect((await v3(await token({ signer: rogue }), ports.uri)).code).toBe(5);
  });

  it('asks TokenReview with the broker token and the audiences, with aio-broker-auth/ annotations as attributes', async () => {
    const tok = await token();
    const ok = await v3(tok, ports.review);
    expect(ok.code).toBe(0);
    expect(await subscribeCode(ok.client, 'dapr-workload/#')).toBe(1);
    expect(await subscribeCode(ok.client, 'other/#', 2)).toBe(0x80);
    ok.client.end();
    expect(reviews.at(-1)).toMatchObject({ auth: 'Bearer broker-sa-token', kind: 'TokenReview', spec: { token: tok, audiences: ['edgemq', 'other'] } });
    expect((await v3(`${tok}x`, ports.review)).code).toBe(5);
  });

  it('answers Server unavailable (0x88 / 3) when TokenReview cannot be reached', async () => {
    expect((await v3(await token(), ports.reviewDown)).code).toBe(3);
    const { code } = await connectCode(ports.reviewDown, 5, { clientId: 'd', properties: { authenticationMethod: 'K8S-SAT', authenticationData: Buffer.from(await token()) } });
    expect(code).toBe(0x88);
  });
});
