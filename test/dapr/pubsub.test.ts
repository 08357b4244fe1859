/**
 * The pub/sub component as daprd drives it over its Unix socket (discovery by reflection, Init,
 * Features, Publish, BulkPublish, PullMessages with acks and NACKs), with plain MQTT clients
 * (mosquitto_sub/mosquitto_pub, MQTT.js) on the broker side.
 */
import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import mqtt from 'mqtt';
import { edgemqCommand, repoRoot, startBroker, type RunningBroker } from '../helpers/broker.js';
import { ComponentClient, discover, startComponents, waitFor, type Components } from './daprd.js';

const run = promisify(execFile);
let broker: RunningBroker;
let comps: Components;
const P = 'PubSub';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Delivery {
  data: Buffer;
  topicName: string;
  metadata: Record<string, string>;
  contentType: string;
  id: string;
}

/** A daprd subscription: opens PullMessages, sends the topic, and answers each message with `handler`'s verdict. */
function subscribe(client: ComponentClient, topic: string, handler: (d: Delivery) => string | undefined = () => undefined, metadata: Record<string, string> = {}) {
  const got: Delivery[] = [];
  const stream = client.pull();
  stream.on('data', (d: Delivery) => {
    got.push(d);
    const err = handler(d);
    stream.write(err === undefined ? { ackMessageId: d.id } : { ackMessageId: d.id, ackError: { message: err } });
  });
  const errors: Error[] = [];
  stream.on('error', (e: Error) => errors.push(e));
  stream.write({ topic: { name: topic, metadata } });
  return { got, stream, errors, cancel: () => stream.cancel() };
}

async function init(instance: string, props: Record<string, string>): Promise<ComponentClient> {
  const c = new ComponentClient(comps.socket('edgemq-pubsub'), instance);
  await c.call(P, 'Init', { metadata: { properties: { url: `tcp://127.0.0.1:${broker.port}`, ...props } } });
  return c;
}

beforeAll(async () => {
  broker = await startBroker();
  comps = await startComponents();
});
afterAll(async () => {
  await comps?.stop();
  await broker?.stop();
});

