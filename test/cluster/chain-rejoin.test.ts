/**
 * Replicas that leave a chain and come back (issue 15), in-process: two back ends over real TCP,
 * each with a map the test sets, and ClusterClients as front ends.
 *
 * 1. A head cut off the network comes back as the tail of its own chain. While it was cut, it
 * accepted commands it could never commit (its successor did not hear them), and its successor
 * became head and went on under its own sequence numbers. When the map reaches the old head again,
 * every command it accepted must be answered (refused: the front end retries keyed ones on the new
 * head) and it must rejoin like a new replica (state transfer), acknowledging what it stores.
 * Before the fix the old head kept `head`: it committed the cut-off commands on its own store and
 * answered them as successes (the chain never had them), linked with its own sequence number (the
 * new head re-sent "the rest" onto a diverged state), and never acknowledged anything upstream, so
 * the new head, which waited for its new tail, never answered another command: the checker's
 * stuck handover barrier and publish stalls. The old head here misses the map that dropped it (as
 * a cut-off process does) and sees only the one that puts it back at the tail.
 *
 * 2. A state transfer into a durable store: the store takes the memory of the snapshot it writes
 * (moves it to its writer thread), and the restored state's message payloads were views into that
 * memory. They read as empty afterwards, and the next snapshot of that replica threw, so when it
 * headed the chain no successor could ever take a state transfer from it (the chain stalled).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BackendNode } from '../../src/cluster/backend/backend-node.js';
import { ClusterClient } from '../../src/cluster/client/cluster-client.js';
import type { ReplyHandler } from '../../src/cluster/client/node-link.js';
import { evenSlots, type ClusterMap } from '../../src/cluster/map.js';
import { RC } from '../../src/mqtt/reason-codes.js';
import type { PublishCommand } from '../../src/partition/commands.js';
import { freePort } from '../helpers/broker.js';
import { until } from '../helpers/cluster.js';
import { SettableMap, silentLog as log, startBackend, stopAfterEach } from './fixtures/in-process.js';

const TOKEN = 'demoted-head-test-token-0123456789';

const stop = stopAfterEach();


/** Answers to unkeyed QoS 1 publishes (refused ones are final: no retry against another head). */
class Answers implements ReplyHandler {
  readonly got: Array<{ ok: boolean; value: unknown }> = [];
  reply(_ctx: unknown, _tag: number, ok: boolean, value: unknown): void {
    this.got.push({ ok, value });
  }
}

const publish = (n: number): PublishCommand => ({ type: 'publish', now: 0, clientId: 'publisher', message: { topic: `t/${n}`, payload: Buffer.from(String(n)), qos: 1, retain: false, origin: 'publisher' } });

