/** A minimal Azure-style state store client over MQTT 5 request/response, for the tests. */
import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { encodeCommand, parseReply, type RespValue } from '../../src/statestore/resp3.js';

export const REQUEST_TOPIC = 'statestore/v1/FA9AE35F-2F64-47CD-9BFF-08E2B32A0FE8/command/invoke';

export interface Reply {
  raw: Buffer;
  value: RespValue;
  ts?: string;
}

export class DssClient {
  private readonly pending = new Map<string, (r: Reply) => void>();
  readonly notifications: { topic: string; payload: Buffer; ts?: string }[] = [];
  readonly responseTopic: string;

  private constructor(
    readonly mqtt: MqttClient,
    readonly clientId: string,
  ) {
    this.responseTopic = `clients/${clientId}/services/statestore/response`;
    mqtt.on('message', (topic, payload, packet) => {
      const ts = userProp(packet.properties?.userProperties, '__ts');
      if (topic.startsWith('clients/statestore/')) {
        this.notifications.push({ topic, payload, ts });
        return;
      }
      const corr = packet.properties?.correlationData?.toString('hex');
      const resolve = corr ? this.pending.get(corr) : undefined;
      if (!resolve) return;
      this.pending.delete(corr!);
      resolve({ raw: payload, value: parseReply(payload), ts });
    });
  }

  static async connect(url: string, clientId: string, opts: IClientOptions = {}): Promise<DssClient> {
    const c = await mqtt.connectAsync(url, { clientId, protocolVersion: 5, reconnectPeriod: 0, ...opts });
    const dss = new DssClient(c, clientId);
    await c.subscribeAsync(dss.responseTopic, { qos: 1 });
    return dss;
  }

  /** Sends raw payload bytes; resolves with the reply. */
  requestRaw(payload: Buffer, userProperties: Record<string, string> = {}, responseTopic = this.responseTopic): Promise<Reply> {
    const corr = randomBytes(16);
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no reply within 5 s')), 5000);
      this.pending.set(corr.toString('hex'), (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      // (mqtt.js sends nothing at all for an empty userProperties object, so leave it out then)
      const properties = { responseTopic, correlationData: corr, contentType: 'application/octet-stream' };
      this.mqtt.publish(REQUEST_TOPIC, payload, {
        qos: 1,
        properties: Object.keys(userProperties).length > 0 ? { ...properties, userProperties } : properties,
      });
    });
  }

  request(args: (string | Buffer)[], userProperties: Record<string, string> = {}): Promise<Reply> {
    return this.requestRaw(encodeCommand(args), userProperties);
  }

  end(): Promise<void> {
    return this.mqtt.endAsync();
  }
}

export function userProp(props: Record<string, string | string[]> | undefined, name: string): string | undefined {
  const v = props?.[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A client timestamp in the SDKs' layout. */
export function hlc(ms = Date.now(), counter = 0, node = 'test'): string {
  return `${String(ms).padStart(15, '0')}:${String(counter).padStart(5, '0')}:${node}`;
}

export function hexUpper(s: string | Buffer): string {
  return Buffer.from(s).toString('hex').toUpperCase();
}
