import { describe, expect, it } from 'vitest';
import type mqttPacket from 'mqtt-packet';
import { embeddedDefaultConfig } from '../../../src/config/load.js';
import type { ClientLimits } from '../../../src/config/model.js';
import { negotiateConnect } from '../../../src/frontend/connect-terms.js';
import { reasonOf } from '../../helpers/reason-code.js';

const base: ClientLimits = embeddedDefaultConfig().broker.clients;
const limits = (over: Partial<ClientLimits> = {}): ClientLimits => ({ ...base, ...over });
const connect = (over: Partial<mqttPacket.IConnectPacket>): mqttPacket.IConnectPacket =>
  ({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId: 'c', ...over }) as mqttPacket.IConnectPacket;

describe('negotiateConnect', () => {
  it('[MQTT-3.1.3-6] v5 empty client id: one is assigned and reported', () => {
    const t = negotiateConnect(connect({ clientId: '' }), limits());
    expect(t.assigned).toBe(true);
    expect(t.clientId).toMatch(/^edgemq-/);
  });

  it('[MQTT-3.1.3-8] v3.1.1 empty client id with clean session 0: Client Identifier not valid', () => {
    expect(reasonOf(() => negotiateConnect(connect({ protocolVersion: 4, clientId: '', clean: false }), limits()))).toBe(0x85);
  });

  it('client ids under $edgemq/ are reserved for the broker', () => {
    expect(reasonOf(() => negotiateConnect(connect({ clientId: '$edgemq/statestore' }), limits()))).toBe(0x85);
  });

  it('session expiry is capped, and the cap is visible against what was asked', () => {
    const t = negotiateConnect(connect({ properties: { sessionExpiryInterval: 3600 } }), limits({ maxSessionExpirySeconds: 60 }));
    expect([t.sessionExpiryAsked, t.sessionExpiry]).toEqual([3600, 60]);
  });

  it('3.1.1 persistent sessions live until the cap; clean sessions end at disconnect', () => {
    expect(negotiateConnect(connect({ protocolVersion: 4, clean: false }), limits({ maxSessionExpirySeconds: 86400 })).sessionExpiry).toBe(86400);
    expect(negotiateConnect(connect({ protocolVersion: 4, clean: true }), limits()).sessionExpiry).toBe(0);
  });

  it('[MQTT-3.2.2-21] keep-alive above the maximum (or 0) gets Server Keep Alive in v5', () => {
    expect(negotiateConnect(connect({ keepalive: 120 }), limits({ maxKeepAliveSeconds: 60 })).serverKeepAlive).toBe(60);
    expect(negotiateConnect(connect({ keepalive: 0 }), limits({ maxKeepAliveSeconds: 60 })).serverKeepAlive).toBe(60);
    expect(negotiateConnect(connect({ keepalive: 30 }), limits({ maxKeepAliveSeconds: 60 })).serverKeepAlive).toBeUndefined();
  });

  it('Receive Maximum and outbound aliases are the smaller of the client and the broker', () => {
    const t = negotiateConnect(connect({ properties: { receiveMaximum: 500, topicAliasMaximum: 1000 } }), limits({ maxReceiveMaximum: 100, outboundTopicAliasMaximum: 16 }));
    expect([t.receiveMaximum, t.outboundAliasMaximum]).toEqual([100, 16]);
  });

  it('a will with a wildcard topic is refused with Topic Name invalid', () => {
    const will = { topic: 'a/#', payload: Buffer.from('x'), qos: 0, retain: false } as mqttPacket.IConnectPacket['will'];
    expect(reasonOf(() => negotiateConnect(connect({ will }), limits()))).toBe(0x90);
  });
});