describe('discovery', () => {
  it('each socket lists only its own services through reflection v1alpha, as daprd asks', async () => {
    expect(await discover(comps.folder)).toEqual({
      'edgemq-pubsub': ['dapr.proto.components.v1.PubSub'],
      'edgemq-state': [
        'dapr.proto.components.v1.StateStore',
        'dapr.proto.components.v1.TransactionalStateStore',
        'dapr.proto.components.v1.TransactionalStoreMultiMaxSize',
      ],
    });
  });

  it('removes a stale socket left by a crash, refuses a live one, and removes its sockets on shutdown', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dapr-stale-'));
    const stale = path.join(dir, 'edgemq-pubsub.sock');
    // a process that binds the socket and dies without cleaning up
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    await new Promise((r) => child.once('exit', r));
    expect(existsSync(stale)).toBe(true);
    const c = await startComponents(['--pubsub', 'edgemq-pubsub', '--azure-names'], { DAPR_COMPONENTS_SOCKETS_FOLDER: '', DAPR_COMPONENT_SOCKETS_FOLDER: dir }, dir, 4);
    const found = await discover(dir);
    expect(Object.keys(found).sort()).toEqual(['aio-mq-pubsub-pluggable', 'aio-mq-statestore-pluggable', 'azure.iotoperations', 'edgemq-pubsub']);
    expect(found['azure.iotoperations']).toContain('dapr.proto.components.v1.PubSub');
    expect(found['azure.iotoperations']).toContain('dapr.proto.components.v1.StateStore');
    const cmd = edgemqCommand(['dapr-components', '--sockets-folder', dir, '--pubsub', 'edgemq-pubsub']);
    const second = await run(cmd.cmd, cmd.args, { cwd: repoRoot, timeout: 15_000 }).then(
      () => '',
      (e: { code?: number; stderr?: string }) => `${e.code} ${e.stderr}`,
    );
    expect(second).toMatch(/^1 .*in use/s);
    await c.stop();
    expect(existsSync(stale)).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('pub/sub component', () => {
  it('Init, Features, Ping', async () => {
    const c = await init('basic', { consumerID: 'basic-app' });
    expect((await c.call(P, 'Features', {})).features).toEqual(['SUBSCRIBE_WILDCARDS', 'BULK_PUBSUB', 'MESSAGE_TTL']);
    await c.call(P, 'Ping', {});
    c.close();
  });

  it('Init fails clearly for bad metadata', async () => {
    const c = new ComponentClient(comps.socket('edgemq-pubsub'), 'bad');
    await expect(c.call(P, 'Init', { metadata: { properties: { url: 'tcp://127.0.0.1:1', qos: '7' } } })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    c.close();
  });

  it('a Publish reaches a plain mosquitto_sub with the CloudEvent bytes unchanged', async () => {
    const c = await init('pub', { consumerID: 'pub-app' });
    const sub = run('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(broker.port), '-t', 'orders/new', '-C', '1', '-W', '10'], { timeout: 12_000 });
    const watcher = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'ce-watcher' });
    const props = new Promise<any>((r) => watcher.on('message', (_t, _p, pk) => r(pk.properties)));
    await watcher.subscribeAsync('orders/new', { qos: 1 });
    await sleep(300); // mosquitto_sub subscribed
    const ce = JSON.stringify({ specversion: '1.0', id: '1', source: 'app', type: 'com.dapr.event.sent', data: { order: 7 } });
    await c.call(P, 'Publish', { data: Buffer.from(ce), pubsubName: 'pub', topic: 'orders/new', metadata: { ttlInSeconds: '60', traceid: 't-1' }, contentType: '' });
    expect((await sub).stdout.trim()).toBe(ce);
    const p = await props;
    expect(p.contentType).toBe('application/cloudevents+json');
    expect(p.messageExpiryInterval).toBeGreaterThan(50);
    expect(p.userProperties).toEqual({ traceid: 't-1' });
    await watcher.endAsync();
    await expect(c.call(P, 'Publish', { data: Buffer.from('x'), topic: 'bad/#', metadata: {} })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    c.close();
  });

  it('a plain mosquitto_pub reaches a Dapr subscriber; ack sends the PUBACK (no redelivery)', async () => {
    const c = await init('plain', { consumerID: 'plain-app' });
    const s = subscribe(c, 'sensors/+/temp');
    await sleep(300);
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.port), '-t', 'sensors/a/temp', '-q', '1', '-m', 'raw-21.5']);
    await waitFor(() => s.got.length === 1, 5000, 'delivery');
    expect(s.got[0]!.data.toString()).toBe('raw-21.5');
    expect(s.got[0]!.topicName).toBe('sensors/a/temp');
    expect(s.got[0]!.metadata.retained).toBe('false');
    await sleep(1500);
    expect(s.got).toHaveLength(1);
    s.cancel();
    c.close();
  });

  it('NACK -> the message is redelivered within seconds under a new id, until acked', async () => {
    const c = await init('nack', { consumerID: 'nack-app', redeliveryDelayMs: '200' });
    let n = 0;
    const s = subscribe(c, 'nack/topic', () => (++n <= 2 ? 'app returned RETRY' : undefined));
    await sleep(300);
    const pub = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'nack-pub' });
    await pub.publishAsync('nack/topic', 'm1', { qos: 1 });
    await pub.publishAsync('nack/topic', 'm2', { qos: 1 });
    await waitFor(() => s.got.length >= 4, 5000, 'redeliveries');
    await sleep(300);
    expect(s.got.map((d) => d.data.toString())).toEqual(['m1', 'm1', 'm1', 'm2']);
    expect(new Set(s.got.map((d) => d.id)).size).toBe(4);
    await pub.endAsync();
    s.cancel();
    c.close();
  });

  it('replicas with one consumerID compete on $share/{consumerID}/{topic}; each message reaches one replica once', async () => {
    const r1 = await init('replica', { consumerID: 'orders-app' });
    const r2 = new ComponentClient(comps.socket('edgemq-pubsub'), 'replica');
    // a second replica = another daprd with the same Component YAML: a second connection, same instance name
    const comps2 = await startComponents(['--pubsub', 'edgemq-pubsub']);
    const r2b = new ComponentClient(comps2.socket('edgemq-pubsub'), 'replica');
    await r2b.call(P, 'Init', { metadata: { properties: { url: `tcp://127.0.0.1:${broker.port}`, consumerID: 'orders-app' } } });
    r2.close();
    const a = subscribe(r1, 'work/items');
    const b = subscribe(r2b, 'work/items');
    // a client that takes the bare consumerID as its client id does not take over the replicas' sessions
    const squatter = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'orders-app' });
    await sleep(400);
    const pub = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'work-pub' });
    for (let i = 0; i < 20; i++) await pub.publishAsync('work/items', `w${i}`, { qos: 1 });
    await waitFor(() => a.got.length + b.got.length >= 20, 5000, 'all work items');
    await sleep(200);
    const all = [...a.got, ...b.got].map((d) => d.data.toString()).sort();
    expect(all).toEqual(Array.from({ length: 20 }, (_, i) => `w${i}`).sort());
    expect(a.got.length).toBeGreaterThan(0);
    expect(b.got.length).toBeGreaterThan(0);

    // a message held (not acked) by a replica whose stream goes away is handed to the other replica
    let hold = true;
    const c1 = subscribe(r1, 'jobs/x', () => (hold ? 'never-acked' : undefined));
    await sleep(300);
    await pub.publishAsync('jobs/x', 'job-1', { qos: 1 });
    await waitFor(() => c1.got.length >= 1, 5000, 'held job');
    const c2 = subscribe(r2b, 'jobs/x');
    await sleep(300);
    c1.cancel();
    await waitFor(() => c2.got.length >= 1, 5000, 'job redelivered to the other replica');
    expect(c2.got[0]!.data.toString()).toBe('job-1');
    hold = false;

    await squatter.endAsync();
    await pub.endAsync();
    for (const s of [a, b, c2]) s.cancel();
    r1.close();
    r2b.close();
    await comps2.stop();
  });

  it('multiple handlers: each topic gets exactly its own messages; cancelling one stream leaves the other running', async () => {
    const c = await init('multi', { consumerID: 'multi-app' });
    const t1 = subscribe(c, 'multiTopic1');
    const t2 = subscribe(c, 'multiTopic2');
    await sleep(300);
    for (let i = 11; i <= 20; i++) {
      await c.call(P, 'Publish', { data: Buffer.from(`message-${i}`), topic: i % 2 ? 'multiTopic1' : 'multiTopic2', metadata: {}, contentType: 'text/plain' });
    }
    await waitFor(() => t1.got.length === 5 && t2.got.length === 5, 5000, 'both topics');
    expect(t1.got.map((d) => d.data.toString())).toEqual(['message-11', 'message-13', 'message-15', 'message-17', 'message-19']);
    expect(t2.got.every((d) => d.topicName === 'multiTopic2' && d.contentType === 'text/plain')).toBe(true);
    t1.cancel();
    await sleep(300);
    await c.call(P, 'Publish', { data: Buffer.from('after'), topic: 'multiTopic2', metadata: {} });
    await c.call(P, 'Publish', { data: Buffer.from('lost-for-t1'), topic: 'multiTopic1', metadata: {} });
    await waitFor(() => t2.got.length === 6, 5000, 'topic 2 after cancel');
    await sleep(200);
    expect(t1.got).toHaveLength(5);
    t2.cancel();
    c.close();
  });

  it('BulkPublish publishes every entry and reports failed ones', async () => {
    const c = await init('bulk', { consumerID: 'bulk-app' });
    const s = subscribe(c, 'bulk/topic');
    await sleep(300);
    const res = await c.call(P, 'BulkPublish', {
      topic: 'bulk/topic',
      metadata: {},
      entries: Array.from({ length: 10 }, (_, i) => ({ entryId: `e${i}`, event: Buffer.from(`bulk-${i}`), contentType: 'text/plain', metadata: {} })),
    });
    expect(res.failedEntries).toEqual([]);
    await waitFor(() => s.got.length === 10, 5000, 'bulk messages');
    expect(s.got.map((d) => d.data.toString()).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `bulk-${i}`).sort());
    const bad = await c.call(P, 'BulkPublish', { topic: 'bulk/#', metadata: {}, entries: [{ entryId: 'x', event: Buffer.from('x'), metadata: {} }] });
    expect(bad.failedEntries.map((f: any) => f.entryId)).toEqual(['x']);
    s.cancel();
    c.close();
  });

  it('Pause holds deliveries and Resume releases them; a first message without a topic is refused', async () => {
    const c = await init('pause', { consumerID: 'pause-app' });
    const s = subscribe(c, 'pause/topic');
    await sleep(300);
    await c.call(P, 'Pause', {});
    await c.call(P, 'Publish', { data: Buffer.from('p1'), topic: 'pause/topic', metadata: {} });
    await sleep(500);
    expect(s.got).toHaveLength(0);
    await c.call(P, 'Resume', {});
    await waitFor(() => s.got.length === 1, 5000, 'delivery after resume');
    s.cancel();
    const bad = c.pull();
    const err = new Promise<grpc.ServiceError>((r) => bad.on('error', r));
    bad.write({ ackMessageId: 'x' });
    expect((await err).code).toBe(grpc.status.INVALID_ARGUMENT);
    c.close();
  });

  it('accepts Azure IoT MQ component metadata of both generations', async () => {
    const gen1 = new ComponentClient(comps.socket('edgemq-pubsub'), 'aio-2023');
    await gen1.call(P, 'Init', { metadata: { properties: { url: `127.0.0.1:${broker.port}`, tlsEnabled: 'false', logLevel: 'Info' } } });
    const gen2 = new ComponentClient(comps.socket('edgemq-pubsub'), 'aio-2024');
    await gen2.call(P, 'Init', { metadata: { properties: { hostname: '127.0.0.1', tcpPort: String(broker.port), useTls: 'false', consumerID: 'aio' } } });
    const s = subscribe(gen2, 'aio/t');
    await sleep(300);
    await gen1.call(P, 'Publish', { data: Buffer.from('from-gen1'), topic: 'aio/t', metadata: {} });
    await waitFor(() => s.got.length === 1, 5000, 'gen1 -> gen2');
    s.cancel();
    gen1.close();
    gen2.close();
  });
});
