/**
 * Holds back the PUBACKs mqtt.js sends for QoS 1 messages a bridge client receives, so that the
 * source broker learns of a message only once its destination acknowledged it (store-and-forward
 * without a store of our own: the source keeps the message in the bridge's session until then).
 *
 * mqtt.js acknowledges a QoS 1 PUBLISH as soon as its 'message' handlers ran, and its packet pump
 * waits for that PUBACK to be written before it reads the next packet. `customHandleAcks` could delay
 * it, but only by stalling the pump, which would allow one message in flight per route. So the
 * PUBACK is taken out of `_sendPacket` instead (the pump goes on), and written later by `ack()`.
 * This reaches into mqtt.js internals (`_sendPacket`, stable since 4.x), which is why it is all here.
 */
import type { MqttClient, Packet } from 'mqtt';

type SendPacket = (packet: Packet, cb?: (err?: Error) => void, cbStorePut?: unknown, noStore?: boolean) => void;
interface Internals {
  _sendPacket: SendPacket;
}

export class HeldAcks {
  private readonly send: SendPacket;

  constructor(private readonly client: MqttClient) {
    const internals = client as unknown as Internals;
    const original = internals._sendPacket.bind(client);
    this.send = original;
    internals._sendPacket = (packet, cb, cbStorePut, noStore) => {
      if (packet.cmd === 'puback') {
        cb?.();
        return;
      }
      original(packet, cb, cbStorePut, noStore);
    };
  }

  /** Acknowledges one message now; does nothing once the connection it arrived on is gone. */
  ack(messageId: number): void {
    if (!this.client.connected) return;
    this.send({ cmd: 'puback', messageId } as Packet, undefined, undefined, true);
  }
}
