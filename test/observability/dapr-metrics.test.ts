/** `edgemq dapr-components --metrics-port`: probes and the gRPC calls daprd made, scraped and parsed. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComponentClient, startComponents, type Components } from '../dapr/daprd.js';
import { freePort } from '../helpers/broker.js';
import { scrape, value } from '../helpers/prometheus.js';

let components: Components;
let metricsUrl: string;

beforeAll(async () => {
  const port = await freePort();
  components = await startComponents(['--state', 'plant-state', '--metrics-port', String(port)]);
  metricsUrl = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await components?.stop();
});

describe('dapr-components metrics', () => {
  it('is ready once the sockets serve, and counts daprd calls per socket and method', async () => {
    expect((await fetch(`${metricsUrl}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${metricsUrl}/readyz`)).text()).toBe('ready\n');
    const before = await scrape(`${metricsUrl}/metrics`);
    const labels = { socket: 'plant-state', method: 'StateStore/Features' };
    expect(value(before, 'edgemq_dapr_component_calls', labels)).toBe(0);
    const client = new ComponentClient(components.socket('plant-state'), 'i1');
    try {
      for (let i = 0; i < 3; i++) await client.call('StateStore', 'Features', {});
    } finally {
      client.close();
    }
    const after = await scrape(`${metricsUrl}/metrics`);
    expect(value(after, 'edgemq_dapr_component_calls', labels)).toBe(3);
    expect(after.get('edgemq_dapr_component_calls')!.metrics[0]!.labels).toMatchObject({ role: 'dapr-components' });
    expect(after.has('edgemq_process_resident_memory_bytes')).toBe(true);
  });
});
