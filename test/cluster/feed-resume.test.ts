/**
 * A front end's subscription index across a broken link (in-process back end over real TCP): the
 * link comes back and the feed resumes after the last change applied (no snapshot); the back end
 * restarts and the feed, a new one, is taken as a snapshot.
 */
import { describe, expect, it } from 'vitest';
import { BackendNode } from '../../src/cluster/backend/backend-node.js';
import { ClusterClient } from '../../src/cluster/client/cluster-client.js';
import type { NodeLink } from '../../src/cluster/client/node-link.js';
import { FixedMapSource, evenSlots, type ClusterMap } from '../../src/cluster/map.js';
import type { Command } from '../../src/partition/commands.js';
import { freePort } from '../helpers/broker.js';
import { until } from '../helpers/cluster.js';
import { startBackend, silentLog as log, stopAfterEach } from './fixtures/in-process.js';

const TOKEN = 'feed-resume-test-token-0123456789';
const sub = { qos: 1 as const, noLocal: false, retainAsPublished: false, retainHandling: 0 as const, subscriptionId: 0 };

const stop = stopAfterEach();

async function backend(map: ClusterMap, port: number): Promise<BackendNode> {
  const node = await startBackend('backend-0', port, new FixedMapSource(map), TOKEN, { frontendGraceMs: 2000 });
  stop(() => node.stop());
  return node;
}

async function frontEnd(map: ClusterMap, instance: number): Promise<ClusterClient> {
  const c = new ClusterClient({ nodeId: `frontend-${instance}`, role: 'frontend', token: TOKEN, instance, mapSource: new FixedMapSource(map), log });
  stop(() => c.stop());
  c.start();
  await c.whenReady();
  return c;
}

function run(c: ClusterClient, cmd: Command): Promise<unknown> {
  return new Promise((resolve, reject) =>
    c.command(0, cmd, { reply: (_x, _t, ok, value) => (ok ? resolve(value) : reject(new Error(JSON.stringify(value)))) }),
  );
}

describe('filter feed across a broken link', () => {
  it('resumes after the last change applied when the link comes back; takes a snapshot from a restarted back end', async () => {
    const port = await freePort();
    const map: ClusterMap = {
      epoch: 1,
      slots: evenSlots(1),
      partitions: [{ id: 0, chain: ['backend-0'] }],
      nodes: { 'backend-0': { id: 'backend-0', role: 'backend', host: '127.0.0.1', internalPort: port } },
    };
    const node = await backend(map, port);
    const a = await frontEnd(map, 7);
    const b = await frontEnd(map, 8);
    expect([a.feedSnapshots, a.feedResumes]).toEqual([1, 0]);
    const conn = 8 * 2 ** 32 + 1;
    await run(b, { type: 'connect', now: 0, clientId: 's', connectionId: conn, protocolVersion: 5, cleanStart: true, sessionExpirySeconds: 0, receiveMaximum: 10 });
    await run(b, { type: 'subscribe', now: 0, clientId: 's', connectionId: conn, subs: [{ ...sub, filter: 'before/#' }] });
    await until('front end A has before/#', () => a.index.entry('before/#'));

    // A's link breaks; the index changes meanwhile (B's commands), and A re-dials.
    const link = (a as unknown as { nodes: Map<string, NodeLink> }).nodes.get('backend-0')!;
    (link as unknown as { link: { close(): void } }).link.close();
    await run(b, { type: 'subscribe', now: 0, clientId: 's', connectionId: conn, subs: [{ ...sub, filter: 'during/#' }] });
    await run(b, { type: 'unsubscribe', now: 0, clientId: 's', connectionId: conn, filters: ['before/#'] });
    await until('A resumed', () => a.feedResumes === 1 && a.ready());
    expect(a.feedSnapshots).toBe(1);
    await until('A has the changes made while its link was down', () => a.index.entry('during/#') && !a.index.entry('before/#'));
    expect(a.index.seqOf(0)).toBe(b.index.seqOf(0));

    // The back end restarts (memory durability: empty): a new feed, so a snapshot, which drops during/#.
    await node.stop();
    await backend(map, port);
    await until('A took a snapshot of the restarted back end', () => a.feedSnapshots === 2 && a.ready());
    expect(a.feedResumes).toBe(1);
    expect(a.index.entry('during/#')).toBeUndefined();
  });
});
