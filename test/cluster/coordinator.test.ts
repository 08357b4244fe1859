/**
 * The coordinator against a real etcd: the first map, membership by leases (a SIGKILLed member
 * leaves the map when its lease expires, with a higher epoch), a returning back end keeps its
 * partitions, election with a SIGKILLed leader, fencing of a deposed leader's write, and the map
 * source keeping its last map while etcd itself is SIGKILLed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Coordinator, planMap } from '../../src/cluster/coordinator.js';
import { evenSlots, type ClusterMap } from '../../src/cluster/map.js';
import { EtcdStore } from '../../src/cluster/store/etcd-store.js';
import { StoreMapSource } from '../../src/cluster/store/map-source.js';
import { MEMBER_LEASE_TTL_SECONDS } from '../../src/cluster/timeouts.js';
import { repoRoot } from '../helpers/broker.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

const fixture = path.join(repoRoot, 'test/cluster/fixtures/member.ts');
const children: ChildProcess[] = [];

async function child(etcd: TestEtcd, ...args: string[]): Promise<ChildProcess> {
  const c = spawn(process.execPath, ['--import', 'tsx', fixture, etcd.endpoint, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(c);
  await new Promise<void>((resolve, reject) => {
    c.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    c.once('exit', (code) => reject(new Error(`fixture ${args.join(' ')} exited with ${code}`)));
  });
  return c;
}

async function sigkill(c: ChildProcess): Promise<void> {
  const exited = new Promise((r) => c.once('exit', r));
  c.kill('SIGKILL');
  await exited;
}

const log = pino({ level: 'silent' });

describe('planMap', () => {
  const be = (id: string) => ({ id, role: 'backend' as const, host: '127.0.0.1', internalPort: 1 });
  it('waits for the expected back ends, then places partitions on them in id order', () => {
    expect(planMap(null, [be('backend-1')], { partitions: 2 })).toBeNull();
    const m = planMap(null, [be('backend-10'), be('backend-2')], { partitions: 3, backends: 2 })!;
    expect(m.epoch).toBe(1);
    expect(m.slots).toEqual(evenSlots(3));
    expect(m.partitions.map((p) => p.chain)).toEqual([['backend-2'], ['backend-10'], ['backend-2']]);
  });
  it('keeps placement when a back end leaves and returns, and bumps the epoch only on a change', () => {
    const m1 = planMap(null, [be('backend-0'), be('backend-1')], { partitions: 2 })!;
    expect(planMap(m1, [be('backend-0'), be('backend-1')], { partitions: 2 })).toBeNull();
    const m2 = planMap(m1, [be('backend-0')], { partitions: 2 })!;
    expect(m2.epoch).toBe(2);
    expect(Object.keys(m2.nodes)).toEqual(['backend-0']);
    expect(m2.partitions).toEqual(m1.partitions);
    const m3 = planMap(m2, [be('backend-1'), be('backend-0')], { partitions: 2 })!;
    expect(m3.epoch).toBe(3);
    expect(m3.partitions).toEqual(m1.partitions);
  });
});

describe('coordinator on etcd', () => {
  let etcd: TestEtcd;
  let store: EtcdStore;
  let source: StoreMapSource;

  beforeAll(async () => {
    etcd = await startEtcd();
    store = new EtcdStore({ endpoints: [etcd.endpoint], log });
    source = await StoreMapSource.open(store, { log });
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await source?.close();
    await store?.close();
    await etcd?.stop();
  });

  let leader: ChildProcess;
  let standby: Coordinator;
  let backend1: ChildProcess;
  let first: ClusterMap;

  it('an elected coordinator writes the first map once the back ends have registered', async () => {
    leader = await child(etcd, 'coordinator', 'coordinator-a', '2');
    standby = new Coordinator({ id: 'coordinator-b', store: new EtcdStore({ endpoints: [etcd.endpoint], log }), partitions: 2, log });
    await child(etcd, 'member', 'backend-0', 'backend');
    expect(source.has()).toBe(false);
    backend1 = await child(etcd, 'member', 'backend-1', 'backend');
    await child(etcd, 'member', 'frontend-0', 'frontend');
    first = await source.waitFor((m) => m.nodes['frontend-0'] !== undefined && m.nodes['backend-1'] !== undefined);
    expect(first.partitions).toEqual([
      { id: 0, chain: ['backend-0'] },
      { id: 1, chain: ['backend-1'] },
    ]);
    expect(first.slots).toEqual(evenSlots(2));
    expect(standby.leading()).toBe(false);
  });

  it('a SIGKILLed back end leaves the map when its lease expires; back under the same id it keeps its partition', async () => {
    await sigkill(backend1);
    const gone = await source.waitFor((m) => m.nodes['backend-1'] === undefined);
    expect(gone.epoch).toBeGreaterThan(first.epoch);
    expect(gone.partitions).toEqual(first.partitions);
    backend1 = await child(etcd, 'member', 'backend-1', 'backend');
    const back = await source.waitFor((m) => m.nodes['backend-1'] !== undefined);
    expect(back.epoch).toBeGreaterThan(gone.epoch);
    expect(back.partitions).toEqual(first.partitions);
  });

  it('a SIGKILLed coordinator is replaced by the standby, which carries on with the map', async () => {
    await sigkill(leader);
    const before = source.current().epoch;
    await child(etcd, 'member', 'frontend-1', 'frontend');
    const m = await source.waitFor((x) => x.nodes['frontend-1'] !== undefined);
    expect(m.epoch).toBeGreaterThan(before);
    expect(standby.leading()).toBe(true);
    expect(m.partitions).toEqual(first.partitions);
  });

  it('refuses a map write from a deposed leader (fencing by the leadership lease)', async () => {
    const other = new EtcdStore({ endpoints: [etcd.endpoint], log });
    try {
      const cur = (await other.readMap())!;
      const fake = { id: 'coordinator-x', token: '12345', lost: new Promise<Error>(() => {}), resign: async () => {} };
      expect(await other.writeMap({ ...cur.value, epoch: cur.value.epoch + 1 }, cur.version, fake)).toBe(false);
      expect((await other.readMap())!.value.epoch).toBe(cur.value.epoch);
    } finally {
      await other.close();
    }
  });

  it('while etcd is SIGKILLed (longer than the leases) the map source keeps the last map; after restart leases and leadership are re-established and changes flow again', async () => {
    const last = source.current();
    await etcd.kill();
    // Beyond twice the lease TTL: every client declares its leases lost and must register / campaign again.
    await new Promise((r) => setTimeout(r, 2 * 1000 * MEMBER_LEASE_TTL_SECONDS + 1000));
    expect(source.current()).toBe(last);
    await etcd.restart();
    await child(etcd, 'member', 'frontend-2', 'frontend');
    const m = await source.waitFor((x) => x.nodes['frontend-2'] !== undefined);
    expect(m.epoch).toBeGreaterThan(last.epoch);
    // The members registered before the outage are still (again) in the map.
    expect(Object.keys(m.nodes)).toEqual(expect.arrayContaining(['backend-0', 'backend-1', 'frontend-0', 'frontend-1']));
    await standby.stop();
  }, 60_000); // the outage alone lasts 7 s; a loaded CI machine must not turn the rest into a timeout
});
