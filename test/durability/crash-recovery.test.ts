/**
 * Real-process durability: `edgemq serve` is killed with SIGKILL and restarted on the same data
 * directory; what the broker acknowledged must come back, and nothing else.
 */
import { afterEach, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, isEdgemq, startBroker, type RunningBroker } from '../helpers/broker.js';

const running: RunningBroker[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const b of running.splice(0)) await b.kill();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function boot(dataDir: string, port: number): Promise<RunningBroker> {
  const b = await startBroker({ dataDir, port });
  running.push(b);
  return b;
}

function dataDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'edgemq-dur-'));
  dirs.push(d);
  return d;
}

async function client(url: string, opts: mqtt.IClientOptions): Promise<MqttClient> {
  return mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
}

/**
 * Connects with a message handler already attached: a resumed session's queued messages arrive in
 * the same write as CONNACK, before `connectAsync` would resolve.
 */
async function collecting(url: string, opts: mqtt.IClientOptions) {
  const got: string[] = [];
  const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  c.on('message', (_t, p) => got.push(p.toString()));
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  return {
    client: c,
    got,
    async until(n: number, ms = 5000) {
      const deadline = Date.now() + ms;
      while (got.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      return got;
    },
  };
}

describe.skipIf(!isEdgemq)('durability across SIGKILL', () => {
  for (const qos of [1, 2] as const) {
    it(`QoS ${qos}: every acknowledged message to an offline session survives a crash mid-stream, in order, without duplicates`, async () => {
      const dir = dataDir();
      const port = await freePort();
      let broker = await boot(dir, port);
      const sub = await client(broker.url, { protocolVersion: 5, clientId: `dur-sub-${qos}`, clean: false, properties: { sessionExpiryInterval: 3600 } });
      await sub.subscribeAsync('dur/stream', { qos });
      await sub.endAsync();

      const pub = await client(broker.url, { protocolVersion: 5, clientId: `dur-pub-${qos}` });
      const acked: number[] = [];
      let i = 0;
      const publishing = (async () => {
        for (;;) {
          const n = i++;
          try {
            await pub.publishAsync('dur/stream', String(n), { qos });
            acked.push(n);
          } catch {
            return;
          }
        }
      })();
      while (acked.length < 300) await new Promise((r) => setTimeout(r, 5));
      await broker.kill('SIGKILL');
      pub.end(true);
      await publishing;
      const attempted = i;

      broker = await boot(dir, port);
      const c = await collecting(broker.url, { protocolVersion: 5, clientId: `dur-sub-${qos}`, clean: false, properties: { sessionExpiryInterval: 3600 } });
      const got = (await c.until(acked.length, 10_000)).map(Number);
      await new Promise((r) => setTimeout(r, 300));
      await c.client.endAsync();

      const received = new Set(got);
      const lost = acked.filter((n) => !received.has(n));
      expect(lost).toEqual([]);
      expect(got.every((n) => n < attempted)).toBe(true); // nothing that was never published
      expect(got).toEqual([...got].sort((a, b) => a - b)); // publisher order kept
      if (qos === 2) expect(got.length).toBe(received.size); // exactly once
    });
  }

  it('retained messages, subscriptions and session expiry survive a restart', async () => {
    const dir = dataDir();
    const port = await freePort();
    let broker = await boot(dir, port);
    const pub = await client(broker.url, { protocolVersion: 5 });
    await pub.publishAsync('dur/retained', 'kept', { qos: 1, retain: true });
    await pub.publishAsync('dur/retained-short', 'gone', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } });
    const shortLived = await client(broker.url, { protocolVersion: 5, clientId: 'dur-short', clean: false, properties: { sessionExpiryInterval: 1 } });
    await shortLived.subscribeAsync('dur/x', { qos: 1 });
    await shortLived.endAsync();
    const longLived = await client(broker.url, { protocolVersion: 5, clientId: 'dur-long', clean: false, properties: { sessionExpiryInterval: 3600 } });
    await longLived.subscribeAsync('dur/x', { qos: 1 });
    await longLived.endAsync();
    await pub.endAsync();
    await broker.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 1500)); // downtime longer than the short expiries

    broker = await boot(dir, port);
    const reader = await collecting(broker.url, { protocolVersion: 5 });
    await reader.client.subscribeAsync('dur/#', { qos: 1 });
    expect(await reader.until(1, 1000)).toEqual(['kept']); // the 1 s retained message expired during the downtime
    await reader.client.endAsync();

    // Session expiry is wall-clock time: the 1 s session ended during the downtime, the long one did not.
    const sessionPresent = (clientId: string, expiry: number) =>
      new Promise<boolean>((resolve, reject) => {
        const c = mqtt.connect(broker.url, { protocolVersion: 5, clientId, clean: false, reconnectPeriod: 0, properties: { sessionExpiryInterval: expiry } });
        c.once('connect', (ack) => {
          c.end(true);
          resolve(ack.sessionPresent);
        });
        c.once('error', reject);
      });
    expect(await sessionPresent('dur-short', 1)).toBe(false);
    expect(await sessionPresent('dur-long', 3600)).toBe(true);
  });

  it('a delayed will set before a crash is published after the restart', async () => {
    const dir = dataDir();
    const port = await freePort();
    let broker = await boot(dir, port);
    const watcher = await client(broker.url, { protocolVersion: 5, clientId: 'will-watch', clean: false, properties: { sessionExpiryInterval: 3600 } });
    await watcher.subscribeAsync('dur/will', { qos: 1 });
    await watcher.endAsync();
    const dying = await client(broker.url, {
      protocolVersion: 5,
      clientId: 'will-dying',
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
      will: { topic: 'dur/will', payload: Buffer.from('gone'), qos: 1, retain: false, properties: { willDelayInterval: 2 } },
    });
    await broker.kill('SIGKILL');
    dying.end(true);

    broker = await boot(dir, port);
    const w = await collecting(broker.url, { protocolVersion: 5, clientId: 'will-watch', clean: false, properties: { sessionExpiryInterval: 3600 } });
    expect(await w.until(1, 6000)).toEqual(['gone']);
    await w.client.endAsync();
  });
});
