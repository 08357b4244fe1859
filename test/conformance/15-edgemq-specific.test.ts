/**
 * edgemq decisions the spec leaves open: reserved client ids.
 */
import { describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { isEdgemq } from '../helpers/broker.js';
import { useConformanceBroker } from './helpers/clients.js';
import { rawConnect } from './helpers/raw.js';

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

  // Found by the socket fuzzer: mqtt-packet decodes such a packet without complaint, and encoding
  // the PUBCOMP for its missing id used to put a bare fixed header on the wire.
  for (const [name, bytes] of [
    ['PUBREL', [0x62, 0x00]],
    ['PUBACK', [0x40, 0x00]],
  ] as const) {
    it(`a ${name} too short to hold a packet id is a Malformed Packet (DISCONNECT 0x81), never a partial reply`, async () => {
      const { client } = await rawConnect(broker.port, { protocolVersion: 5, clientId: `short-${name}` });
      client.sendRaw([...bytes]);
      await client.expectDisconnect(0x81, { strict: true });
    });
  }
});
