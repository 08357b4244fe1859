/**
 * A socket that ends during its CONNECT (before CONNACK: while the authentication webhook or the
 * durable write of the session still runs) ends its session like any other lost connection: the
 * will is published, a persistent session goes offline (and can be resumed), a clean one is
 * removed, and `$SYS/broker/clients/connected` comes back to the truth.
 *
 * Every case runs in 3.1.1 and 5.0, clean and persistent, on a port without authentication (the
 * session's durable write runs, durability `os`) and on one whose custom webhook answers after
 * 300 ms, with the socket closed right after CONNECT or after CONNECT plus a malformed packet.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, isEdgemq, startBroker, type RunningBroker } from '../helpers/broker.js';
import { makePki, tempDir, writeSecret } from '../security/helpers.js';
import { hitAndRun } from './helpers/hit-and-run.js';
import * as K from './helpers/packets.js';

const N = 40;
const RUN = `${process.pid}`;
const dir = tempDir('edgemq-abort-');
const pki = makePki();

let broker: RunningBroker;
let hook: https.Server;
let ports: { plain: number; hooked: number };
let watcher: mqtt.MqttClient;
const sys = new Map<string, number>();
const wills = new Map<string, number>();

beforeAll(async () => {
  // The webhook accepts everyone, slowly: the CONNECT is still being authenticated when its socket ends.
  hook = https.createServer({ cert: pki.server.cert, key: pki.server.key }, (req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"attributes":{}}'), 300));
  });
  const hookPort = await new Promise<number>((r) => hook.listen(0, '127.0.0.1', () => r((hook.address() as AddressInfo).port)));
  writeSecret(path.join(dir, 'secrets'), 'webhook-ca', { 'ca.crt': pki.ca.cert });
  ports = { plain: await freePort(), hooked: await freePort() };
  const config = `apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: Broker
metadata: {name: default}
spec:
  edgemq: {durability: os, sysIntervalSeconds: 1}
---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerListener
metadata: {name: abort}
spec:
  brokerRef: default
  ports:
  - {port: ${ports.plain}}
  - {port: ${ports.hooked}, authenticationRef: slow-hook}
---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerAuthentication
metadata: {name: slow-hook}
spec:
  authenticationMethods:
  - method: Custom
    customSettings:
      endpoint: https://localhost:${hookPort}/
      caCertConfigMap: webhook-ca
      edgemq: {timeoutSeconds: 5}
`;
  const file = path.join(dir, 'edgemq.yaml');
  writeFileSync(file, config);
  broker = await startBroker({ port: ports.plain, args: ['--config', file] });
  watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${ports.plain}`, { clientId: `abort-watcher-${RUN}`, reconnectPeriod: 0 });
  watcher.on('message', (topic, payload) => {
    if (topic.startsWith('$SYS/')) sys.set(topic, Number(payload.toString()));
    else wills.set(topic, (wills.get(topic) ?? 0) + 1);
  });
  await watcher.subscribeAsync(['$SYS/broker/clients/+', `abort/${RUN}/#`], { qos: 1 });
}, 60_000);

afterAll(async () => {
  await watcher?.endAsync();
  await broker?.stop();
  hook?.close();
});

async function eventually(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms (sys ${JSON.stringify([...sys])})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Case {
  version: 4 | 5;
  clean: boolean;
  port: 'plain' | 'hooked';
  malformed: boolean;
}

const cases: Case[] = [];
for (const version of [4, 5] as const)
  for (const clean of [true, false])
    for (const port of ['plain', 'hooked'] as const)
      for (const malformed of [false, true]) cases.push({ version, clean, port, malformed });
if (process.env.ABORT_CASE) cases.splice(0, cases.length, ...cases.filter((c) => name(c) === process.env.ABORT_CASE));

function name(c: Case): string {
  return `v${c.version}-${c.clean ? 'clean' : 'persistent'}-${c.port}${c.malformed ? '-malformed' : ''}`;
}

function connectBytes(c: Case, i: number): Buffer {
  const id = `abort-${RUN}-${name(c)}-${i}`;
  const extra: Record<string, unknown> = {
    clean: c.clean,
    username: 'someone',
    password: Buffer.from('pw'),
    will: { topic: `abort/${RUN}/${name(c)}`, payload: Buffer.from(id), qos: 0, retain: false },
  };
  if (c.version === 5 && !c.clean) extra.properties = { sessionExpiryInterval: 3600 };
  const connect = K.connect(c.version, id, extra);
  // A PUBLISH whose Remaining Length never ends: malformed, right behind the CONNECT.
  return c.malformed ? Buffer.concat([connect, Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])]) : connect;
}

describe.skipIf(!isEdgemq)('a socket that ends during CONNECT', () => {
  it(`ends its session like any other disconnect (${cases.length} cases x ${N} sockets)`, async () => {
    // A fresh report (the retained one may predate the watcher's own connection).
    sys.clear();
    await eventually('a $SYS report', () => sys.has('$SYS/broker/clients/connected') && sys.has('$SYS/broker/clients/total'));
    const baseline = { connected: sys.get('$SYS/broker/clients/connected')!, total: sys.get('$SYS/broker/clients/total')! };
    for (const c of cases) {
      const all: Promise<void>[] = [];
      for (let i = 0; i < N; i++) all.push(hitAndRun(ports[c.port], connectBytes(c, i)));
      await Promise.all(all);
    }
    // Every will arrives: each session went offline through the normal path.
    await eventually('all wills', () => cases.every((c) => wills.get(`abort/${RUN}/${name(c)}`) === N));
    const persistent = cases.filter((c) => !c.clean).length * N;
    sys.clear();
    await eventually(
      'counters equal the truth',
      () => sys.get('$SYS/broker/clients/connected') === baseline.connected && sys.get('$SYS/broker/clients/total') === baseline.total + persistent && sys.get('$SYS/broker/clients/sockets') === 1,
    );
    for (const c of cases) expect(wills.get(`abort/${RUN}/${name(c)}`), name(c)).toBe(N);
  }, 60_000);

  it('leaves a persistent session offline and resumable, and removes a clean one', async () => {
    for (const c of cases) {
      const id = `abort-${RUN}-${name(c)}-0`;
      const client = mqtt.connect(`mqtt://127.0.0.1:${ports.plain}`, {
        clientId: id,
        protocolVersion: c.version,
        clean: false,
        reconnectPeriod: 0,
        ...(c.version === 5 ? { properties: { sessionExpiryInterval: 60 } } : {}),
      });
      const connack = await new Promise<boolean>((resolve, reject) => {
        client.once('connect', (p) => resolve(p.sessionPresent));
        client.once('error', reject);
      });
      expect(connack, name(c)).toBe(!c.clean);
      await client.endAsync();
    }
  }, 30_000);
});
