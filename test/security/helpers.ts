/**
 * Helpers of the security tests: a throwaway PKI written as Kubernetes-style secret folders, a raw
 * MQTT client (mqtt-packet over TCP/TLS) for exact reason codes and AUTH exchanges, and config text.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import mqttPacket from 'mqtt-packet';
import { issueCertificate, type KeyAndCert } from '../../src/security/tls/cert-gen.js';

export function tempDir(prefix = 'edgemq-sec-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Writes `<dir>/<name>/<key>` files, as a mounted secret. */
export function writeSecret(secretsDir: string, name: string, files: Record<string, string | Buffer>): string {
  const folder = path.join(secretsDir, name);
  mkdirSync(folder, { recursive: true });
  for (const [k, v] of Object.entries(files)) writeFileSync(path.join(folder, k), v);
  return folder;
}

export interface Pki {
  ca: KeyAndCert;
  server: KeyAndCert;
  otherCa: KeyAndCert;
  client: (cn: string, o?: { subject?: Record<string, string>; expired?: boolean; byOtherCa?: boolean }) => KeyAndCert;
}

export function makePki(): Pki {
  const ca = issueCertificate({ commonName: 'test CA', isCa: true });
  const otherCa = issueCertificate({ commonName: 'rogue CA', isCa: true });
  const server = issueCertificate({ commonName: 'localhost', issuer: ca, altNames: ['localhost', '127.0.0.1'], usage: 'server' });
  return {
    ca,
    otherCa,
    server,
    client: (cn, o = {}) =>
      issueCertificate({
        commonName: cn,
        issuer: o.byOtherCa ? otherCa : ca,
        usage: 'client',
        ...(o.subject ? { subject: o.subject } : {}),
        ...(o.expired ? { notBefore: new Date(Date.now() - 3 * 86400_000), notAfter: new Date(Date.now() - 86400_000) } : {}),
      }),
  };
}

export const BROKER = (extra = '') => `apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: Broker
metadata: {name: default}
spec:
  edgemq: {durability: memory, sysIntervalSeconds: 0${extra}}
`;

// ---- raw MQTT client -------------------------------------------------------------------------------

type Packet = mqttPacket.Packet & Record<string, unknown>;

export class RawClient {
  private readonly queue: Packet[] = [];
  private waiters: Array<(p: Packet | undefined) => void> = [];
  closed = false;
  private readonly parser: mqttPacket.Parser;
  readonly whenClosed: Promise<void>;

  private constructor(
    readonly socket: net.Socket,
    readonly version: 3 | 4 | 5,
  ) {
    this.parser = mqttPacket.parser({ protocolVersion: version });
    this.parser.on('packet', (p) => this.push(p as Packet));
    socket.on('data', (d) => this.parser.parse(d));
    this.whenClosed = new Promise((resolve) => socket.once('close', () => {
      this.closed = true;
      for (const w of this.waiters) w(undefined);
      this.waiters = [];
      resolve();
    }));
    socket.on('error', () => {});
  }

  static async open(port: number, version: 4 | 5, o: { tls?: tls.ConnectionOptions } = {}): Promise<RawClient> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = o.tls ? tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...o.tls }, () => resolve(s)) : net.connect(port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
    return new RawClient(socket, version);
  }

  private push(p: Packet): void {
    const w = this.waiters.shift();
    if (w) w(p);
    else this.queue.push(p);
  }

  send(p: Record<string, unknown>): void {
    this.socket.write(mqttPacket.generate(p as unknown as mqttPacket.Packet, { protocolVersion: this.version }));
  }

  /** Next packet, or undefined when the connection closed first. */
  next(timeoutMs = 5000): Promise<Packet | undefined> {
    const p = this.queue.shift();
    if (p) return Promise.resolve(p);
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no packet in time')), timeoutMs);
      this.waiters.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  }

  connect(fields: Record<string, unknown>): Promise<Packet | undefined> {
    this.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: this.version, clean: true, keepalive: 0, clientId: 'c', ...fields });
    return this.next();
  }

  end(): void {
    this.socket.destroy();
  }
}

/** CONNECT on a fresh connection; the CONNACK code (v5 reasonCode / v3 returnCode), and the client. */
export async function connectCode(port: number, version: 4 | 5, fields: Record<string, unknown>, o: { tls?: tls.ConnectionOptions } = {}): Promise<{ code: number | undefined; client: RawClient; connack: Packet | undefined }> {
  const client = await RawClient.open(port, version, o);
  const connack = await client.connect(fields);
  const code = connack?.cmd === 'connack' ? ((version === 5 ? connack.reasonCode : connack.returnCode) as number) : undefined;
  return { code, client, connack };
}

export async function subscribeCode(c: RawClient, filter: string, id = 1): Promise<number> {
  c.send({ cmd: 'subscribe', messageId: id, subscriptions: [{ topic: filter, qos: 1 }] });
  const p = await c.next();
  if (p?.cmd !== 'suback') throw new Error(`expected SUBACK, got ${p?.cmd}`);
  return (p.granted as number[])[0]!;
}

export async function publishAck(c: RawClient, topic: string, id = 7): Promise<Packet> {
  c.send({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 1, messageId: id, retain: false, dup: false });
  for (;;) {
    const p = await c.next();
    if (!p) throw new Error('closed before PUBACK');
    if (p.cmd === 'puback') return p;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
