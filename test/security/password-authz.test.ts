/**
 * Username/password (passwords.toml, `edgemq passwd`) + attribute-based authorization end to end:
 * exact CONNACK/SUBACK/PUBACK codes for 3.1.1 and 5.0, `{principal.*}` substitution, injection
 * through attribute values, `effect: Deny`, and configuration reloads ending sessions.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { edgemqCommand, freePort, repoRoot, startBroker, type RunningBroker } from '../helpers/broker.js';
import { passwd } from '../../src/security/commands.js';
import { BROKER, connectCode, publishAck, sleep, subscribeCode, tempDir, writeSecret } from './helpers.js';

const dir = tempDir();
const secrets = path.join(dir, 'secrets');
const configFile = path.join(dir, 'edgemq.yaml');
let broker: RunningBroker;
let port: number;

const rules = (bobAllowed: boolean) => `
    - principals: {usernames: [alice, mallory${bobAllowed ? ', bob' : ''}]}
      brokerResources:
      - {method: Connect, clientIds: ["{principal.username}*"]}
      - {method: Publish, topics: ["floors/{principal.attributes.floor}/{principal.clientId}/#"]}
      - {method: Subscribe, topics: ["floors/{principal.attributes.floor}/#"]}
    - effect: Deny
      principals: {attributes: [{floor: "1"}]}
      brokerResources: [{method: Subscribe, topics: ["floors/1/secret"]}]`;

const config = (bobAllowed: boolean) => `${BROKER()}---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerListener
metadata: {name: plant}
spec:
  brokerRef: default
  ports:
  - {port: ${port}, authenticationRef: authn, authorizationRef: authz}
---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerAuthentication
metadata: {name: authn}
spec:
  authenticationMethods:
  - method: UsernamePassword
    usernamePasswordSettings: {secretName: passwords}
---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerAuthorization
metadata: {name: authz}
spec:
  authorizationPolicies:
    cache: Enabled
    rules:${rules(bobAllowed)}
`;

const pw = path.join(secrets, 'passwords', 'passwords.toml');

beforeAll(async () => {
  writeSecret(secrets, 'passwords', {});
  await passwd({ file: pw, username: 'alice', password: 'alice-pw', attributes: { floor: '1' }, iterations: 1000 });
  await passwd({ file: pw, username: 'bob', password: 'bob-pw', attributes: { floor: '2' }, iterations: 1000 });
  await passwd({ file: pw, username: 'mallory', password: 'm-pw', attributes: { floor: '#' }, iterations: 1000 });
  port = await freePort();
  writeFileSync(configFile, config(true));
  broker = await startBroker({ port, args: ['--config', configFile] });
});

afterAll(async () => {
  await broker?.stop();
});

const login = (user: string, password: string, clientId = `${user}-1`) => ({ clientId, username: user, password: Buffer.from(password) });

describe.each([
  [5, { ok: 0, badPassword: 0x86, noCreds: 0x87, notAuthorized: 0x87, subDenied: 0x87 }],
  [4, { ok: 0, badPassword: 4, noCreds: 5, notAuthorized: 5, subDenied: 0x80 }],
] as const)('MQTT version %i', (version, rc) => {
  it('accepts the right password and refuses wrong ones, unknown users and no credentials', async () => {
    const cases: Array<[Record<string, unknown>, number]> = [
      [login('alice', 'alice-pw'), rc.ok],
      [login('alice', 'wrong'), rc.badPassword],
      [login('nobody', 'alice-pw', 'nobody-1'), rc.badPassword],
      [{ clientId: 'anon' }, rc.noCreds],
    ];
    for (const [fields, want] of cases) {
      const { code, client } = await connectCode(broker.port, version, fields);
      expect(code, JSON.stringify(fields.username)).toBe(want);
      client.end();
    }
  });

  it('narrows client ids with Connect rules (trailing *)', async () => {
    const { code, client } = await connectCode(broker.port, version, login('alice', 'alice-pw', 'bob-1'));
    expect(code).toBe(rc.notAuthorized);
    client.end();
  });

  it('substitutes principal attributes in Subscribe rules and lets Deny win', async () => {
    const { code, client } = await connectCode(broker.port, version, login('alice', 'alice-pw'));
    expect(code).toBe(0);
    expect(await subscribeCode(client, 'floors/1/#', 1)).toBe(1);
    expect(await subscribeCode(client, 'floors/1/+/temp', 2)).toBe(1);
    expect(await subscribeCode(client, '$share/g/floors/1/x', 3)).toBe(1);
    expect(await subscribeCode(client, 'floors/2/#', 4)).toBe(rc.subDenied);
    expect(await subscribeCode(client, 'floors/#', 5)).toBe(rc.subDenied);
    expect(await subscribeCode(client, 'floors/1/secret', 6)).toBe(rc.subDenied);
    client.end();
  });

  it('never lets an attribute value act as a wildcard', async () => {
    const { code, client } = await connectCode(broker.port, version, login('mallory', 'm-pw'));
    expect(code).toBe(0);
    expect(await subscribeCode(client, 'floors/#', 1)).toBe(rc.subDenied);
    expect(await subscribeCode(client, 'floors/1/#', 2)).toBe(rc.subDenied);
    client.end();
  });

  it('acknowledges a denied PUBLISH with 0x87 (5.0) or a plain PUBACK and drops it (3.1.1)', async () => {
    const sub = (await connectCode(broker.port, 5, login('alice', 'alice-pw', `alice-sub-${version}`))).client;
    expect(await subscribeCode(sub, 'floors/1/#')).toBe(1);
    const { client } = await connectCode(broker.port, version, login('alice', 'alice-pw', `alice-pub-${version}`));
    const denied = await publishAck(client, 'floors/1/someone-else/t', 10);
    expect(version === 5 ? denied.reasonCode : 0).toBe(version === 5 ? 0x87 : 0);
    const allowed = await publishAck(client, `floors/1/alice-pub-${version}/t`, 11);
    if (version === 5) expect(allowed.reasonCode).toBe(0);
    const got = await sub.next();
    expect(got?.cmd).toBe('publish');
    expect(got?.topic).toBe(`floors/1/alice-pub-${version}/t`); // the denied one never arrived
    client.end();
    sub.end();
  });
});

describe('without restart', () => {
  it('ends sessions a changed BrokerAuthorization no longer allows, keeping the others', async () => {
    const bob = (await connectCode(broker.port, 5, login('bob', 'bob-pw'))).client;
    const alice = (await connectCode(broker.port, 5, login('alice', 'alice-pw', 'alice-stays'))).client;
    writeFileSync(configFile, config(false));
    const p = await bob.next(5000);
    expect(p?.cmd).toBe('disconnect');
    expect(p?.reasonCode).toBe(0x87);
    await bob.whenClosed;
    expect((await connectCode(broker.port, 5, login('bob', 'bob-pw', 'bob-2'))).code).toBe(0x87);
    alice.send({ cmd: 'pingreq' });
    expect((await alice.next())?.cmd).toBe('pingresp');
    alice.end();
  });

  it('ends the session of a user removed with `edgemq passwd --delete`', async () => {
    const alice = (await connectCode(broker.port, 4, login('alice', 'alice-pw', 'alice-v3'))).client;
    const c = edgemqCommand(['passwd', pw, 'alice', '--delete']);
    const r = spawnSync(c.cmd, c.args, { cwd: repoRoot, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(pw, 'utf8')).not.toContain('[alice]');
    await alice.whenClosed; // 3.1.1 has no DISCONNECT from the server: the connection just ends
    expect((await connectCode(broker.port, 4, login('alice', 'alice-pw'))).code).toBe(4);
  });

  it('`edgemq passwd` writes PBKDF2-SHA512 PHC entries the broker accepts', async () => {
    const c = edgemqCommand(['passwd', pw, 'carol', '--password-stdin', '--attribute', 'floor=2', '--iterations', '1000']);
    const r = spawnSync(c.cmd, c.args, { cwd: repoRoot, encoding: 'utf8', input: 'carol-pw\n' });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(pw, 'utf8')).toMatch(/\[carol\]\npassword = "\$pbkdf2-sha512\$i=1000,l=64\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{86}"/);
    await sleep(400); // the secret watcher reloads
    const { code, client } = await connectCode(broker.port, 5, login('carol', 'carol-pw'));
    expect(code).toBe(0x87); // authenticated, but no rule names carol
    client.end();
  });
});
