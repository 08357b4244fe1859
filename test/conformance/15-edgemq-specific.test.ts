/**
 * edgemq decisions the spec leaves open: reserved client ids.
 */
import { describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { isEdgemq } from '../helpers/broker.js';
import { useConformanceBroker } from './helpers/clients.js';

const broker = useConformanceBroker();

function connackOf(protocolVersion: 4 | 5, clientId: string): Promise<number> {
  return new Promise((resolve) => {
    const c = mqtt.connect(broker.url, { protocolVersion, clientId, reconnectPeriod: 0 });
    c.once('connect', () => {
      c.end(true);
      resolve(0);
    });
    c.once('error', (err) => {
      c.end(true);
      resolve((err as { code?: number }).code ?? -1);
    });
  });
}

describe.skipIf(!isEdgemq)('15 edgemq-specific behaviour', () => {
  it('client ids under $edgemq/ are reserved for the broker itself: CONNACK 0x85 (v5) / 2 (v3.1.1)', async () => {
    expect(await connackOf(5, '$edgemq/statestore')).toBe(0x85);
    expect(await connackOf(4, '$edgemq/statestore')).toBe(2);
  });
});
