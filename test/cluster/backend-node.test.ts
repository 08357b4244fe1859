/**
 * A back-end node in this process (memory durability) spoken to over real TCP: the refusals a
 * front end must be able to rely on (a partition that is not here, a partition moved here in a
 * newer epoch than the sender knows, garbage in a frame) and that the node keeps serving others.
 */
import { describe, expect, it } from 'vitest';
import { BackendNode } from '../../src/cluster/backend/backend-node.js';
import { NodeLink, type ReplyHandler } from '../../src/cluster/client/node-link.js';
import { evenSlots, type ClusterMap } from '../../src/cluster/map.js';
import { FrameType } from '../../src/cluster/transport/protocol.js';
import { freePort } from '../helpers/broker.js';
import { SettableMap, startBackend, stopAfterEach } from './fixtures/in-process.js';

const TOKEN = 'backend-node-test-token-0123456789';

const stop = stopAfterEach();

async function setup(): Promise<{ source: SettableMap; port: number; node: BackendNode; map: ClusterMap }> {
  const port = await freePort();
  const map: ClusterMap = {
    epoch: 1,
    slots: evenSlots(2),
    partitions: [
      { id: 0, chain: ['backend-0'] },
      { id: 1, chain: ['backend-9'] },
    ],
    nodes: { 'backend-0': { id: 'backend-0', role: 'backend', host: '127.0.0.1', internalPort: port } },
  };
  const source = new SettableMap(map);
  const node = await startBackend('backend-0', port, source, TOKEN);
  stop(() => node.stop());
  return { source, port, node, map };
}

function client(port: number, epoch: () => number, keyedWaitMs?: number): Promise<NodeLink> {
  return new Promise((resolve) => {
    const l = new NodeLink('backend-0', {
      token: TOKEN,
      hello: { node: 'frontend-t', role: 'frontend', instance: 5 },
      epoch,
      address: () => ({ host: '127.0.0.1', port }),
      waitMs: 500,
      ...(keyedWaitMs !== undefined ? { keyedWaitMs: () => keyedWaitMs } : {}),
      events: { up: (n) => resolve(n), down: () => {}, frame: () => {} },
    });
    stop(() => l.stop());
    l.start();
  });
}

function kv(link: NodeLink, partition: number): Promise<{ ok: boolean; value: unknown }> {
  return new Promise((resolve) => {
    const h: ReplyHandler = { reply: (_c, _t, ok, value) => resolve({ ok, value }) };
    link.command(partition, { type: 'kv', now: 0, request: { clientId: 'c', op: { verb: 'GET', key: Buffer.from('k') } } }, h);
  });
}

describe('back-end node', () => {
  it('serves its partition, refuses one it does not hold with 0x88 naming it', async () => {
    const { port } = await setup();
    const link = await client(port, () => 1);
    const ok = await kv(link, 0);
    expect(ok.ok).toBe(true);
    expect(ok.value).toMatchObject({ type: 'blob', value: null });
    const refused = await kv(link, 1);
    expect(refused.ok).toBe(false);
    expect(refused.value).toEqual([0x88, 'partition 1 is not served by backend-0']);
  });

  it('refuses commands of an older epoch for a partition moved here while running', async () => {
    const { port, source, map, node } = await setup();
    source.set({ ...map, epoch: 5, partitions: [map.partitions[0], { id: 1, chain: ['backend-0'] }] });
    for (let i = 0; i < 100 && !node.partitions().includes(1); i++) await new Promise((r) => setTimeout(r, 20));
    expect(node.partitions()).toEqual([0, 1]);
    const stale = await client(port, () => 4);
    const refused = await kv(stale, 1);
    expect(refused.value).toEqual([0x88, 'command of map epoch 4 for partition 1, placed here in epoch 5']);
    // Partition 0 was held from the start: a sender a few epochs behind is still right about it.
    expect((await kv(stale, 0)).ok).toBe(true);
    const current = await client(port, () => 5);
    expect((await kv(current, 1)).ok).toBe(true);
  });

  it('drops a link that sends garbage and keeps serving the others; in-flight requests of a lost link are refused', async () => {
    const { port } = await setup();
    const good = await client(port, () => 1);
    const bad = await client(port, () => 1);
    // A COMMANDS frame whose record is not commands, then a request in the same write: the node
    // closes that link at the garbage, so the request is refused on the client's side, not lost.
    (bad as unknown as { link: { send(t: number, e: number, b: Buffer): void } }).link.send(FrameType.Commands, 1, Buffer.from([0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 7, 0x7f]));
    const refused = await new Promise<{ ok: boolean; value: unknown }>((resolve) => bad.request(0, 'stats', 0, { reply: (_c, _t, ok, value) => resolve({ ok, value }) }));
    expect(refused.ok).toBe(false);
    expect((refused.value as [number, string])[1]).toMatch(/went away before answering/);
    for (let i = 0; i < 100 && bad.up; i++) await new Promise((r) => setTimeout(r, 20));
    expect(bad.up).toBe(false);
    expect((await kv(good, 0)).ok).toBe(true);
  });

  it('sends a keyed append refused before it was applied again until the node heads its partition; unkeyed ones are refused', async () => {
    const { port, source, map, node } = await setup();
    const link = await client(port, () => source.current().epoch, 5000);
    const publish = (key?: string) =>
      new Promise<{ ok: boolean; value: unknown }>((resolve) => {
        const message = { topic: 'k/t', payload: Buffer.from('x'), qos: 1 as const, retain: false, origin: 'p' };
        link.command(1, { type: 'publish', now: 0, clientId: 'p', message, ...(key ? { key } : {}) }, { reply: (_c, _t, ok, value) => resolve({ ok, value }) });
      });
    expect(await publish()).toEqual({ ok: false, value: [0x88, 'partition 1 is not served by backend-0'] });
    const keyed = publish('frontend-t/5/1');
    await new Promise((r) => setTimeout(r, 300));
    source.set({ ...map, epoch: 5, partitions: [map.partitions[0], { id: 1, chain: ['backend-0'] }] });
    for (let i = 0; i < 100 && !node.partitions().includes(1); i++) await new Promise((r) => setTimeout(r, 20));
    expect(await keyed).toEqual({ ok: true, value: { matched: 0, backlog: 0 } });
  });

  it('refuses a keyed append after its wait limit when no head takes it', async () => {
    const { port } = await setup();
    const link = await client(port, () => 1, 400);
    const message = { topic: 'k/t', payload: Buffer.from('x'), qos: 1 as const, retain: false, origin: 'p' };
    const r = await new Promise<{ ok: boolean; value: unknown }>((resolve) =>
      link.command(1, { type: 'publish', now: 0, clientId: 'p', message, key: 'frontend-t/5/2' }, { reply: (_c, _t, ok, value) => resolve({ ok, value }) }),
    );
    expect(r).toEqual({ ok: false, value: [0x88, 'partition 1 is not served by backend-0'] });
  });
});
