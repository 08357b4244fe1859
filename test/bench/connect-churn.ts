/**
 * Sockets that end during their CONNECT, in bulk: `node --import tsx test/bench/connect-churn.ts
 * [--sockets 200000] [--concurrency 400] [--brokers edgemq,mosquitto]`. Each socket sends one of
 * a valid CONNECT (3.1.1 or 5.0, clean or persistent, with a will), a CONNECT followed by a
 * malformed packet, or a malformed first packet, and closes at once. Afterwards the broker must
 * report no connected client (edgemq's `$SYS/broker/clients/connected`) and its RSS must stay
 * within 300 MB of where it started, including the offline persistent sessions left behind.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { startBroker, type BrokerName } from './brokers.js';
import { hitAndRun } from '../robustness/helpers/hit-and-run.js';

function rssOf(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
}

const { values } = parseArgs({
  options: {
    sockets: { type: 'string', default: '200000' },
    concurrency: { type: 'string', default: '400' },
    brokers: { type: 'string', default: 'edgemq' },
  },
});
const total = Number(values.sockets);
const concurrency = Number(values.concurrency);
const repoRoot = new URL('../..', import.meta.url).pathname;

const MALFORMED = Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]);

function bytesFor(i: number): Buffer {
  const kind = i % 5;
  if (kind === 4) return MALFORMED; // malformed as the first packet
  const protocolVersion = i % 2 === 0 ? 4 : 5;
  const persistent = kind === 1 || kind === 3;
  const connect = mqttPacket.generate(
    {
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion,
      clientId: `churn-${i}`,
      clean: !persistent,
      keepalive: 60,
      will: { topic: `churn/will/${i}`, payload: Buffer.from('gone'), qos: 0, retain: false },
      ...(protocolVersion === 5 && persistent ? { properties: { sessionExpiryInterval: 3600 } } : {}),
    } as mqttPacket.IConnectPacket,
    { protocolVersion },
  );
  return kind >= 2 ? Buffer.concat([connect, MALFORMED]) : connect;
}

async function sysConnected(port: number): Promise<number | undefined> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, clientId: 'churn-watch' });
  const got = new Promise<number>((resolve) => c.on('message', (_t, p) => resolve(Number(p.toString()))));
  await c.subscribeAsync('$SYS/broker/clients/connected');
  const v = await Promise.race([got, new Promise<undefined>((r) => setTimeout(() => r(undefined), 12_000))]);
  await c.endAsync();
  return v;
}

for (const name of values.brokers!.split(',') as BrokerName[]) {
  const b = await startBroker(name, { repoRoot, protocol: 4 });
  await new Promise((r) => setTimeout(r, 1000));
  const rss0 = rssOf(b.pid);
  const t0 = Date.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) await hitAndRun(b.port, bytesFor(next++));
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (Date.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 3000));
  const rss1 = rssOf(b.pid);
  // The watcher itself is the one client connected while it asks.
  const connected = name.startsWith('edgemq') ? await sysConnected(b.port) : undefined;
  console.log(
    JSON.stringify({
      broker: name,
      sockets: total,
      seconds: Math.round(seconds),
      rssStartMB: Math.round(rss0 / 1048576),
      rssEndMB: Math.round(rss1 / 1048576),
      growthMB: Math.round((rss1 - rss0) / 1048576),
      sysClientsConnected: connected,
    }),
  );
  await b.stop();
}
