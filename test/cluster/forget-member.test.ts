/**
 * The supervisor removes the membership of a back end it saw die (EtcdStore.forgetMember), so its
 * chains re-form at once instead of after the 3 s lease. Only the record of that very process goes:
 * a restart that registered already (another pid) is never removed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { EtcdStore } from '../../src/cluster/store/etcd-store.js';
import type { Registration } from '../../src/cluster/store/store.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

const log = pino({ level: 'silent' });
let etcd: TestEtcd;
let store: EtcdStore;
const regs: Registration[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
  store = new EtcdStore({ endpoints: [etcd.endpoint], log });
}, 30_000);
afterAll(async () => {
  for (const r of regs) await r.close().catch(() => {});
  await store?.close();
  await etcd?.stop();
});

const node = (pid: number) => ({ id: 'backend-7', role: 'backend' as const, host: '127.0.0.1', internalPort: 1, pid });
const ids = async () => (await store.members()).map((m) => `${m.id}/${m.pid}`);

describe('EtcdStore.forgetMember', () => {
  it('removes the record of the dead process only', async () => {
    regs.push(await store.register(node(111), 30));
    expect(await store.forgetMember('backend-7', 222)).toBe(false);
    expect(await ids()).toEqual(['backend-7/111']);
    expect(await store.forgetMember('backend-7', 111)).toBe(true);
    expect(await ids()).toEqual([]);
    // The restart registered: the dead process's pid no longer matches.
    regs.push(await store.register(node(333), 30));
    expect(await store.forgetMember('backend-7', 111)).toBe(false);
    expect(await ids()).toEqual(['backend-7/333']);
    expect(await store.forgetMember('nobody', 1)).toBe(false);
  });
});
