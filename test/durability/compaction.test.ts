/**
 * Compaction under steady traffic: QoS 1 messages through a live subscriber produce two logged
 * commands each (publish + PUBACK), so 200k messages cross the 100k-command snapshot threshold
 * four times. The size of `partition-0` must stay bounded (a snapshot replaces the log prefix and
 * LevelDB compacts the deleted range), and a SIGKILL restart afterwards must still recover sessions,
 * their queues, and retained messages.
 *
 * There is no configuration knob for the thresholds (DEFAULT_DURABLE_OPTIONS: 100k commands or
 * 64 MiB of log). A `spec.edgemq.snapshot: {everyCommands, everyBytes}` field on the Broker, passed to
 * recoverPartition's `opts`, would let this test use 5k commands and finish in a few seconds.
 *
 * Knob: COMPACTION_MESSAGES (default 200000).
 */
import { afterAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, isEdgemq, startBroker, type RunningBroker } from '../helpers/broker.js';

const MESSAGES = Number(process.env.COMPACTION_MESSAGES ?? 200_000);
const WINDOW = 512;
const running: RunningBroker[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const b of running.splice(0)) await b.kill();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Apparent bytes of the files in the directory (what LevelDB wrote), and `du -sk` (allocated). */
function sizeOf(dir: string): { bytes: number; duKiB: number; files: number } {
  let bytes = 0;
  const names = readdirSync(dir);
  for (const f of names) {
    // LevelDB deletes obsolete files while we look: a file gone since readdir counts as 0 bytes.
    try {
      bytes += statSync(path.join(dir, f)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  const duKiB = Number(execFileSync('du', ['-sk', dir]).toString().split(/\s/)[0]);
  return { bytes, duKiB, files: names.length };
}
const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

/** Publishes `n` QoS 1 messages with up to WINDOW unacknowledged; calls `every` each `step` acks. */
function pump(c: MqttClient, n: number, topic: (i: number) => string, payload: (i: number) => Buffer, step: number, every: (acked: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let acked = 0;
    const more = () => {
      while (sent < n && sent - acked < WINDOW) {
        const i = sent++;
        c.publish(topic(i), payload(i), { qos: 1 }, (err) => {
          if (err) return reject(err);
          acked++;
          if (acked % step === 0) every(acked);
          if (acked === n) resolve();
          else more();
        });
      }
    };
    more();
  });
}

describe.skipIf(!isEdgemq)('compaction', () => {
  it(`partition-0 stays bounded over ${MESSAGES} QoS 1 messages through a live subscriber, and a restart after compaction recovers`, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'edgemq-compact-'));
    dirs.push(dir);
    const part = path.join(dir, 'partition-0');
    const port = await freePort();
    let broker = await startBroker({ dataDir: dir, port });
    running.push(broker);
    const t0 = Date.now();

    // State that must survive: retained messages written before any snapshot, a persistent session
    // that stays offline with a queue, and the live subscriber's own persistent session.
    const setup = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'setup', reconnectPeriod: 0 });
    for (let i = 0; i < 20; i++) await setup.publishAsync(`keep/retained/${i}`, `r${i}`, { qos: 1, retain: true });
    const offline = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'offline', clean: false, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 0 });
    await offline.subscribeAsync('keep/queue', { qos: 1 });
    await offline.endAsync();
    for (let i = 0; i < 50; i++) await setup.publishAsync('keep/queue', `q${i}`, { qos: 1 });

    let received = 0;
    const live = mqtt.connect(broker.url, { protocolVersion: 5, clientId: 'live', clean: false, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 0 });
    live.on('message', () => received++);
    await new Promise((r, j) => {
      live.once('connect', r);
      live.once('error', j);
    });
    await live.subscribeAsync('load/#', { qos: 1 });
    const pub = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'loader', reconnectPeriod: 0 });

    // Incompressible payloads: LevelDB's tables are Snappy-compressed, repeated bytes would hide growth.
    const PAYLOAD = 200;
    const pool = Array.from({ length: 1024 }, () => randomBytes(PAYLOAD));
    const samples: Array<{ acked: number; bytes: number; duKiB: number; files: number }> = [];
    const initial = sizeOf(part);
    samples.push({ acked: 0, ...initial });
    const step = 10_000;
    await pump(pub, MESSAGES, (i) => `load/${i % 16}`, (i) => pool[i % pool.length]!, step, (acked) => samples.push({ acked, ...sizeOf(part) }));
    const deadline = Date.now() + 30_000;
    while (received < MESSAGES && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(received).toBe(MESSAGES);
    // Retained in the middle of the traffic (after the first snapshot): also must survive.
    await setup.publishAsync('keep/retained/late', 'late', { qos: 1, retain: true });
    await new Promise((r) => setTimeout(r, 500)); // the last PUBACKs of the subscriber reach the log
    const final = sizeOf(part);
    samples.push({ acked: MESSAGES, ...final });
    const elapsed = (Date.now() - t0) / 1000;

    const logged = 2 * MESSAGES; // publish + PUBACK per message
    const writtenApprox = MESSAGES * (PAYLOAD + 150); // serialized commands, at least
    const peak = Math.max(...samples.map((s) => s.bytes));
    console.log(`compaction: ${MESSAGES} QoS 1 x ${PAYLOAD} B (random) through a live subscriber, ~${logged} logged commands, ${elapsed.toFixed(1)} s`);
    console.log(`  partition-0 size (apparent bytes / du): ${samples.map((s) => `${s.acked / 1000}k: ${mib(s.bytes)}/${s.duKiB} KiB (${s.files} files)`).join(', ')}`);
    console.log(`  peak ${mib(peak)}, final ${mib(final.bytes)}; log written without compaction would be >= ${mib(writtenApprox)}`);

    // Bounded: never above ~one threshold's worth of log (100k commands of ~350 B, less Snappy, plus
    // LevelDB's write-ahead log and tables), well below what was written, and no growth from one
    // snapshot cycle to the next (peak of the second half vs. peak of the first half).
    expect(peak).toBeLessThan(48 * 1048576);
    expect(peak).toBeLessThan(writtenApprox / 2);
    const firstHalf = Math.max(...samples.filter((s) => s.acked <= MESSAGES / 2).map((s) => s.bytes));
    const secondHalf = Math.max(...samples.filter((s) => s.acked > MESSAGES / 2).map((s) => s.bytes));
    console.log(`  peak first half ${mib(firstHalf)}, second half ${mib(secondHalf)}`);
    expect(secondHalf).toBeLessThanOrEqual(firstHalf * 1.5);

    await live.endAsync();
    await pub.endAsync();
    await setup.endAsync();
    await broker.kill('SIGKILL');

    // Restart after compaction: sessions, the offline queue and retained messages are back.
    broker = await startBroker({ dataDir: dir, port });
    running.push(broker);
    const queued: string[] = [];
    const back = mqtt.connect(broker.url, { protocolVersion: 5, clientId: 'offline', clean: false, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 0 });
    back.on('message', (_t, p) => queued.push(p.toString()));
    const present = await new Promise<boolean>((resolve, reject) => {
      back.once('connect', (ack) => resolve(ack.sessionPresent));
      back.once('error', reject);
    });
    expect(present).toBe(true);
    const d1 = Date.now() + 5000;
    while (queued.length < 50 && Date.now() < d1) await new Promise((r) => setTimeout(r, 20));
    expect(queued).toEqual(Array.from({ length: 50 }, (_, i) => `q${i}`));
    await back.endAsync();

    const livePresent = await new Promise<boolean>((resolve, reject) => {
      const c = mqtt.connect(broker.url, { protocolVersion: 5, clientId: 'live', clean: false, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 0 });
      c.once('connect', (ack) => {
        c.end(true);
        resolve(ack.sessionPresent);
      });
      c.once('error', reject);
    });
    expect(livePresent).toBe(true);

    const retained: string[] = [];
    const reader = mqtt.connect(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
    reader.on('message', (t, p) => retained.push(`${t}=${p.toString()}`));
    await new Promise((r, j) => {
      reader.once('connect', r);
      reader.once('error', j);
    });
    await reader.subscribeAsync('keep/retained/#', { qos: 1 });
    const d2 = Date.now() + 5000;
    while (retained.length < 21 && Date.now() < d2) await new Promise((r) => setTimeout(r, 20));
    expect(retained.sort()).toEqual([...Array.from({ length: 20 }, (_, i) => `keep/retained/${i}=r${i}`), 'keep/retained/late=late'].sort());
    await reader.endAsync();
    console.log(`  after SIGKILL + restart: offline queue 50/50, sessions present, retained ${retained.length}/21; partition-0 ${mib(sizeOf(part).bytes)}`);
  }, 120_000);
});
