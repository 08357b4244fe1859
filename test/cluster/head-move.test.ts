/**
 * A partition's head moves to another node while the front end's link to the old head stays up
 * (the old head was cut off the network, not killed: no socket error tells the front end). The
 * front end must handle it as a lost link: close the connections of the partition's sessions
 * (commands it sent the old head unanswered, acks and releases among them, may be lost; the clients
 * resume on the new head) and follow the partition's filter feed from the new head.
 *
 * In-process: two back ends (memory durability) over real TCP, one ClusterClient as the front end,
 * a map changed by the test.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { BackendNode } from '../../src/cluster/backend/backend-node.js';
import { ClusterClient } from '../../src/cluster/client/cluster-client.js';
import { evenSlots, type ClusterMap, type MapSource } from '../../src/cluster/map.js';
import { freePort } from '../helpers/broker.js';

const TOKEN = 'head-move-test-token-0123456789abc';
const log = pino({ level: 'silent' });

class SettableMap implements MapSource {
  private readonly listeners = new Set<(m: ClusterMap) => void>();
  constructor(private map: ClusterMap) {}
  current(): ClusterMap {
    return this.map;
  }
  onChange(l: (m: ClusterMap) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  set(map: ClusterMap): void {
    this.map = map;
    for (const l of this.listeners) l(map);
  }
}

const stops: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
});

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('front end: a partition head that moves without a broken link', () => {
  it('closes the connections of its sessions and follows its filter feed from the new head', async () => {
    const map: ClusterMap = { epoch: 1, slots: evenSlots(2), partitions: [], nodes: {} };
    for (let i = 0; i < 2; i++) {
      const id = `backend-${i}`;
      map.partitions.push({ id: i, chain: [id] });
      map.nodes[id] = { id, role: 'backend', host: '127.0.0.1', internalPort: await freePort() };
    }
    const source = new SettableMap(map);
    for (let i = 0; i < 2; i++) {
      const id = `backend-${i}`;
      const node = new BackendNode({ id, host: '127.0.0.1', internalPort: map.nodes[id]!.internalPort, dataDir: '/nonexistent', token: TOKEN, mapSource: source, log, limits: { queueLength: 100, queueStrategy: 'DropOldest', sharedStrategy: 'round-robin' }, durability: 'memory', frontendGraceMs: 100 });
      await node.start();
      stops.push(() => node.stop());
    }
    const down: Array<[number, string]> = [];
    const fe = new ClusterClient({ nodeId: 'frontend-0', role: 'frontend', token: TOKEN, instance: 1, mapSource: source, log, partitionDown: (p, reason) => down.push([p, reason]) });
    fe.start();
    stops.push(() => fe.stop());
    await fe.whenReady();
    // Partition 0 moves to backend-1; backend-0 keeps running and our link to it stays up.
    source.set({ ...map, epoch: 2, partitions: [{ id: 0, chain: ['backend-1'] }, { id: 1, chain: ['backend-1'] }] });
    expect(down).toEqual([[0, 'head moved from backend-0 to backend-1']]);
    expect(fe.ready()).toBe(false);
    await until(() => fe.ready(), 'partition 0 followed on its new head');
  });
});
