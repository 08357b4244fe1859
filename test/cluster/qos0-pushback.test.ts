/**
 * QoS 0 fan-in on a cluster (issue #14): the single node's promise holds. A subscriber that keeps
 * draining loses nothing, however fast the publishers go; only a subscriber that stopped draining is
 * shed, at its own front end, without holding the others back. Here publishers and subscribers share
 * the one front end, which writes QoS 0 to its own subscribers itself (direct-qos0.ts) and holds the
 * publishers back as one node does; across front ends, where the links carry it and the back end
 * stops reading front ends while its deliveries to one are behind, see qos0-across-frontends.test.ts.
 *
 * Real processes (1 front end, 1 back end, as the bench's `edgemq-cluster`), raw sockets on both
 * sides so nothing in a client library paces the traffic: publishers write everything at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FixedCluster } from './fixtures/fixed-cluster.js';
import { blast, settled, startStallCluster, subscriber } from './fixtures/raw-qos0.js';

let cluster: FixedCluster;
let port: number;
const RUN = process.pid;

beforeAll(async () => {
  cluster = await startStallCluster(1);
  port = Number(new URL(cluster.url(0)).port);
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

function logs(): string {
  return [...cluster.frontends, ...cluster.backends].map((p) => p.out).join('\n');
}

describe('cluster QoS 0 pushback (1 front end, 1 back end)', () => {
  it('fan-in: 16 publishers blasting QoS 0 without waiting, a subscriber that reads as fast as it can gets every message', async () => {
    const topic = `q0/${RUN}/fanin`;
    // 64 MB from 16 sockets: resumed together, they give the front end more than 16 MiB to read in
    // one turn, past the links' shedding limit of the earlier code (which lost 881 and 1,383 here).
    const PUBLISHERS = 16;
    const EACH = 4000;
    const SIZE = 1024;
    const sub = await subscriber(port, `q0-fanin-sub-${RUN}`, topic);
    await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) => blast(port, `q0-pub-${i}-${RUN}`, i, topic, EACH, SIZE)));
    await settled(() => sub.seen.size, PUBLISHERS * EACH);
    sub.socket.destroy();
    expect(PUBLISHERS * EACH - sub.seen.size, `lost; logs:\n${logs().split('\n').filter((l) => /shed|stall/.test(l)).join('\n')}`).toBe(0);
    expect(logs(), 'the last-resort QoS 0 guard of a link fired').not.toMatch(/QoS 0 (publishes|deliveries) to a (back|front) end shed/);
  }, 90_000);

  it('a stalled QoS 0 subscriber is shed at its front end; the healthy one beside it gets >= 99 %', async () => {
    const topic = `q0/${RUN}/stall`;
    const PUBLISHERS = 4;
    const EACH = 10_000;
    const SIZE = 1024;
    const stalled = await subscriber(port, `q0-stalled-${RUN}`, topic);
    stalled.socket.pause();
    const healthy = await subscriber(port, `q0-healthy-${RUN}`, topic, 256 * 1024, 10);
    await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) => blast(port, `q0-pub-${i}-${RUN}`, i, topic, EACH, SIZE)));
    await settled(() => healthy.seen.size, PUBLISHERS * EACH);
    healthy.socket.destroy();
    stalled.socket.destroy();
    expect(healthy.seen.size / (PUBLISHERS * EACH), `healthy got ${healthy.seen.size}/${PUBLISHERS * EACH}`).toBeGreaterThanOrEqual(0.99);
    // The stall is logged with the client id, by the front end that holds the connection.
    expect(cluster.frontends[0].out).toContain(`q0-stalled-${RUN}`);
  }, 90_000);
});
