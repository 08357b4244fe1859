/**
 * `$SYS/` broker statistics are readable and published periodically (edgemq: spec.edgemq.sysIntervalSeconds).
 */
import { describe, it, expect } from 'vitest';
import { useConformanceBroker, connect, collect, subscribe, close, vname, VERSIONS, isEdgemq } from './helpers/clients.js';

const broker = useConformanceBroker({ edgemq: { sysIntervalSeconds: 1 } });

describe('13 $SYS topics', { timeout: 15000 }, () => {
  for (const v of VERSIONS) {
    it(`[MQTT-4.7.2-1] subscribing to $SYS/# yields broker statistics within the stats interval (${vname(v)})`, async () => {
      const c = await connect(broker.url, { protocolVersion: v });
      const got = collect(c);
      await subscribe(c, '$SYS/#', { qos: 0 });
      // Mosquitto serves retained $SYS topics at once; edgemq publishes every second here.
      await got.waitFor(1, 3500);
      expect(got.messages.every((m) => m.topic.startsWith('$SYS/'))).toBe(true);
      await close(c);
    });
  }

  it('[MQTT-4.7.2-1] $SYS/broker/uptime is published (and updated every interval on edgemq)', async () => {
    const c = await connect(broker.url, { protocolVersion: 5 });
    const got = collect(c);
    await subscribe(c, '$SYS/broker/uptime', { qos: 0 });
    const [m] = await got.waitFor(1, 3500);
    expect(m.topic).toBe('$SYS/broker/uptime');
    expect(m.payload).toMatch(/\d+/);
    if (isEdgemq) await got.waitFor(2, 3500);
    await close(c);
  });

  it.skipIf(!isEdgemq)('edgemq publishes client and message counters under $SYS/broker/', async () => {
    const c = await connect(broker.url, { protocolVersion: 5 });
    const got = collect(c);
    await subscribe(c, '$SYS/broker/#', { qos: 0 });
    await got.settle(2500);
    const topics = new Set(got.messages.map((m) => m.topic));
    expect(topics.has('$SYS/broker/clients/connected')).toBe(true);
    expect(topics.has('$SYS/broker/messages/received')).toBe(true);
    expect(topics.has('$SYS/broker/messages/sent')).toBe(true);
    await close(c);
  });
});
