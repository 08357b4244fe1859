/**
 * CONNECT / CONNACK: acceptance, client identifiers, protocol version, first/second CONNECT.
 */
import { describe, it, expect } from 'vitest';
import { useConformanceBroker, connectWithAck, close, uid, vname, VERSIONS, isEdgemq } from './helpers/clients.js';
import { rawConnect, RawClient, connackCode } from './helpers/raw.js';

const broker = useConformanceBroker();

describe('01 connect', { timeout: 15000 }, () => {
  for (const v of VERSIONS) {
    it(`[MQTT-3.2.2-2] CONNACK success with Session Present 0 on clean start (${vname(v)})`, async () => {
      const { client, connack } = await connectWithAck(broker.url, { protocolVersion: v, clean: true });
      expect(connack.returnCode ?? connack.reasonCode ?? 0).toBe(0);
      expect(connack.sessionPresent).toBe(false);
      await close(client);
    });

    it(`[MQTT-3.1.3-6] empty client id with clean start is accepted (${vname(v)})`, async () => {
      const { client, connack } = await rawConnect(broker.port, { protocolVersion: v, clientId: '', clean: true });
      expect(connackCode(connack)).toBe(0);
      expect(connack.sessionPresent).toBe(false);
      if (v === 5) {
        // [MQTT-3.1.3-7] the server returns the identifier it assigned.
        const assigned = connack.properties?.assignedClientIdentifier;
        expect(typeof assigned).toBe('string');
        expect((assigned as string).length).toBeGreaterThan(0);
      }
      await client.end();
    });

    it(`[MQTT-3.1.0-1] a first packet other than CONNECT closes the connection (${vname(v)})`, async () => {
      const c = await RawClient.open(broker.port, v);
      c.send({ cmd: 'pingreq' });
      await c.expectClose();
      expect(c.received.filter((p) => p.cmd === 'pingresp')).toHaveLength(0);
    });

    it(`[MQTT-3.1.0-2] a second CONNECT is a protocol error and closes the connection (${vname(v)})`, async () => {
      const id = uid();
      const { client } = await rawConnect(broker.port, { protocolVersion: v, clientId: id });
      client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: v, clean: true, clientId: id, keepalive: 60 });
      // 0x82 Protocol Error. Mosquitto closes without DISCONNECT; edgemq sends the reason code.
      await client.expectDisconnect(0x82, { strict: isEdgemq });
    });

    it(`[MQTT-3.1.2-3] reserved flag in CONNECT set to 1 closes the connection (${vname(v)})`, async () => {
      const c = await RawClient.open(broker.port, v);
      // CONNECT, protocol name MQTT, level v, flags 0x03 (clean start + reserved bit), keep alive 60, client id "r"
      const body = [0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, v, 0x03, 0x00, 0x3c];
      if (v === 5) body.push(0x00); // empty properties
      body.push(0x00, 0x01, 0x72);
      c.sendRaw([0x10, body.length, ...body]);
      await c.expectClose();
      const connack = c.received.find((p) => p.cmd === 'connack');
      // The server MUST NOT accept it: either no CONNACK or a CONNACK with a failure code (0x81 Malformed Packet).
      if (connack) expect(connackCode(connack as never)).not.toBe(0);
    });
  }

  it('[MQTT-3.1.3-8] v3.1.1 empty client id with clean session 0 gets CONNACK 0x02 Identifier rejected', async () => {
    const c = await RawClient.open(broker.port, 4);
    // mqtt-packet refuses to encode this, so the CONNECT is written by hand: flags 0x00 (clean session 0), id "".
    const body = [0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x00, 0x00, 0x3c, 0x00, 0x00];
    c.sendRaw([0x10, body.length, ...body]);
    const connack = await c.expectPacket('connack');
    expect(connackCode(connack as never)).toBe(0x02);
    await c.expectClose();
  });

  it('[MQTT-3.1.2-2] unsupported protocol level is answered with CONNACK 0x01 (3.1.1 form) or 0x84 and closed', async () => {
    const c = await RawClient.open(broker.port, 4);
    // Protocol level 7 (unknown), clean start, keep alive 60, client id "x".
    const body = [0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x07, 0x02, 0x00, 0x3c, 0x00, 0x01, 0x78];
    c.sendRaw([0x10, body.length, ...body]);
    await c.expectClose();
    const connack = c.received.find((p) => p.cmd === 'connack');
    expect(connack).toBeDefined();
    expect([0x01, 0x84]).toContain(connackCode(connack as never));
  });

  it('[MQTT-3.2.2-16] v5 assigned client identifiers are unique', async () => {
    const a = await rawConnect(broker.port, { protocolVersion: 5, clientId: '' });
    const b = await rawConnect(broker.port, { protocolVersion: 5, clientId: '' });
    expect(a.connack.properties?.assignedClientIdentifier).not.toBe(b.connack.properties?.assignedClientIdentifier);
    await a.client.end();
    await b.client.end();
  });

  it('[MQTT-3.1.4-1] v5 CONNECT with a malformed property (duplicate Session Expiry Interval) is refused', async () => {
    const c = await RawClient.open(broker.port, 5);
    // properties: 0x11 SEI=10 twice (10 bytes) -> Protocol Error
    const props = [0x11, 0, 0, 0, 10, 0x11, 0, 0, 0, 10];
    const body = [0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x05, 0x02, 0x00, 0x3c, props.length, ...props, 0x00, 0x01, 0x78];
    c.sendRaw([0x10, body.length, ...body]);
    await c.expectClose();
    const connack = c.received.find((p) => p.cmd === 'connack');
    if (connack) expect([0x81, 0x82]).toContain(connackCode(connack as never));
  });
});
