/**
 * The admin API over HTTPS with mutual TLS instead of a token: a client certificate signed by the
 * admin CA authenticates a request; none, or one from another CA, gets 401.
 */
import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startBroker, waitForPort, type RunningBroker } from '../helpers/broker.js';
import { makePki, tempDir, writeSecret, type Pki } from '../security/helpers.js';

let broker: RunningBroker;
let pki: Pki;
let adminPort: number;

function get(route: string, client?: { key: string; cert: string }): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port: adminPort, path: route, ca: pki.ca.cert, servername: 'localhost', ...(client ? { key: client.key, cert: client.cert } : {}) },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  pki = makePki();
  const secrets = tempDir('edgemq-admin-tls-');
  writeSecret(secrets, 'admin-tls', { 'tls.crt': pki.server.cert, 'tls.key': pki.server.key });
  writeSecret(secrets, 'admin-ca', { 'ca.crt': pki.ca.cert });
  const port = await freePort();
  adminPort = await freePort();
  broker = await startBroker({
    port,
    config: `apiVersion: mq.edgemq.io/v1beta1
kind: Broker
metadata: {name: mtls}
spec:
  edgemq: {durability: memory, sysIntervalSeconds: 0, admin: {port: ${adminPort}, tls: {secretName: admin-tls, trustedClientCaCert: admin-ca}}}
---
apiVersion: mq.edgemq.io/v1beta1
kind: BrokerListener
metadata: {name: plain}
spec: {brokerRef: mtls, port: ${port}}
`,
    args: ['--secrets-dir', secrets, '--admin-port', String(adminPort)],
  });
  await waitForPort(adminPort);
});

afterAll(async () => {
  await broker?.stop();
});

describe('admin API with mutual TLS', () => {
  it('accepts a client certificate signed by the admin CA', async () => {
    const res = await get('/api/v1/status', pki.client('operator'));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ broker: 'mtls', ready: true });
  });

  it('refuses no certificate, or one from another CA (401); the OpenAPI document stays public', async () => {
    const none = await get('/api/v1/clients');
    expect(none).toEqual({ status: 401, body: { error: 'a client certificate signed by the admin CA is required' } });
    const rogue = await get('/api/v1/clients', pki.client('intruder', { byOtherCa: true }));
    expect(rogue.status).toBe(401);
    expect((await get('/api/openapi.json')).status).toBe(200);
  });
});
