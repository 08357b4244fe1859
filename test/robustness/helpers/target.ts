/**
 * Starting the broker under test for robustness/interop suites, plus a "healthy" bystander client.
 *
 * edgemq gets a Broker + BrokerListener configuration (YAML through startBroker({config, port})). Mosquitto, the
 * reference, normally comes from startBroker too; when a test needs a Mosquitto option the shared helper does not
 * write (max_packet_size), it is spawned here with those extra lines.
 */
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { freePort, isEdgemq, startBroker, type RunningBroker } from '../../helpers/broker.js';

export { isEdgemq, target } from '../../helpers/broker.js';
export const isMosquitto = !isEdgemq;

export interface EdgemqOptions {
  maxPacketSizeBytes?: number;
  connectTimeoutSeconds?: number;
  subscriberQueueLimit?: { length: number; strategy: 'None' | 'DropOldest' };
}

/** Broker + BrokerListener resources in edgemq's API group for one TCP port. */
export function edgemqConfig(port: number, o: EdgemqOptions = {}): string {
  const clients: string[] = [];
  if (o.maxPacketSizeBytes !== undefined) clients.push(`      maxPacketSizeBytes: ${o.maxPacketSizeBytes}`);
  if (o.subscriberQueueLimit) {
    clients.push(
      `      subscriberQueueLimit:`,
      `        length: ${o.subscriberQueueLimit.length}`,
      `        strategy: ${o.subscriberQueueLimit.strategy}`,
    );
  }
  const spec: string[] = ['  mode: auto'];
  if (clients.length) spec.push('  advanced:', '    clients:', ...clients);
  if (o.connectTimeoutSeconds !== undefined) spec.push('  edgemq:', `    connectTimeoutSeconds: ${o.connectTimeoutSeconds}`);
  return [
    'apiVersion: mq.edgemq.io/v1beta1',
    'kind: Broker',
    'metadata:',
    '  name: default',
    'spec:',
    ...spec,
    '---',
    'apiVersion: mq.edgemq.io/v1beta1',
    'kind: BrokerListener',
    'metadata:',
    '  name: robustness',
    'spec:',
    '  brokerRef: default',
    '  serviceType: ClusterIp',
    '  authenticationEnabled: false',
    '  authorizationEnabled: false',
    `  port: ${port}`,
    '',
  ].join('\n');
}

/** Start the target broker; `mosquittoConf` lines go into the Mosquitto config when the target is Mosquitto. */
export async function startTarget(o: { edgemq?: EdgemqOptions; mosquittoConf?: string[] } = {}): Promise<RunningBroker> {
  const port = await freePort();
  if (isEdgemq) return startBroker({ config: edgemqConfig(port, o.edgemq), port });
  return startBroker({ port, mosquittoConf: o.mosquittoConf });
}

export function brokerAlive(b: RunningBroker): boolean {
  return b.process.exitCode === null && b.process.signalCode === null;
}

/** Resident set size of the broker process in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/**
 * A well-behaved MQTT.js client that stays connected for a whole test file. `roundTrip()` publishes a QoS 1
 * message to its own topic and waits until it comes back: the broker still routes for everyone else.
 */
export class HealthyClient {
  private seq = 0;
  disconnects = 0;
  private constructor(
    readonly client: mqtt.MqttClient,
    readonly topic: string,
  ) {
    client.on('close', () => this.disconnects++);
  }

  static async connect(port: number, version: 4 | 5 = 5, name = 'healthy'): Promise<HealthyClient> {
    const clientId = `${name}-${version}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      protocolVersion: version,
      clientId,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      keepalive: 30,
    });
    const h = new HealthyClient(client, `robustness/healthy/${clientId}`);
    await client.subscribeAsync(h.topic, { qos: 1 });
    return h;
  }

  async roundTrip(timeoutMs = 5000): Promise<void> {
    if (!this.client.connected) throw new Error('healthy client was disconnected');
    const payload = `ping-${++this.seq}-${Date.now()}`;
    const got = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        this.client.off('message', onMsg);
        reject(new Error(`healthy client did not get its own message ${payload} back within ${timeoutMs} ms`));
      }, timeoutMs);
      const onMsg = (topic: string, msg: Buffer) => {
        if (topic === this.topic && msg.toString() === payload) {
          clearTimeout(t);
          this.client.off('message', onMsg);
          resolve();
        }
      };
      this.client.on('message', onMsg);
    });
    await this.client.publishAsync(this.topic, payload, { qos: 1 });
    await got;
  }

  async end(): Promise<void> {
    await this.client.endAsync(true);
  }
}
