/**
 * A load-generator worker thread: runs some of a messaging run's publishers (publishers.ts) so the
 * generator is not one saturated core. Driven by messages from loadgen.ts: 'start', 'stop',
 * 'close'; reports 'connected', and at 'stop' its event-loop utilization over the measured window.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { PublisherSet, type PublisherPlan } from './publishers.js';

interface Data {
  plan: PublisherPlan;
  recv: SharedArrayBuffer;
  sent: SharedArrayBuffer;
  /** The main thread's performance.timeOrigin: send times are on its clock. */
  origin: number;
}

const d = workerData as Data;
const offset = performance.timeOrigin - d.origin;
const set = new PublisherSet(d.plan, new Int32Array(d.recv), new Int32Array(d.sent), () => performance.now() + offset);
let elu0 = performance.eventLoopUtilization();

parentPort!.on('message', async (m: { cmd: string }) => {
  if (m.cmd === 'measure') {
    elu0 = performance.eventLoopUtilization();
  } else if (m.cmd === 'start') {
    set.start();
  } else if (m.cmd === 'stop') {
    set.stop();
    parentPort!.postMessage({ cmd: 'stopped', elu: performance.eventLoopUtilization(elu0).utilization, stalls: set.stalls });
  } else if (m.cmd === 'close') {
    for (const c of set.connections) c.sock.destroy();
    parentPort!.postMessage({ cmd: 'closed' });
  }
});

try {
  await set.connect();
  parentPort!.postMessage({ cmd: 'connected' });
} catch (e) {
  parentPort!.postMessage({ cmd: 'error', message: (e as Error).message });
}
