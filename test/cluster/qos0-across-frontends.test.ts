/**
 * QoS 0 across front ends (F3 P1, real processes): publishers on one front end, subscribers on the
 * other, where the subscriber's front end cannot pause the publishers itself.
 *
 * - A subscriber that keeps draining, slower than the publishers: its front end stops reading the
 *   back end's link while it is behind, the back end then stops reading front ends, and the
 *   publishers' front end holds them: it gets every message.
 * - A stalled subscriber beside a healthy one: the link is held only until the stall verdict, then
 *   the stalled one is shed at its front end and the healthy one gets >= 99 %.
 * - The back end's last-resort guard: a front end that stops taking its deliveries (SIGSTOP) holds
 *   the other front ends back only until the back end sees it take no bytes for a while; from then
 *   on its QoS 0 deliveries are shed (logged with the peer) and the others go on: a subscriber on
 *   another front end loses nothing. Publishers, stopped front end and that subscriber are on three
 *   different front ends: a subscriber beside its publishers gets QoS 0 from its own front end,
 *   without the back end (direct-qos0.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FixedCluster } from './fixtures/fixed-cluster.js';
import { blast, settled, startStallCluster, subscriber } from './fixtures/raw-qos0.js';

let cluster: FixedCluster;
let port0: number;
let port1: number;
let port2: number;
const RUN = process.pid;

beforeAll(async () => {
  cluster = await startStallCluster(3);
  port0 = Number(new URL(cluster.url(0)).port);
  port1 = Number(new URL(cluster.url(1)).port);
  port2 = Number(new URL(cluster.url(2)).port);
}, 60_000);

afterAll(async () => {
  const fe1 = cluster?.frontends[1]?.proc;
  if (fe1?.pid !== undefined && fe1.exitCode === null) process.kill(fe1.pid, 'SIGCONT');
  await cluster?.stop();
});

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return cond();
}

function frontEndLogs(): string {
  return cluster.frontends.map((p) => p.out).join('\n');
}

describe('cluster QoS 0 across front ends (F3 P1)', () => {
  it('a subscriber slower than the publishers on the other front end, but draining, gets every message', async () => {
    const topic = `q0/${RUN}/across`;
    const PUBLISHERS = 16;
    const EACH = 1000;
    const SIZE = 1024; // 16 MB, read at about 3 MB/s
    const sub = await subscriber(port0, `q0-across-sub-${RUN}`, topic, 256 * 1024, 80);
    await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) => blast(port1, `q0-across-pub-${i}-${RUN}`, i, topic, EACH, SIZE)));
    await settled(() => sub.seen.size, PUBLISHERS * EACH);
    sub.socket.destroy();
    const notes = frontEndLogs().split('\n').filter((l) => /stall|shed/.test(l));
    expect(PUBLISHERS * EACH - sub.seen.size, `lost; ${notes.join(' | ')}`).toBe(0);
  }, 90_000);

  it('a stalled subscriber is shed at its front end; the healthy one beside it gets >= 99 % from publishers on the other', async () => {
    const topic = `q0/${RUN}/across-stall`;
    const PUBLISHERS = 4;
    const EACH = 5000;
    const SIZE = 1024;
    const stalled = await subscriber(port0, `q0-across-stalled-${RUN}`, topic);
    stalled.socket.pause();
    const healthy = await subscriber(port0, `q0-across-healthy-${RUN}`, topic, 256 * 1024, 10);
    await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) => blast(port1, `q0-across-spub-${i}-${RUN}`, i, topic, EACH, SIZE)));
    await settled(() => healthy.seen.size, PUBLISHERS * EACH);
    healthy.socket.destroy();
    stalled.socket.destroy();
    expect(healthy.seen.size / (PUBLISHERS * EACH), `healthy got ${healthy.seen.size}/${PUBLISHERS * EACH}`).toBeGreaterThanOrEqual(0.99);
    expect(cluster.frontends[0].out).toContain(`q0-across-stalled-${RUN}`);
  }, 90_000);

  it('a stalled front end is shed by the back end once it takes no bytes; a subscriber on the other front end gets every message', async () => {
    const topic = `q0/${RUN}/stalled-fe`;
    const backend = cluster.backends[0];
    const onStopped = await subscriber(port1, `q0-on-stopped-fe-${RUN}`, topic);
    const healthy = await subscriber(port0, `q0-healthy-fe0-${RUN}`, topic);
    const fe1 = cluster.frontends[1].proc;
    process.kill(fe1.pid!, 'SIGSTOP');
    const PUBLISHERS = 8;
    const EACH = 2500;
    const SIZE = 1024; // 20 MB: past what the kernel buffers of the link to the stopped front end hold
    await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) => blast(port2, `q0-fe2-pub-${i}-${RUN}`, i, topic, EACH, SIZE)));
    await settled(() => healthy.seen.size, PUBLISHERS * EACH);
    expect(PUBLISHERS * EACH - healthy.seen.size, 'lost by the subscriber on the running front end').toBe(0);
    expect(backend.out).toContain('front end has not caught up with its deliveries');
    expect(backend.out).toMatch(/QoS 0 deliveries to a front end shed: the link is stalled/);
    // Running again, it drains what waited for it: the episode ends and is logged with its drops.
    process.kill(fe1.pid!, 'SIGCONT');
    expect(await until(() => backend.out.includes('QoS 0 deliveries to a front end: shedding ended'), 15_000), backend.out.slice(-2000)).toBe(true);
    healthy.socket.destroy();
    onStopped.socket.destroy();
  }, 90_000);
});
