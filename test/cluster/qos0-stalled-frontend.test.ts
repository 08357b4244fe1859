/**
 * The back end's last-resort guard: a front end that stops taking its deliveries (SIGSTOP) holds
 * the other front ends back only until the back end sees it take no bytes for 3 s; from then on
 * its QoS 0 deliveries are shed (logged with the peer) and the others go on: a healthy subscriber
 * on the other front end loses nothing (no head-of-line blocking across front ends).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixedCluster, type FixedCluster } from './fixtures/fixed-cluster.js';
import { blast, settled, subscriber } from './fixtures/raw-qos0.js';

let cluster: FixedCluster;
const RUN = process.pid;

beforeAll(async () => {
  cluster = await startFixedCluster({ frontends: 2, partitions: 1 });
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

describe('cluster: a stalled front end (F2 P1)', () => {
  it('is shed by the back end after 3 s without progress; a subscriber on the other front end gets every message', async () => {
    const topic = `q0/${RUN}/stalled-fe`;
    const port0 = Number(new URL(cluster.url(0)).port);
    const port1 = Number(new URL(cluster.url(1)).port);
    const backend = cluster.backends[0];
    const onStopped = await subscriber(port1, `q0-on-stopped-fe-${RUN}`, topic);
    const healthy = await subscriber(port0, `q0-healthy-fe0-${RUN}`, topic);
    const fe1 = cluster.frontends[1].proc;
    process.kill(fe1.pid!, 'SIGSTOP');
    const PUBLISHERS = 8;
    const EACH = 2500;
    const SIZE = 1024; // 20 MB: past what the kernel buffers of the link to the stopped front end hold
    await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) => blast(port0, `q0-fe0-pub-${i}-${RUN}`, i, topic, EACH, SIZE)));
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
