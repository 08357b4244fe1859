/**
 * The MQTT bridge between edgemq (local) and a real Mosquitto (remote), both directions: QoS 0 and 1,
 * MQTT 5 properties carried across, topic substitution, shared-subscription routes with several
 * bridge clients, and loop prevention for a topic bridged both ways.
 */
import { rmSync } from 'node:fs';
import type { IPublishPacket, MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../helpers/broker.js';
import { bridgeYaml, connect, mosquitto, startConnector, tempDir, until, writeConfig, type Connector, type Mosquitto } from './helpers.js';

let local: RunningBroker;
let remote: Mosquitto;
let connector: Connector;
let configFile: string;
let localSub: MqttClient;
let remoteSub: MqttClient;
const dir = tempDir();
const atLocal: IPublishPacket[] = [];
const atRemote: IPublishPacket[] = [];
const topics = (list: IPublishPacket[], prefix: string) => list.filter((p) => p.topic.startsWith(prefix)).map((p) => `${p.topic}=${p.payload.toString()}`);

beforeAll(async () => {
  [local, remote] = await Promise.all([startBroker(), mosquitto()]);
  const routes = `
  - {name: up, direction: local-to-remote, qos: 1, source: 'sensors/#', target: 'site1/{topic}'}
  - {name: up0, direction: local-to-remote, qos: 0, source: 'telemetry0/#', target: all/telemetry0}
  - {name: down, direction: remote-to-local, source: 'commands/#'}
  - {name: echo-out, direction: local-to-remote, source: 'loop/#'}
  - {name: echo-in, direction: remote-to-local, source: 'loop/#'}
  - name: jobs
    direction: local-to-remote
    source: 'jobs/#'
    sharedSubscription: {groupName: bridge, groupMinimumShareNumber: 3}`;
  configFile = writeConfig(dir, bridgeYaml({ localPort: local.port, remotePort: remote.port, routes }));
  connector = startConnector(configFile);
  localSub = await connect(local.url, { clientId: 'local-sub' });
  remoteSub = await connect(`mqtt://127.0.0.1:${remote.port}`, { clientId: 'remote-sub' });
  localSub.on('message', (_t, _p, packet) => atLocal.push(packet));
  remoteSub.on('message', (_t, _p, packet) => atRemote.push(packet));
  await Promise.all([
    localSub.subscribeAsync(['commands/#', 'loop/#'], { qos: 1 }),
    remoteSub.subscribeAsync(['site1/#', 'all/#', 'loop/#', 'jobs/#'], { qos: 1 }),
  ]);
  // Every bridge client connected (jobs has three) before the tests publish.
  await until('all bridge clients connected', () => {
    const s = connector.stats();
    return Object.keys(s).length === 6 && Object.values(s).every((r) => r.sourceConnections === r.clients && r.targetConnections === r.clients);
  });
}, 60_000);

afterAll(async () => {
  localSub?.end(true);
  remoteSub?.end(true);
  await connector?.kill();
  await Promise.all([local?.stop(), remote?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('MQTT bridge to Mosquitto', { timeout: 60_000 }, () => {
  // A minute, not the default 30 s: each test starts processes (tsx compiles on start), slow on a busy machine.
  it('forwards QoS 1 local-to-remote in order, with {topic} substituted', async () => {
    const pub = await connect(local.url, { clientId: 'sensor-1' });
    for (let i = 0; i < 50; i++) await pub.publishAsync(`sensors/t${i % 3}`, `m${i}`, { qos: 1 });
    pub.end();
    await until('50 messages at the remote', () => topics(atRemote, 'site1/').length === 50);
    expect(topics(atRemote, 'site1/')).toEqual(Array.from({ length: 50 }, (_, i) => `site1/sensors/t${i % 3}=m${i}`));
    expect(atRemote.filter((p) => p.topic.startsWith('site1/')).every((p) => p.qos === 1)).toBe(true);
  });

  it('forwards QoS 0 to one static target topic', async () => {
    const pub = await connect(local.url, { clientId: 'sensor-0' });
    for (let i = 0; i < 5; i++) await pub.publishAsync(`telemetry0/dev${i}`, `q${i}`, { qos: 0 });
    await pub.publishAsync('telemetry0/last', 'end', { qos: 1 }); // the route downgrades it to QoS 0
    pub.end();
    await until('6 messages on all/telemetry0', () => topics(atRemote, 'all/').length === 6);
    expect(topics(atRemote, 'all/')).toEqual(['all/telemetry0=q0', 'all/telemetry0=q1', 'all/telemetry0=q2', 'all/telemetry0=q3', 'all/telemetry0=q4', 'all/telemetry0=end']);
    expect(atRemote.filter((p) => p.topic.startsWith('all/')).every((p) => p.qos === 0)).toBe(true);
  });

  it('keeps MQTT 5 properties across the bridge and marks the message', async () => {
    const pub = await connect(local.url, { clientId: 'sensor-props' });
    await pub.publishAsync('sensors/props', '{"t":21.5}', {
      qos: 1,
      properties: {
        userProperties: { unit: 'celsius', site: ['a', 'b'] },
        contentType: 'application/json',
        correlationData: Buffer.from([1, 2, 3]),
        responseTopic: 'replies/sensor-props',
        payloadFormatIndicator: true,
        messageExpiryInterval: 3600,
      },
    });
    pub.end();
    await until('the message with properties', () => atRemote.some((p) => p.topic === 'site1/sensors/props'));
    const got = atRemote.find((p) => p.topic === 'site1/sensors/props')!;
    expect(got.payload.toString()).toBe('{"t":21.5}');
    expect(got.properties?.contentType).toBe('application/json');
    expect(Buffer.from(got.properties!.correlationData!)).toEqual(Buffer.from([1, 2, 3]));
    expect(got.properties?.responseTopic).toBe('replies/sensor-props');
    expect(got.properties?.payloadFormatIndicator).toBe(true);
    expect(got.properties?.messageExpiryInterval).toBeGreaterThan(3500);
    expect(got.properties?.messageExpiryInterval).toBeLessThanOrEqual(3600);
    expect(got.properties?.userProperties).toEqual({ unit: 'celsius', site: ['a', 'b'], 'edgemq-bridge': 'cloud' });
  });

  it('forwards remote-to-local with the topic unchanged', async () => {
    const pub = await connect(`mqtt://127.0.0.1:${remote.port}`, { clientId: 'cloud-app' });
    for (let i = 0; i < 20; i++) await pub.publishAsync(`commands/dev${i % 2}`, `c${i}`, { qos: 1, properties: { userProperties: { from: 'cloud' } } });
    pub.end();
    await until('20 commands at the local broker', () => topics(atLocal, 'commands/').length === 20);
    expect(topics(atLocal, 'commands/')).toEqual(Array.from({ length: 20 }, (_, i) => `commands/dev${i % 2}=c${i}`));
    expect(atLocal.find((p) => p.topic === 'commands/dev0')?.properties?.userProperties).toEqual({ from: 'cloud', 'edgemq-bridge': 'cloud' });
  });

  it('spreads a shared-subscription route over its bridge clients, each message once', async () => {
    const pub = await connect(local.url, { clientId: 'job-maker' });
    for (let i = 0; i < 60; i++) await pub.publishAsync(`jobs/j${i}`, `${i}`, { qos: 1 });
    pub.end();
    await until('60 jobs at the remote', () => topics(atRemote, 'jobs/').length === 60);
    expect(topics(atRemote, 'jobs/').sort()).toEqual(Array.from({ length: 60 }, (_, i) => `jobs/j${i}=${i}`).sort());
    const s = connector.stats().jobs!;
    expect(s.clients).toBe(3);
    expect(s.sourceConnections).toBe(3);
  });

  it('does not loop a topic bridged in both directions', async () => {
    const pub = await connect(local.url, { clientId: 'looper' });
    await pub.publishAsync('loop/1', 'one', { qos: 1 });
    await pub.publishAsync('loop/2', 'two', { qos: 1 });
    await until('both at the remote', () => topics(atRemote, 'loop/').length === 2);
    // A message published at the remote comes down once; any echo of loop/1 or loop/2 would come before it.
    const cloud = await connect(`mqtt://127.0.0.1:${remote.port}`, { clientId: 'cloud-looper' });
    await cloud.publishAsync('loop/sentinel', 's', { qos: 1 });
    await until('the sentinel at the local broker', () => topics(atLocal, 'loop/sentinel').length === 1);
    // ... and an echo of the sentinel back up would come before this one.
    await pub.publishAsync('loop/end', 'e', { qos: 1 });
    await until('loop/end at the remote', () => topics(atRemote, 'loop/end').length === 1);
    pub.end();
    cloud.end();
    expect(topics(atLocal, 'loop/')).toEqual(['loop/1=one', 'loop/2=two', 'loop/sentinel=s', 'loop/end=e']);
    expect(topics(atRemote, 'loop/')).toEqual(['loop/1=one', 'loop/2=two', 'loop/sentinel=s', 'loop/end=e']);
    await until('loop counters', () => Number(connector.stats()['echo-in']?.looped) === 3 && Number(connector.stats()['echo-out']?.looped) === 1);
  });

  it('keeps the remote session of a remote-to-local route while the connector is down', async () => {
    await connector.kill('SIGKILL');
    const cloud = await connect(`mqtt://127.0.0.1:${remote.port}`, { clientId: 'cloud-while-down' });
    for (let i = 0; i < 30; i++) await cloud.publishAsync('commands/late', `l${i}`, { qos: 1 });
    cloud.end();
    connector = startConnector(configFile); // Clean Start 0 + Session Expiry: Mosquitto kept them for site1-down
    await until('30 late commands at the local broker', () => topics(atLocal, 'commands/late').length === 30);
    expect(topics(atLocal, 'commands/late')).toEqual(Array.from({ length: 30 }, (_, i) => `commands/late=l${i}`));
  });
});