describe('chain: replicas that leave and come back', () => {
  it('refuses what it never committed, takes a state transfer and acknowledges; the new head commits again', async () => {
    const ids = ['backend-0', 'backend-1'];
    const nodes: ClusterMap['nodes'] = {};
    for (const id of ids) nodes[id] = { id, role: 'backend', host: '127.0.0.1', internalPort: await freePort() };
    const at = (epoch: number, chain: string[]): ClusterMap => ({ epoch, slots: evenSlots(1), partitions: [{ id: 0, chain }], nodes });
    const first = at(1, ['backend-0', 'backend-1']);
    const sources = [new SettableMap(first), new SettableMap(first)];
    const dir = mkdtempSync(path.join(tmpdir(), 'edgemq-demoted-head-'));
    stop(() => rmSync(dir, { recursive: true, force: true }));
    for (const id of ids) mkdirSync(path.join(dir, id));
    const backends: BackendNode[] = [];
    for (const [i, id] of ids.entries()) {
      const b = await startBackend(id, nodes[id]!.internalPort, sources[i]!, TOKEN, { dataDir: path.join(dir, id) });
      stop(() => b.stop());
      backends.push(b);
    }
    const [oldHead, newHead] = backends as [BackendNode, BackendNode];
    const view = (b: BackendNode) => b.views().find((v) => v.id === 0)!;
    await until('the tail took its state transfer', () => newHead.ready());

    // A front end on the first map: its commands go to backend-0 and commit through the chain.
    const oldSide = new SettableMap(first);
    const fe0 = new ClusterClient({ nodeId: 'frontend-0', role: 'frontend', token: TOKEN, instance: 1, mapSource: oldSide, log });
    fe0.start();
    stop(() => fe0.stop());
    await fe0.whenReady();
    const before = new Answers();
    fe0.command(0, publish(0), before);
    await until('a command committed through the chain', () => before.got.length === 1);
    expect(before.got[0]!.ok).toBe(true);

    // backend-0 is "cut off": the map drops it, but only backend-1 hears (backend-0 misses it, as a
    // process off the network does). backend-1 heads alone; backend-0 still takes commands as head
    // from a front end whose link to it stayed up, and can commit none of them.
    sources[1]!.set(at(2, ['backend-1']));
    await until('backend-1 heads the chain', () => view(newHead).position === 0);
    const cutOff = new Answers();
    const k = 10;
    const appliedBefore = view(oldHead).applied;
    for (let n = 1; n <= k; n++) fe0.command(0, publish(n), cutOff);
    await until('the old head applied the cut-off commands', () => view(oldHead).applied >= appliedBefore + k);
    await new Promise((r) => setTimeout(r, 100));
    expect(cutOff.got).toEqual([]); // not committed: nobody acknowledged them

    // The coordinator puts backend-0 back at the tail; backend-1 hears first and waits for its new tail.
    const last = at(3, ['backend-1', 'backend-0']);
    sources[1]!.set(last);
    const fe1 = new ClusterClient({ nodeId: 'frontend-1', role: 'frontend', token: TOKEN, instance: 2, mapSource: new SettableMap(last), log });
    fe1.start();
    stop(() => fe1.stop());
    await fe1.whenReady();
    const after = new Answers();
    // More commands than the old head applied while cut off: its sequence number falls inside the new head's.
    for (let n = 0; n < k + 20; n++) fe1.command(0, publish(100 + n), after);
    await until('the new head got past the old head', () => view(newHead).applied >= view(oldHead).applied);

    // Now backend-0 hears the map that puts it at the tail (it never saw the one that dropped it).
    sources[0]!.set(last);
    await until('the old head answered every command it accepted', () => cutOff.got.length === k);
    for (const a of cutOff.got) {
      expect(a.ok).toBe(false);
      expect((a.value as [number, string])[0]).toBe(RC.ServerUnavailable);
    }
    await until('the new head committed with its new tail', () => after.got.length === k + 20);
    expect(after.got.every((a) => a.ok)).toBe(true);
    await until('the old head rejoined as tail after a state transfer', () => oldHead.ready() && view(oldHead).position === 1);
    const more = new Answers();
    fe1.command(0, publish(999), more);
    await until('a command committed through the new chain', () => more.got.length === 1);
    expect(more.got[0]!.ok).toBe(true);
    // The tail applied exactly the new head's history: its sequence number is the head's.
    await until('the tail caught up with the head', () => view(oldHead).applied === view(newHead).committed);
  });

  it('a replica that took a state transfer into its durable store keeps the payloads and passes its state on', async () => {
    const ids = ['backend-0', 'backend-1'];
    const nodes: ClusterMap['nodes'] = {};
    for (const id of ids) nodes[id] = { id, role: 'backend', host: '127.0.0.1', internalPort: await freePort() };
    const at = (epoch: number, chain: string[]): ClusterMap => ({ epoch, slots: evenSlots(1), partitions: [{ id: 0, chain }], nodes });
    const source = new SettableMap(at(1, ['backend-0']));
    const dir = mkdtempSync(path.join(tmpdir(), 'edgemq-chain-transfer-'));
    stop(() => rmSync(dir, { recursive: true, force: true }));
    for (const id of ids) mkdirSync(path.join(dir, id));
    const backends: BackendNode[] = [];
    for (const id of ids) {
      const b = await startBackend(id, nodes[id]!.internalPort, source, TOKEN, { dataDir: path.join(dir, id), durability: 'os' });
      stop(() => b.stop());
      backends.push(b);
    }
    const [first, second] = backends as [BackendNode, BackendNode];
    const fe = new ClusterClient({ nodeId: 'frontend-0', role: 'frontend', token: TOKEN, instance: 1, mapSource: source, log });
    fe.start();
    stop(() => fe.stop());
    await fe.whenReady();
    const kept = new Answers();
    fe.command(0, { ...publish(0), message: { topic: 'kept', payload: Buffer.from('a retained payload'), qos: 1, retain: true, origin: 'publisher' } }, kept);
    await until('the retained message stored', () => kept.got.length === 1);
    expect(kept.got[0]!.ok).toBe(true);

    // backend-1 joins and takes the state into its own store; then it heads the chain alone.
    source.set(at(2, ['backend-0', 'backend-1']));
    await until('backend-1 took its state transfer', () => second.ready() && second.views().some((v) => v.id === 0));
    source.set(at(3, ['backend-1']));
    await until('the partition followed on backend-1', () => fe.ready());
    const retained = new Answers();
    fe.request(0, 'retained', 0, retained);
    await until('the retained messages listed', () => retained.got.length === 1);
    expect(retained.got[0]!.value).toEqual([{ topic: 'kept', qos: 1, bytes: Buffer.byteLength('a retained payload') }]);

    // backend-0 comes back at the tail: backend-1 must send it a snapshot of the state it installed.
    source.set(at(4, ['backend-1', 'backend-0']));
    const after = new Answers();
    fe.command(0, publish(1), after);
    await until('a command committed through the new chain', () => after.got.length === 1);
    expect(after.got[0]!.ok).toBe(true);
    await until('backend-0 took its state transfer', () => first.ready() && first.views().find((v) => v.id === 0)?.position === 1);
  });
});
