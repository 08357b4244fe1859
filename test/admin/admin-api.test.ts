/**
 * The admin API of a running `edgemq serve`, route by route with supertest: bearer-token refusals,
 * client/session/retained actions checked from the MQTT side, resources validated and applied
 * through the reload path, bad resources refused with the loader's messages, and `edgemq status`.
 * The non-loopback rules are checked in process, so no test binds a public address.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminApp } from '../../src/admin/server.js';
import type { AdminContext } from '../../src/admin/context.js';
import { adminResources, adminSessions, startOperations } from '../../src/cli/operations.js';
import { runStatus } from '../../src/cli/status.js';
import { parseConfigText } from '../../src/config/load.js';
import { LocalBrokerCore } from '../../src/core/local-core.js';
import { FrontEnd } from '../../src/frontend/frontend.js';
import { ConfigError } from '../../src/mqtt/errors.js';
import { Readiness } from '../../src/observability/health.js';
import { Partition } from '../../src/partition/partition.js';
import { passwd } from '../../src/security/commands.js';
import { Security } from '../../src/security/security.js';
import { edgemqCommand, freePort, repoRoot, startBroker, waitForPort, type RunningBroker } from '../helpers/broker.js';
import { tempDir, writeSecret } from '../security/helpers.js';

const TOKEN = 'test-admin-token-0123456789';
const secrets = tempDir('edgemq-admin-');
let broker: RunningBroker;
let port: number;
let api: string;
const clients: MqttClient[] = [];

const brokerYaml = (adminPort: number) => `apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: Broker
metadata: {name: admin-test}
spec:
  edgemq: {durability: memory, sysIntervalSeconds: 0, admin: {port: ${adminPort}, tokenSecretRef: admin-token}}
`;
const listenerYaml = (p: number, extra = '') => `apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerListener
metadata: {name: plain}
spec:
  brokerRef: admin-test
  ports:
  - {port: ${p}${extra}}
`;
const authnYaml = `apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerAuthentication
metadata: {name: pw}
spec:
  authenticationMethods:
  - method: UsernamePassword
    usernamePasswordSettings: {secretName: passwords}
`;

const auth = { authorization: `Bearer ${TOKEN}` };

async function connect(clientId: string, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId, protocolVersion: 5, reconnectPeriod: 0, ...opts });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  writeSecret(secrets, 'admin-token', { token: `${TOKEN}\n` });
  writeSecret(secrets, 'passwords', {});
  await passwd({ file: path.join(secrets, 'passwords', 'passwords.toml'), username: 'alice', password: 'alice-pw', attributes: {}, iterations: 1000 });
  port = await freePort();
  const adminPort = await freePort();
  broker = await startBroker({
    port,
    config: `${brokerYaml(adminPort)}---\n${listenerYaml(port)}`,
    args: ['--secrets-dir', secrets, '--admin-port', String(adminPort)],
  });
  api = `http://127.0.0.1:${adminPort}`;
  await waitForPort(adminPort); // the admin API opens just after the MQTT listeners
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync().catch(() => {})));
  await broker?.stop();
});

/** Every route of the OpenAPI document, each exercised below. */
const ROUTES: Array<[string, string]> = [
  ['get', '/api/v1/status'],
  ['get', '/api/v1/metrics'],
  ['get', '/api/v1/clients'],
  ['get', '/api/v1/clients/{clientId}'],
  ['delete', '/api/v1/clients/{clientId}'],
  ['get', '/api/v1/sessions'],
  ['get', '/api/v1/sessions/{clientId}'],
  ['delete', '/api/v1/sessions/{clientId}'],
  ['get', '/api/v1/retained'],
  ['delete', '/api/v1/retained'],
  ['get', '/api/v1/listeners'],
  ['get', '/api/v1/resources'],
  ['post', '/api/v1/resources'],
  ['post', '/api/v1/resources/validate'],
  ['post', '/api/v1/selfcheck'],
];

