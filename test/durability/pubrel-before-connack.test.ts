/**
 * Regression (found by the crash loop): a session that resumes with an outbound QoS 2 message in
 * the PUBREL stage must get CONNACK before that PUBREL [MQTT-3.2.0-1]. mqtt.js with a persistent
 * incoming store deadlocked on the wrong order. The channel now holds PUBRELs in the same ordered
 * queue as deliveries until CONNACK (and any pending SUBACK) went out.
 */
import { afterEach, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, isEdgemq, startBroker, type RunningBroker } from '../helpers/broker.js';

const running: RunningBroker[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const b of running.splice(0)) await b.kill();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

type Packet = mqttPacket.Packet & Record<string, unknown>;

async function raw(port: number) {
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  socket.on('error', () => {});
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  const packets: Packet[] = [];
  const waiters: Array<() => void> = [];
  parser.on('packet', (p) => {
    packets.push(p as Packet);
    waiters.splice(0).forEach((w) => w());
  });
  socket.on('data', (d) => parser.parse(d));
  return {
    packets,
    send: (p: Record<string, unknown>) => socket.write(mqttPacket.generate(p as unknown as mqttPacket.Packet, { protocolVersion: 5 })),
    async until(pred: (p: Packet) => boolean, ms = 5000): Promise<Packet> {
      const deadline = Date.now() + ms;
      for (;;) {
        const hit = packets.find(pred);
        if (hit) return hit;
        if (Date.now() > deadline) throw new Error(`no matching packet; got ${packets.map((p) => p.cmd).join(',')}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 50);
        });
      }
    },
    destroy: () => socket.destroy(),
  };
}

const CONNECT = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: false, clientId: 'rel-sub', keepalive: 0, properties: { sessionExpiryInterval: 3600 } };

/** Leaves session `rel-sub` with one outbound QoS 2 message in the PUBREL stage (PUBREC sent, no PUBCOMP). */
async function sessionWithPendingPubrel(url: string, port: number): Promise<void> {
  const sub = await raw(port);
  sub.send(CONNECT);
  await sub.until((p) => p.cmd === 'connack');
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'rel/t', qos: 2 }] });
  await sub.until((p) => p.cmd === 'suback');
  const pub = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
  await pub.publishAsync('rel/t', 'once', { qos: 2 });
  await pub.endAsync();
  const publish = await sub.until((p) => p.cmd === 'publish');
  sub.send({ cmd: 'pubrec', messageId: publish.messageId });
  await sub.until((p) => p.cmd === 'pubrel');
  sub.destroy(); // gone before PUBCOMP
  await new Promise((r) => setTimeout(r, 200));
}

async function firstPacketOnResume(port: number): Promise<string[]> {
  const again = await raw(port);
  again.send(CONNECT);
  await again.until((p) => p.cmd === 'pubrel');
  await again.until((p) => p.cmd === 'connack');
  const order = again.packets.map((p) => p.cmd as string);
  again.destroy();
  return order;
}

describe.skipIf(!isEdgemq)('PUBREL after CONNACK on session resume', () => {
  it('a resumed session with a pending PUBREL gets CONNACK first [MQTT-3.2.0-1] (no restart)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'edgemq-pubrel-'));
    dirs.push(dir);
    const b = await startBroker({ dataDir: dir });
    running.push(b);
    await sessionWithPendingPubrel(b.url, b.port);
    expect((await firstPacketOnResume(b.port))[0]).toBe('connack');
  });

  it('a session recovered after SIGKILL with a pending PUBREL gets CONNACK first [MQTT-3.2.0-1]', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'edgemq-pubrel-'));
    dirs.push(dir);
    const port = await freePort();
    let b = await startBroker({ dataDir: dir, port });
    running.push(b);
    await sessionWithPendingPubrel(b.url, port);
    await b.kill('SIGKILL');
    b = await startBroker({ dataDir: dir, port });
    running.push(b);
    expect((await firstPacketOnResume(port))[0]).toBe('connack');
  });
});
