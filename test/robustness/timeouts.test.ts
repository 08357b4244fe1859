/**
 * Idle and stalled sockets are closed: no CONNECT within the connect timeout (edgemq `spec.edgemq.connectTimeoutSeconds`,
 * 1 s here), a CONNECT that stops half way, and a connected client that goes silent past 1.5 x its keep-alive
 * (MQTT-3.1.2-22; v5 may say so with DISCONNECT 0x8D Keep Alive timeout). Bounds are generous: these tests check that
 * the close happens (and not too early), not how fast.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { RunningBroker } from '../helpers/broker.js';
import * as K from './helpers/packets.js';
import { RawConn, summary } from './helpers/raw-conn.js';
import { brokerAlive, HealthyClient, isMosquitto, startTarget } from './helpers/target.js';

const CONNECT_TIMEOUT_S = 1;

let broker: RunningBroker;
let healthy: HealthyClient;

beforeAll(async () => {
  broker = await startTarget({ edgemq: { connectTimeoutSeconds: CONNECT_TIMEOUT_S } });
  healthy = await HealthyClient.connect(broker.port, 5, 'timeouts-healthy');
}, 30_000);

afterAll(async () => {
  await healthy?.end();
  await broker?.stop();
});

async function othersServed(): Promise<void> {
  if (!brokerAlive(broker)) throw new Error(`broker died:\n${broker.output()}`);
  await healthy.roundTrip();
  if (healthy.disconnects) throw new Error('healthy client was disconnected');
}

// Independent connections with distinct client ids: run concurrently to keep the wall time down.
describe.concurrent('connect timeout', () => {
  // Mosquitto has no CONNECT timeout: it keeps such sockets open indefinitely, so these are edgemq-only.
  it.skipIf(isMosquitto)('a socket that sends nothing is closed without any packet', async ({ expect }) => {
    const c = await RawConn.open(broker.port, 5);
    await c.waitClosed(CONNECT_TIMEOUT_S * 1000 + 5000);
    expect(c.received.length, c.describe()).toBe(0);
    await othersServed();
  }, 15_000);

  it.skipIf(isMosquitto)('a socket that sends half a CONNECT and stalls is closed without any packet', async ({ expect }) => {
    const c = await RawConn.open(broker.port, 5);
    const full = K.connect(5, 'half-connect');
    c.send(full.subarray(0, Math.floor(full.length / 2)));
    await c.waitClosed(CONNECT_TIMEOUT_S * 1000 + 5000);
    expect(c.received.length, c.describe()).toBe(0);
    await othersServed();
  }, 15_000);

  it.skipIf(isMosquitto)('a socket that sends only the first byte of a CONNECT is closed', async ({ expect }) => {
    const c = await RawConn.open(broker.port, 4);
    c.send([0x10]);
    await c.waitClosed(CONNECT_TIMEOUT_S * 1000 + 5000);
    expect(c.received.length, c.describe()).toBe(0);
  }, 15_000);

  it('a client that connects promptly is not affected by the connect timeout', async ({ expect }) => {
    const c = await RawConn.connected(broker.port, 5, 'prompt', { keepalive: 60 });
    await new Promise((r) => setTimeout(r, CONNECT_TIMEOUT_S * 1000 + 500));
    await c.ping();
    expect(c.closed).toBe(false);
    c.destroy();
  }, 15_000);
});

describe.concurrent.each([5, 4] as const)('MQTT %s keep-alive', (v) => {
  /** Keep-alive in force: the client's, unless a v5 CONNACK sets Server Keep Alive. */
  function keepAliveOf(c: RawConn, asked: number): number {
    const ack = c.packets.find((p) => p.cmd === 'connack');
    return (ack?.properties as { serverKeepAlive?: number } | undefined)?.serverKeepAlive ?? asked;
  }

  it('a client silent after CONNECT (keep-alive 1 s) is closed after ~1.5 s', async ({ expect }) => {
    const c = await RawConn.connected(broker.port, v, `silent-v${v}`, { keepalive: 1 });
    const ka = keepAliveOf(c, 1);
    const t0 = Date.now();
    await c.waitClosed(ka * 1500 + 10_000);
    const elapsed = (c.closedAt ?? Date.now()) - t0;
    // MQTT-3.1.2-22: not before one keep-alive period has passed.
    expect(elapsed).toBeGreaterThanOrEqual(ka * 1000 - 100);
    const after = c.afterConnack().map(summary);
    // v5: the close may carry DISCONNECT 0x8D (Keep Alive timeout); nothing else is acceptable.
    expect([[], ...(v === 5 ? [['disconnect(0x8d)']] : [])], c.describe()).toContainEqual(after);
    await othersServed();
  }, 20_000);

  it('a client that sends half a PUBLISH after CONNECT and stalls is closed by keep-alive', async ({ expect }) => {
    // A partial packet is not "an MQTT Control Packet received" (MQTT-3.1.2-22), so it does not reset the timer.
    const c = await RawConn.connected(broker.port, v, `halfpub-v${v}`, { keepalive: 1 });
    const ka = keepAliveOf(c, 1);
    const p = K.publishRaw(v, { topic: 'stall/t', payload: Buffer.alloc(200, 1) });
    c.send(p.subarray(0, 50));
    // Trickle nothing more; the packet never completes. (Mosquitto takes ~6 s here: it counts the partial read as
    // activity and checks keep-alive coarsely.)
    await c.waitClosed(ka * 1500 + 10_000);
    const after = c.afterConnack().map(summary);
    expect([[], ...(v === 5 ? [['disconnect(0x8d)']] : [])], c.describe()).toContainEqual(after);
    await othersServed();
  }, 20_000);

  it('a client that pings every 0.5 s (keep-alive 1 s) stays connected for 3 s', async ({ expect }) => {
    const c = await RawConn.connected(broker.port, v, `pinger-v${v}`, { keepalive: 1 });
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 500));
      await c.ping();
    }
    expect(c.closed).toBe(false);
    c.destroy();
  }, 15_000);
});
