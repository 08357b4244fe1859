/**
 * A chain never loses its last replica holding the state (issue 15's known limit), in-process: two
 * back ends over real TCP with `os` durability, a front end (ClusterClient), and the coordinator's
 * own planning (`planMap`) run on the membership the test changes, as leases and registrations
 * would change it in etcd; each back end reports its installed transfers as its membership record does.
 *
 * The sequence of the 600 s checker run that lost three partitions for good: the tail restarts and
 * takes its state transfer, and before it is installed the head's lease expires. Before the fix the
 * map named the joiner alone (it refuses to serve an incomplete state), then put the old head back
 * behind it, where it waited for a transfer from a replica that had none: unavailable for good.
 * Now the map marks the joiner (`joining`) and the head keeps its place: the partition is
 * unavailable until the head is back, which recovers from its own log and serves every
 * acknowledged message; the joiner then takes its transfer and, once reported, may head the chain.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BackendNode } from '../../src/cluster/backend/backend-node.js';
import { ClusterClient } from '../../src/cluster/client/cluster-client.js';
import type { ReplyHandler } from '../../src/cluster/client/node-link.js';
import { planMap } from '../../src/cluster/coordinator.js';
import type { ClusterNode } from '../../src/cluster/map.js';
import type { PublishCommand } from '../../src/partition/commands.js';
import { freePort } from '../helpers/broker.js';
import { until } from '../helpers/cluster.js';
import { SettableMap, silentLog as log, stopAfterEach } from './fixtures/in-process.js';

const TOKEN = 'complete-replica-test-token-0123456';
const N = 20;


const stop = stopAfterEach();


class Answers implements ReplyHandler {
  readonly got: Array<{ ok: boolean; value: unknown }> = [];
  reply(_ctx: unknown, _tag: number, ok: boolean, value: unknown): void {
    this.got.push({ ok, value });
  }
}

const retain = (n: number): PublishCommand => ({ type: 'publish', now: 0, clientId: 'publisher', message: { topic: `kept/${n}`, payload: Buffer.from(`payload ${n}`), qos: 1, retain: true, origin: 'publisher' } });

describe('chain: the last replica holding the state', () => {
  it('waits for it when its lease expires during the joiner’s transfer, and loses nothing', async () => {
    const ids = ['backend-0', 'backend-1'] as const;
    const records: Record<string, ClusterNode> = {};
    for (const id of ids) records[id] = { id, role: 'backend', host: '127.0.0.1', internalPort: await freePort() };
    const dir = mkdtempSync(path.join(tmpdir(), 'edgemq-complete-'));
    stop(() => rmSync(dir, { recursive: true, force: true }));
    for (const id of ids) mkdirSync(path.join(dir, id));

    // The coordinator: the live membership turned into the next map, seen by everybody running.
    let members = new Set<string>(ids);
    let map = planMap(null, [...members].map((id) => records[id]!), { partitions: 1, redundancy: 2 })!;
    const sources = new Set<SettableMap>();
    const replan = () => {
      const next = planMap(map, [...members].map((id) => records[id]!), { partitions: 1, redundancy: 2 });
      if (!next) return;
      map = next;
      for (const s of sources) s.set(map);
    };
    const chain = () => map.partitions[0]!.chain;

    const running = new Map<string, BackendNode>();
    const start = async (id: string) => {
      records[id] = { ...records[id]!, installed: undefined }; // a new process registers without reports
      delete records[id]!.installed;
      const source = new SettableMap(map);
      sources.add(source);
      const b = new BackendNode({
        id,
        host: '127.0.0.1',
        internalPort: records[id]!.internalPort,
        dataDir: path.join(dir, id),
        token: TOKEN,
        mapSource: source,
        log,
        limits: { queueLength: 100, queueStrategy: 'DropOldest', sharedStrategy: 'round-robin' },
        durability: 'os',
        frontendGraceMs: 100,
        // As cli/roles.ts: the report goes into this process's membership record.
        installed: (p, epoch) => {
          if (running.get(id) !== b) return;
          records[id] = { ...records[id]!, installed: { ...records[id]!.installed, [String(p)]: epoch } };
          replan();
        },
      });
      running.set(id, b);
      await b.start();
      return { b, stop: async () => {
        sources.delete(source);
        running.delete(id);
        await b.stop();
      } };
    };

    let head = await start('backend-0');
    let tail = await start('backend-1');
    stop(() => tail.stop());
    stop(() => head.stop());
    await until('the first tail took its state transfer', () => tail.b.ready());

    const feSource = new SettableMap(map);
    sources.add(feSource);
    const fe = new ClusterClient({ nodeId: 'frontend-0', role: 'frontend', token: TOKEN, instance: 1, mapSource: feSource, log });
    fe.start();
    stop(() => fe.stop());
    await fe.whenReady();
    const acked = new Answers();
    for (let n = 0; n < N; n++) fe.command(0, retain(n), acked);
    await until('the retained messages acknowledged', () => acked.got.length === N);
    expect(acked.got.every((a) => a.ok)).toBe(true);

    // The tail is killed and restarts; the map puts it back at the tail, in transfer. Its
    // predecessor (the head) is frozen meanwhile: the transfer cannot complete.
    await tail.stop();
    members.delete('backend-1');
    replan();
    expect(chain()).toEqual(['backend-0']);
    await head.stop(); // frozen: its lease still runs
    tail = await start('backend-1');
    members.add('backend-1');
    replan();
    expect(chain()).toEqual(['backend-0', 'backend-1']);
    expect(map.partitions[0]!.joining).toEqual({ 'backend-1': map.epoch });
    await new Promise((r) => setTimeout(r, 300));
    expect(tail.b.ready()).toBe(false);

    // The head's lease expires while the joiner is still in transfer: the chain waits for the head.
    members.delete('backend-0');
    replan();
    expect(chain()[0]).toBe('backend-0');

    // The head comes back (the supervisor's restart): it recovers its own log and heads the chain.
    members.add('backend-0');
    replan();
    head = await start('backend-0');
    expect(chain()).toEqual(['backend-0', 'backend-1']);

    const retained = async (): Promise<string[] | undefined> => {
      const a = new Answers();
      fe.request(0, 'retained', 0, a);
      const deadline = Date.now() + 1000;
      while (a.got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const got = a.got[0];
      return got?.ok ? (got.value as Array<{ topic: string }>).map((m) => m.topic).sort() : undefined;
    };
    const all = Array.from({ length: N }, (_, n) => `kept/${n}`).sort();
    await until('the partition served again with every acknowledged message', async () => (await retained())?.length === N);
    expect(await retained()).toEqual(all);

    // The joiner takes its transfer and reports it: the map stops marking it, and now it may head.
    await until('the joiner installed its transfer and the map knows it', () => tail.b.ready() && map.partitions[0]!.joining === undefined);
    await head.stop();
    members.delete('backend-0');
    replan();
    expect(chain()).toEqual(['backend-1']);
    await until('the former joiner serves every acknowledged message as head', async () => (await retained())?.length === N);
    expect(await retained()).toEqual(all);
  });
});