describe('admin API: document and authentication', () => {
  it('serves the OpenAPI document without a token, listing exactly the routes', async () => {
    const res = await request(api).get('/api/openapi.json').expect(200).expect('content-type', /json/);
    expect(res.body.openapi).toBe('3.1.0');
    const listed = Object.entries(res.body.paths as Record<string, object>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`));
    expect(listed.sort()).toEqual(ROUTES.map(([m, p]) => `${m} ${p}`).sort());
    expect(res.body.components.securitySchemes.bearer.scheme).toBe('bearer');
  });

  it('refuses every route without a token, with a wrong token or another scheme (401)', async () => {
    for (const [method, route] of ROUTES) {
      const url = route.replace('{clientId}', 'x');
      const noToken = await request(api)[method as 'get'](url);
      expect(noToken.status, `${method} ${route}`).toBe(401);
      expect(noToken.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(noToken.body.error).toMatch(/missing bearer token/);
    }
    const wrong = await request(api).get('/api/v1/status').set('authorization', 'Bearer not-the-token').expect(401);
    expect(wrong.body.error).toBe('invalid bearer token');
    await request(api).get('/api/v1/status').set('authorization', `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`).expect(401);
  });

  it('answers an unknown route with 404 JSON', async () => {
    const res = await request(api).get('/api/v1/nothing').set(auth).expect(404);
    expect(res.body.error).toMatch(/no route GET/);
  });
});

describe('admin API: reading and acting', () => {
  it('GET /status: ready, counters, listeners, resources', async () => {
    const res = await request(api).get('/api/v1/status').set(auth).expect(200);
    expect(res.body).toMatchObject({ broker: 'admin-test', ready: true, pending: [] });
    expect(res.body.listeners).toEqual([{ name: 'plain', port, protocol: 'mqtt', tls: false, open: true, host: '127.0.0.1' }]);
    expect(res.body.resources).toEqual([
      { kind: 'Broker', name: 'admin-test', status: 'Running', description: expect.any(String) },
      { kind: 'BrokerListener', name: 'plain', status: 'Running', description: `listening on ${port}` },
    ]);
  });

  it('GET /metrics: the Prometheus metrics as JSON', async () => {
    const res = await request(api).get('/api/v1/metrics').set(auth).expect(200);
    const names = (res.body as Array<{ name: string }>).map((m) => m.name);
    expect(names).toEqual(expect.arrayContaining(['aio_broker_publishes_received', 'aio_broker_connected_sessions', 'edgemq_messages_dropped']));
  });

  it('lists a client, shows it, disconnects it with 0x98 Administrative action, then 404', async () => {
    const c = await connect('adm-c1', { username: 'ignored' });
    const list = await request(api).get('/api/v1/clients').set(auth).expect(200);
    expect(list.body).toEqual(expect.arrayContaining([expect.objectContaining({ clientId: 'adm-c1', connected: true, listener: 'plain', protocolVersion: 5, username: 'ignored' })]));
    await request(api).get('/api/v1/clients/adm-c1').set(auth).expect(200);
    await request(api).get('/api/v1/clients/nobody').set(auth).expect(404);
    const disconnected = new Promise<number | undefined>((resolve) => c.once('disconnect', (p) => resolve(p.reasonCode)));
    await request(api).delete('/api/v1/clients/adm-c1').set(auth).expect(204);
    expect(await disconnected).toBe(0x98);
    await new Promise<void>((resolve) => (c.connected ? c.once('close', () => resolve()) : resolve()));
    const gone = await request(api).delete('/api/v1/clients/adm-c1').set(auth).expect(404);
    expect(gone.body.error).toMatch(/not connected/);
  });

  it('shows a session with its subscriptions and queue, deletes it, then 404', async () => {
    const c = await connect('adm-p1', { clean: false, properties: { sessionExpiryInterval: 600 } });
    await c.subscribeAsync('x/#', { qos: 1 });
    await c.endAsync();
    const pub = await connect('adm-pub');
    await pub.publishAsync('x/1', 'queued', { qos: 1 });
    const s = await request(api).get('/api/v1/sessions/adm-p1').set(auth).expect(200);
    expect(s.body).toMatchObject({ clientId: 'adm-p1', online: false, queued: 1, inflight: 0, sessionExpirySeconds: 600 });
    expect(s.body.subscriptions).toEqual([expect.objectContaining({ filter: 'x/#', qos: 1 })]);
    const all = await request(api).get('/api/v1/sessions').set(auth).expect(200);
    expect((all.body as Array<{ clientId: string }>).map((x) => x.clientId)).toContain('adm-p1');
    await request(api).delete('/api/v1/sessions/adm-p1').set(auth).expect(204);
    await request(api).get('/api/v1/sessions/adm-p1').set(auth).expect(404);
    await request(api).delete('/api/v1/sessions/adm-p1').set(auth).expect(404);
    // The client comes back to no session and none of the queued message.
    const back = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'adm-p1', protocolVersion: 5, reconnectPeriod: 0, clean: false });
    clients.push(back);
    let got = 0;
    back.on('message', () => got++);
    await new Promise((r) => setTimeout(r, 200));
    expect(got).toBe(0);
    await back.endAsync();
  });

  it('lists retained messages and clears one; a missing topic is 400, an unknown one 404', async () => {
    const pub = await connect('adm-ret');
    await pub.publishAsync('r/1', 'keep', { qos: 1, retain: true });
    const list = await request(api).get('/api/v1/retained').set(auth).expect(200);
    expect(list.body).toEqual(expect.arrayContaining([{ topic: 'r/1', qos: 1, bytes: 4 }]));
    await request(api).delete('/api/v1/retained').set(auth).expect(400);
    await request(api).delete('/api/v1/retained').query({ topic: 'r/1' }).set(auth).expect(204);
    const after = await request(api).get('/api/v1/retained').set(auth).expect(200);
    expect((after.body as Array<{ topic: string }>).map((m) => m.topic)).not.toContain('r/1');
    await request(api).delete('/api/v1/retained').query({ topic: 'r/1' }).set(auth).expect(404);
  });

  it('lists listeners and resources with runtime status', async () => {
    const l = await request(api).get('/api/v1/listeners').set(auth).expect(200);
    expect(l.body).toEqual([expect.objectContaining({ name: 'plain', port, open: true })]);
    const r = await request(api).get('/api/v1/resources').set(auth).expect(200);
    expect(r.body.map((x: { kind: string; status: { runtimeStatus: { status: string } } }) => [x.kind, x.status.runtimeStatus.status])).toEqual([
      ['Broker', 'Running'],
      ['BrokerListener', 'Running'],
    ]);
    expect(r.body[0].spec.edgemq.admin.tokenSecretRef).toBe('admin-token');
  });

  it('runs a self-check round on demand', async () => {
    const res = await request(api).post('/api/v1/selfcheck').set(auth).expect(200);
    expect(res.body).toMatchObject({ ok: true, lost: false });
  });
});

describe('admin API: validating and applying resources', () => {
  const post = (route: string, body: string) => request(api).post(route).set(auth).set('content-type', 'application/yaml').send(body);

  it('refuses bad YAML, schema errors and empty bodies with the loader messages (400)', async () => {
    const syntax = await post('/api/v1/resources/validate', 'kind: [unclosed').expect(400);
    expect(syntax.body.error).toMatch(/^request body:1:\d+: YAML syntax error/);
    const schema = await post('/api/v1/resources/validate', listenerYaml(99999)).expect(400);
    expect(schema.body.error).toMatch(/BrokerListener\/plain in request body:\d+: spec\.ports\[0\]\.port: must be <= 65535/);
    expect(schema.body.resource).toBe('BrokerListener/plain');
    const kind = await post('/api/v1/resources', 'apiVersion: mq.edgemq.io/v1beta1\nkind: Brokr\nmetadata: {name: x}\nspec: {}\n').expect(400);
    expect(kind.body.error).toMatch(/unknown kind 'Brokr'/);
    await request(api).post('/api/v1/resources').set(auth).set('content-type', 'application/yaml').send('').expect(400);
    await post('/api/v1/resources', '# nothing\n').expect(400);
  });

  it('validates without applying', async () => {
    const res = await post('/api/v1/resources/validate', `${authnYaml}---\n${listenerYaml(port, ', authenticationRef: pw')}`).expect(200);
    expect(res.body).toEqual({ applied: false, warnings: [], sessionsEnded: 0 });
    const r = await request(api).get('/api/v1/resources').set(auth).expect(200);
    expect(r.body.map((x: { kind: string }) => x.kind)).not.toContain('BrokerAuthentication');
    expect(existsSync(path.join(broker.dataDir, 'admin-applied.yaml'))).toBe(false);
  });

  it('applies through the reload path: the anonymous client is ended, anonymous connects are refused, the new resource runs', async () => {
    const anonymous = await connect('adm-anon');
    const ended = new Promise<void>((resolve) => anonymous.once('close', () => resolve()));
    const res = await post('/api/v1/resources', `${authnYaml}---\n${listenerYaml(port, ', authenticationRef: pw')}`).expect(200);
    expect(res.body).toMatchObject({ applied: true, warnings: [] });
    expect(res.body.sessionsEnded).toBeGreaterThanOrEqual(1);
    await ended;
    await expect(mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'adm-anon2', protocolVersion: 5, reconnectPeriod: 0 })).rejects.toThrow(/Not authorized|Bad User Name or Password/i);
    const alice = await connect('adm-alice', { username: 'alice', password: 'alice-pw' });
    expect(alice.connected).toBe(true);
    const r = await request(api).get('/api/v1/resources').set(auth).expect(200);
    const statusOf = (kind: string) => r.body.find((x: { kind: string }) => x.kind === kind).status.runtimeStatus.status;
    expect(statusOf('BrokerAuthentication')).toBe('Running');
    expect(r.body.find((x: { kind: string }) => x.kind === 'BrokerListener').spec.ports[0].authenticationRef).toBe('pw');
    expect(existsSync(path.join(broker.dataDir, 'admin-applied.yaml'))).toBe(true);
  });

  it('refuses a resource naming a secret that does not exist (422), keeping what is in force', async () => {
    const missing = authnYaml.replace('secretName: passwords', 'secretName: no-such-secret');
    const res = await post('/api/v1/resources', missing).expect(422);
    expect(res.body.error).toMatch(/^refused: .*no-such-secret/);
    const alice = await connect('adm-alice2', { username: 'alice', password: 'alice-pw' });
    expect(alice.connected).toBe(true);
  });
});

describe('edgemq status', () => {
  const status = async (args: string[]) => {
    let out = '';
    await runStatus(['--url', api, ...args], (s) => (out += s));
    return out;
  };

  it('prints tables, or JSON with --json', async () => {
    const tokenFile = path.join(secrets, 'admin-token', 'token');
    const doc = JSON.parse(await status(['--token-file', tokenFile, '--json']));
    expect(doc.status.broker).toBe('admin-test');
    expect(Array.isArray(doc.clients) && Array.isArray(doc.sessions)).toBe(true);
    const before = process.env.EDGEMQ_ADMIN_TOKEN;
    process.env.EDGEMQ_ADMIN_TOKEN = TOKEN;
    let table: string;
    try {
      table = await status([]);
    } finally {
      if (before === undefined) delete process.env.EDGEMQ_ADMIN_TOKEN;
      else process.env.EDGEMQ_ADMIN_TOKEN = before;
    }
    expect(table).toMatch(/^broker admin-test \(edgemq [\d.]+\), up \d+ s, ready$/m);
    expect(table).toMatch(/^LISTENER\s+PORT\s+PROTOCOL\s+TLS\s+OPEN$/m);
    expect(table).toMatch(new RegExp(`^plain\\s+${port}\\s+mqtt\\s+no\\s+yes$`, 'm'));
    expect(table).toMatch(/^BrokerAuthentication\s+pw\s+Running\s+in use$/m);
    expect(table).toMatch(/^adm-alice\s+plain\s+/m);
  });

  it('fails with the HTTP error without a token; the command names an unreachable URL and exits 1', async () => {
    const wrong = path.join(tempDir(), 'wrong-token');
    writeFileSync(wrong, 'wrong-token\n');
    await expect(status(['--token-file', wrong])).rejects.toThrow(/HTTP 401: invalid bearer token/);
    const closed = await freePort();
    const c = edgemqCommand(['status', '--url', `http://127.0.0.1:${closed}`]);
    const down = spawnSync(c.cmd, c.args, { cwd: repoRoot, encoding: 'utf8', timeout: 30_000 });
    expect(down.status).toBe(1);
    expect(down.stderr).toMatch(new RegExp(`cannot reach the admin API at http://127.0.0.1:${closed}: ECONNREFUSED`));
  });
});

describe('admin API off loopback (in process, nothing bound)', () => {
  const quiet = pino({ level: 'silent' });

  it('refuses to start without a token on a non-loopback address, naming the field', async () => {
    const settings = parseConfigText(brokerYaml(9601).replace('tokenSecretRef: admin-token', 'mode: Enabled'), 'b.yaml').broker.operations;
    const base = { host: '10.0.0.5', log: quiet, secretsDir: secrets, dataDir: tempDir(), configFiles: [], loadOptions: {}, metricsPort: 0 };
    const err = await startOperations({ ...base, settings }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/^Broker spec\.edgemq\.admin\.tokenSecretRef: the admin API would serve 10\.0\.0\.5:9601 without authentication/);
    // Not asked for explicitly: the broker starts, the admin API does not.
    const lines: string[] = [];
    const log = pino({ level: 'error' }, { write: (l: string) => void lines.push(l) });
    const ops = await startOperations({ ...base, log, settings: { ...settings, adminRequired: false } });
    expect(ops.adminPort).toBe(0);
    expect(lines.join('')).toMatch(/the admin API is not started/);
    await ops.stop();
    // A token secret that cannot be read stops the start.
    const missing = await startOperations({ ...base, settings: { ...settings, adminTokenSecretRef: 'nope' } }).catch((e: unknown) => e);
    expect((missing as Error).message).toMatch(/^Broker spec\.edgemq\.admin\.tokenSecretRef: cannot read token of secret 'nope'/);
  });

  it('refuses to apply resources that would serve a non-loopback address without authentication (422)', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'config.yaml');
    const open = `${brokerYaml(0)}---\n${listenerYaml(1883, '')}  edgemq: {allowAnonymous: true}\n`;
    writeFileSync(file, open);
    const config = parseConfigText(open, file);
    const security = new Security(config, { secretsDir: secrets, dataDir: dir, host: '10.0.0.5', allowAnonymous: false, log: quiet });
    const core = new LocalBrokerCore(new Partition({ queueLength: 10, queueStrategy: 'None', sharedStrategy: 'round-robin' }));
    const frontEnd = new FrontEnd({ core, limits: config.broker.clients, listeners: config.listeners, host: '10.0.0.5', log: quiet, security: security.forPort });
    let reloads = 0;
    const ctx: AdminContext = {
      brokerName: 'admin-test',
      version: 'test',
      startedAt: Date.now(),
      frontEnd,
      sessions: adminSessions(core),
      resources: adminResources({ configFiles: [file], dataDir: dir, loadOptions: {} }, { security, reload: () => (reloads++, { applied: true, sessionsEnded: 0 }) }),
      readiness: new Readiness(),
      metricsJson: async () => [],
    };
    const app = adminApp(ctx, () => TOKEN);
    try {
      const res = await request(app).post('/api/v1/resources').set(auth).set('content-type', 'application/yaml').send(listenerYaml(1883)).expect(422);
      expect(res.body.error).toMatch(/^refused: BrokerListener\/plain: port 1883 would serve 10\.0\.0\.5 without authentication/);
      await request(app).post('/api/v1/resources/validate').set(auth).set('content-type', 'application/yaml').send(listenerYaml(1883)).expect(422);
      expect(reloads).toBe(0);
      expect(existsSync(path.join(dir, 'admin-applied.yaml'))).toBe(false);
      // The same listener with its opt-in stays acceptable, and is applied through the reload.
      await request(app).post('/api/v1/resources').set(auth).set('content-type', 'application/yaml').send(`${listenerYaml(1883, '')}  edgemq: {allowAnonymous: true}\n`).expect(200);
      expect(reloads).toBe(1);
    } finally {
      await frontEnd.close();
      await core.close();
      security.close();
    }
  });
});
