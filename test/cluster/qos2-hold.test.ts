/**
 * The QoS 2 loss window of issue 15: a front end that dies after the publisher's partition took
 * the packet id and before the subscriber's partition got the message. The client sends the
 * publish again through another front end; the publisher's partition says "already held", and
 * that resend must still reach the subscriber's partition, exactly once.
 *
 * In-process and deterministic: two back ends (memory durability) over real TCP, each holding one
 * partition, and two ClusterClients as the front ends. Front end A "dies" (its client stops) at the
 * instant its publish would go to the subscriber's partition.
 */
import { describe, expect, it } from 'vitest';
import { ClusterClient } from '../../src/cluster/client/cluster-client.js';
import type { ReplyHandler } from '../../src/cluster/client/node-link.js';
import { FixedMapSource } from '../../src/cluster/map.js';
import type { Delivery, Message, PublishResult } from '../../src/core/types.js';
import type { Command } from '../../src/partition/commands.js';
import { clientIdIn } from './fixtures/fixed-cluster.js';
import { startBackend, onePartitionPerBackend, silentLog as log, stopAfterEach } from './fixtures/in-process.js';
import { until } from '../helpers/cluster.js';

const TOKEN = 'qos2-hold-test-token-0123456789abc';
const SPAN = 2 ** 32;

const stop = stopAfterEach();


async function setup() {
  const map = await onePartitionPerBackend(2);
  const source = new FixedMapSource(map);
  for (let i = 0; i < 2; i++) {
    const id = `backend-${i}`;
    const node = await startBackend(id, map.nodes[id]!.internalPort, source, TOKEN);
    stop(() => node.stop());
  }
  const delivered: Array<{ connectionId: number; d: Delivery }> = [];
  const frontEnd = async (name: string, instance: number): Promise<ClusterClient> => {
    const c = new ClusterClient({
      nodeId: name,
      role: 'frontend',
      token: TOKEN,
      instance,
      mapSource: source,
      log,
      deliveries: { deliver: (connectionId, d) => delivered.push({ connectionId, d }), release() {}, kick() {} },
    });
    c.start();
    stop(() => c.stop());
    await c.whenReady();
    return c;
  };
  return { map, delivered, frontEnd };
}

function call<T>(send: (h: ReplyHandler) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    send({ reply: (_c, _t, ok, value) => (ok ? resolve(value as T) : reject(new Error(`refused: ${JSON.stringify(value)}`))) });
  });
}

const connect = (clientId: string, connectionId: number): Command => ({
  type: 'connect',
  now: 0,
  clientId,
  connectionId,
  protocolVersion: 4,
  cleanStart: false,
  sessionExpirySeconds: 0xffffffff,
  receiveMaximum: 100,
});

const message = (origin: string, payload: string): Message => ({ topic: 'hold/x', payload: Buffer.from(payload), qos: 2, retain: false, origin });

describe('QoS 2 across partitions when a front end dies mid-publish', () => {
  async function scene() {
    const { map, delivered, frontEnd } = await setup();
    const b = await frontEnd('frontend-b', 2);
    // The subscriber's session in partition 1, the publisher's in partition 0.
    const sub = clientIdIn(map, 1, 'sub');
    const pub = clientIdIn(map, 0, 'pub');
    await call((h) => b.command(1, connect(sub, 2 * SPAN + 1), h));
    await call((h) => b.command(1, { type: 'subscribe', now: 0, clientId: sub, connectionId: 2 * SPAN + 1, subs: [{ filter: 'hold/#', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0 }] }, h));
    const a = await frontEnd('frontend-a', 1);
    await until('both front ends know the subscription', () => a.index.entry('hold/#') !== undefined && b.index.entry('hold/#') !== undefined);
    await call((h) => a.command(0, connect(pub, 1 * SPAN + 1), h));
    const got = (payload: string) => delivered.filter((x) => x.d.message.payload.toString() === payload).length;
    /** Publishes a marker behind everything else and waits for it: what was going to arrive has arrived. */
    const settle = async (packetId: number, connectionId: number) => {
      const marker = `marker-${packetId}`;
      await call((h) => b.publish(pub, message(pub, marker), packetId, h, undefined, 0, connectionId));
      await until(marker, () => got(marker) === 1);
    };
    return { a, b, pub, got, settle };
  }

  it('routes the resend through another front end to the partitions the dead one never reached, once', async () => {
    const { a, b, pub, got, settle } = await scene();
    // Front end A: the publisher's partition takes packet id 7, then A dies before sending on.
    const real = a.command.bind(a);
    let died = false;
    a.command = (partition, cmd, h, ctx, tag) => {
      if (partition === 1 && cmd.type === 'publish') {
        died = true;
        a.stop();
        return;
      }
      real(partition, cmd, h, ctx, tag);
    };
    const first = call<PublishResult>((h) => a.publish(pub, message(pub, 'm7'), 7, h, undefined, 0, 1 * SPAN + 1)).catch(() => undefined);
    await until('front end A at the fan-out', () => died);
    void first;
    // The client reconnects through front end B and sends packet 7 again (DUP), with its PUBREC lost once more.
    await call((h) => b.command(0, connect(pub, 2 * SPAN + 2), h));
    const again = await call<PublishResult>((h) => b.publish(pub, message(pub, 'm7'), 7, h, undefined, 0, 2 * SPAN + 2));
    expect(again.matched).toBe(1);
    await call<PublishResult>((h) => b.publish(pub, message(pub, 'm7'), 7, h, undefined, 0, 2 * SPAN + 2));
    await settle(8, 2 * SPAN + 2);
    expect(got('m7')).toBe(1);
  });

  it('does not deliver twice when the first front end did reach every partition', async () => {
    const { a, b, pub, got, settle } = await scene();
    await call<PublishResult>((h) => a.publish(pub, message(pub, 'm9'), 9, h, undefined, 0, 1 * SPAN + 1));
    a.stop();
    await call((h) => b.command(0, connect(pub, 2 * SPAN + 2), h));
    await call<PublishResult>((h) => b.publish(pub, message(pub, 'm9'), 9, h, undefined, 0, 2 * SPAN + 2));
    await settle(10, 2 * SPAN + 2);
    expect(got('m9')).toBe(1);
  });
});
