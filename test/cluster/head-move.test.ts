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
import { describe, expect, it } from 'vitest';
import { ClusterClient } from '../../src/cluster/client/cluster-client.js';
import { SettableMap, startBackend, onePartitionPerBackend, silentLog as log, stopAfterEach } from './fixtures/in-process.js';
import { until } from '../helpers/cluster.js';

const TOKEN = 'head-move-test-token-0123456789abc';

const stop = stopAfterEach();


describe('front end: a partition head that moves without a broken link', () => {
  it('closes the connections of its sessions and follows its filter feed from the new head', async () => {
    const map = await onePartitionPerBackend(2);
    const source = new SettableMap(map);
    for (let i = 0; i < 2; i++) {
      const id = `backend-${i}`;
      const node = await startBackend(id, map.nodes[id]!.internalPort, source, TOKEN);
      stop(() => node.stop());
    }
    const down: Array<[number, string]> = [];
    const fe = new ClusterClient({ nodeId: 'frontend-0', role: 'frontend', token: TOKEN, instance: 1, mapSource: source, log, partitionDown: (p, reason) => down.push([p, reason]) });
    fe.start();
    stop(() => fe.stop());
    await fe.whenReady();
    // Partition 0 moves to backend-1; backend-0 keeps running and our link to it stays up.
    source.set({ ...map, epoch: 2, partitions: [{ id: 0, chain: ['backend-1'] }, { id: 1, chain: ['backend-1'] }] });
    expect(down).toEqual([[0, 'head moved from backend-0 to backend-1']]);
    expect(fe.ready()).toBe(false);
    await until('partition 0 followed on its new head', () => fe.ready());
  });
});
