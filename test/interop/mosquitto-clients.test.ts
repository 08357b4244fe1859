/**
 * Interop with Debian's Mosquitto command-line clients (`mosquitto_pub` / `mosquitto_sub` 2.x, package
 * mosquitto-clients, installed by .ci/run): both protocol versions, QoS 0/1/2, retained messages (set and cleared),
 * MQTT 5 properties (user properties, content type, response topic), `#` subscriptions, cross-version delivery and
 * MQTT.js <-> Mosquitto clients through the broker.
 *
 * `mosquitto_sub -d` prints "received SUBACK" once subscribed, which is what the tests wait for before publishing;
 * messages are printed with a `MSG|topic|qos|retain|user-props|content-type|response-topic|payload` format.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../helpers/broker.js';
import { startTarget } from '../robustness/helpers/target.js';

const haveClients =
  spawnSync('sh', ['-c', 'command -v mosquitto_pub && command -v mosquitto_sub && command -v stdbuf'], { stdio: 'ignore' }).status === 0;
const SKIP_REASON =
  'mosquitto_pub/mosquitto_sub (or coreutils stdbuf) not installed (apt-get install mosquitto-clients; .ci/run installs them)';

/**
 * mosquitto_sub block-buffers stdout into a pipe, so "received SUBACK" would only show at exit: run it line-buffered.
 */
function spawnSub(args: string[]): ChildProcess {
  return spawn('stdbuf', ['-oL', 'mosquitto_sub', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}
if (!haveClients) console.warn(`interop tests skipped: ${SKIP_REASON}`);

type V = 'mqttv5' | 'mqttv311';
const FORMAT = 'MSG|%t|%q|%r|%P|%C|%R|%p';

interface Msg {
  topic: string;
  qos: number;
  retain: boolean;
  userProps: string;
  contentType: string;
  responseTopic: string;
  payload: string;
}

let broker: RunningBroker;
let n = 0;
const uniq = (s: string) => `interop/${process.pid}/${s}/${++n}`;

beforeAll(async () => {
  if (haveClients) broker = await startTarget();
}, 30_000);

afterAll(async () => {
  await broker?.stop();
});

function base(v: V): string[] {
  return ['-h', '127.0.0.1', '-p', String(broker.port), '-V', v];
}

interface Sub {
  proc: ChildProcess;
  /** Resolves with the received messages when mosquitto_sub exits (after -C count or -W timeout). */
  done: Promise<{ msgs: Msg[]; code: number | null; out: string; err: string }>;
}

/** Start mosquitto_sub and wait until the broker acknowledged its subscription. */
async function sub(v: V, args: string[], count: number, timeoutS = 10): Promise<Sub> {
  const proc = spawnSub([...base(v), '-d', '-C', String(count), '-W', String(timeoutS), '-F', FORMAT, ...args]);
  let out = '';
  let err = '';
  let subscribed!: () => void;
  const subscribedP = new Promise<void>((r) => (subscribed = r));
  proc.stdout!.on('data', (d) => {
    out += d;
    if (/received SUBACK/.test(out)) subscribed();
  });
  proc.stderr!.on('data', (d) => (err += d));
  // 'close', not 'exit': the process may exit before its last stdout bytes are read (a 256 KiB
  // payload arrived cut at 223,327 bytes in one CI run).
  const done = new Promise<{ msgs: Msg[]; code: number | null; out: string; err: string }>((resolve) =>
    proc.once('close', (code) => resolve({ msgs: parse(out), code, out, err })),
  );
  await Promise.race([
    subscribedP,
    done.then((r) => {
      throw new Error(`mosquitto_sub exited before subscribing (code ${r.code}):\n${r.out}\n${r.err}`);
    }),
    new Promise((_, rej) => setTimeout(() => rej(new Error(`mosquitto_sub did not subscribe:\n${out}\n${err}`)), 10_000)),
  ]);
  return { proc, done };
}

function parse(out: string): Msg[] {
  return out
    .split('\n')
    .filter((l) => l.startsWith('MSG|'))
    .map((l) => {
      const [, topic, qos, retain, userProps, contentType, responseTopic, ...rest] = l.split('|');
      return { topic, qos: Number(qos), retain: retain === '1', userProps, contentType, responseTopic, payload: rest.join('|') };
    });
}

/** Run mosquitto_pub to completion; it must exit 0. */
async function pub(v: V, args: string[]): Promise<void> {
  const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const p = spawn('mosquitto_pub', [...base(v), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (d) => (out += d));
    p.stderr!.on('data', (d) => (out += d));
    p.once('close', (code) => resolve({ code, out }));
  });
  expect(r.code, `mosquitto_pub ${args.join(' ')}:\n${r.out}`).toBe(0);
}

describe.skipIf(!haveClients)('mosquitto_pub / mosquitto_sub through the broker', { timeout: 20_000 }, () => {
  describe.each(['mqttv5', 'mqttv311'] as const)('%s', (v) => {
    it.each([0, 1, 2])('QoS %i publish is received with that QoS', async (qos) => {
      const topic = uniq(`qos${qos}`);
      const s = await sub(v, ['-q', '2', '-t', topic], 1);
      await pub(v, ['-q', String(qos), '-t', topic, '-m', `hello qos ${qos}`]);
      const { msgs, code } = await s.done;
      expect(code).toBe(0);
      expect(msgs).toMatchObject([{ topic, qos, retain: false, payload: `hello qos ${qos}` }]);
    });

    it('[MQTT-3.14.4-3] a normal mosquitto_pub exit discards its Will (v5: the short DISCONNECT e0 00)', async () => {
      const willTopic = uniq('will');
      const s = await sub(v, ['-t', willTopic], 1, 2);
      await pub(v, ['--will-topic', willTopic, '--will-payload', 'DIED', '-t', uniq('will-pub'), '-m', 'hello']);
      const { msgs, out } = await s.done;
      expect(msgs, out).toEqual([]);
    });

    it('QoS is downgraded to the subscription maximum', async () => {
      const topic = uniq('downgrade');
      const s = await sub(v, ['-q', '1', '-t', topic], 1);
      await pub(v, ['-q', '2', '-t', topic, '-m', 'two-to-one']);
      const { msgs } = await s.done;
      expect(msgs).toMatchObject([{ topic, qos: 1, payload: 'two-to-one' }]);
    });

    it("mosquitto_sub -t '#' -v sees what mosquitto_pub sends", async () => {
      const topic = uniq('hash');
      // -v with the plain output format prints "topic payload". No -C: retained messages left by other tests
      // would count; the subscriber is stopped once the three expected lines are there.
      const proc = spawnSub([...base(v), '-d', '-W', '15', '-v', '-t', '#']);
      let out = '';
      const lines = () => out.split('\n').filter((l) => l.startsWith(topic));
      let onData = () => {};
      proc.stdout!.on('data', (d) => {
        out += d;
        onData();
      });
      const until = (pred: () => boolean, what: string) =>
        new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`${what}:\n${out}`)), 10_000);
          onData = () => {
            if (pred()) {
              clearTimeout(t);
              resolve();
            }
          };
          onData();
        });
      try {
        await until(() => /received SUBACK/.test(out), 'no SUBACK');
        for (const [t, m] of [
          [`${topic}/a`, 'one'],
          [`${topic}/b/c`, 'two words'],
          [topic, 'three'],
        ]) {
          await pub(v, ['-q', '1', '-t', t, '-m', m]);
        }
        await until(() => lines().length >= 3, 'mosquitto_sub did not print all three messages');
        expect(lines()).toEqual([`${topic}/a one`, `${topic}/b/c two words`, `${topic} three`]);
      } finally {
        proc.kill();
      }
    });

    it('retained message (-r) is delivered to a later subscriber with the retain flag, and cleared with -n', async () => {
      const topic = uniq('retained');
      await pub(v, ['-q', '1', '-r', '-t', topic, '-m', 'kept']);
      const s1 = await sub(v, ['-q', '1', '-t', topic], 1);
      const r1 = await s1.done;
      expect(r1.msgs).toMatchObject([{ topic, retain: true, payload: 'kept' }]);

      // A subscriber gets the stored message with retain 1, then a retained publish made while it is subscribed with
      // retain 0 (MQTT-3.3.1-9 / v3.1.1 MQTT-3.3.1-9: "normal delivery") ...
      const live = await sub(v, ['-q', '1', '-t', topic], 2);
      await pub(v, ['-q', '1', '-r', '-t', topic, '-m', 'replaced']);
      expect((await live.done).msgs).toMatchObject([
        { topic, retain: true, payload: 'kept' },
        { topic, retain: false, payload: 'replaced' },
      ]);

      // ... and an empty retained message deletes it (MQTT-3.3.1-10/11).
      await pub(v, ['-q', '1', '-r', '-n', '-t', topic]);
      const s2 = await sub(v, ['-q', '1', '-t', topic], 1, 2);
      const r2 = await s2.done;
      expect(r2.msgs).toEqual([]);
    });

    it('a 256 KiB payload from stdin arrives intact', async () => {
      const topic = uniq('large');
      const body = Buffer.alloc(256 * 1024, 'x').toString();
      const s = await sub(v, ['-q', '1', '-t', topic], 1);
      const p = spawn('mosquitto_pub', [...base(v), '-q', '1', '-t', topic, '-s'], { stdio: ['pipe', 'ignore', 'pipe'] });
      p.stdin!.end(body);
      expect(await new Promise((r) => p.once('exit', r))).toBe(0);
      const { msgs } = await s.done;
      expect(msgs).toHaveLength(1);
      expect(msgs[0].payload.length).toBe(body.length);
    });
  });

  it('MQTT 5 properties (-D) pass through: user properties, content type, response topic', async () => {
    const topic = uniq('props');
    const s = await sub('mqttv5', ['-q', '1', '-t', topic], 1);
    await pub('mqttv5', [
      '-q', '1', '-t', topic, '-m', 'with props',
      '-D', 'publish', 'user-property', 'site', 'edge-1',
      '-D', 'publish', 'user-property', 'line', '7',
      '-D', 'publish', 'content-type', 'text/plain',
      '-D', 'publish', 'response-topic', `${topic}/reply`,
    ]);
    const { msgs } = await s.done;
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toMatchObject({ topic, contentType: 'text/plain', responseTopic: `${topic}/reply`, payload: 'with props' });
    // Order of user properties is preserved (MQTT-3.3.2-18); mosquitto_sub prints them space separated.
    expect(msgs[0].userProps).toMatch(/site:edge-1.*line:7/);
  });

  it('a v5 publish reaches a v3.1.1 subscriber and a v3.1.1 publish reaches a v5 subscriber', async () => {
    const topic = uniq('cross');
    const s311 = await sub('mqttv311', ['-q', '1', '-t', topic], 1);
    const s5 = await sub('mqttv5', ['-q', '1', '-t', `${topic}/5`], 1);
    await pub('mqttv5', ['-q', '1', '-t', topic, '-m', 'from v5', '-D', 'publish', 'user-property', 'k', 'v']);
    await pub('mqttv311', ['-q', '1', '-t', `${topic}/5`, '-m', 'from v311']);
    expect((await s311.done).msgs).toMatchObject([{ topic, payload: 'from v5', userProps: '' }]);
    expect((await s5.done).msgs).toMatchObject([{ topic: `${topic}/5`, payload: 'from v311' }]);
  });

  it('MQTT.js sees the properties mosquitto_pub sends, and mosquitto_sub sees MQTT.js user properties', async () => {
    const topic = uniq('mqttjs');
    const js = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: `interop-js-${process.pid}`, reconnectPeriod: 0 });
    try {
      await js.subscribeAsync(`${topic}/to-js`, { qos: 1 });
      const got = new Promise<{ payload: string; props: mqtt.IPublishPacket['properties'] }>((resolve) =>
        js.once('message', (_t, payload, packet) => resolve({ payload: payload.toString(), props: packet.properties })),
      );
      await pub('mqttv5', [
        '-q', '1', '-t', `${topic}/to-js`, '-m', 'hi js',
        '-D', 'publish', 'user-property', 'a', '1',
        '-D', 'publish', 'correlation-data', 'corr-42',
        '-D', 'publish', 'message-expiry-interval', '3600',
        '-D', 'publish', 'payload-format-indicator', '1',
      ]);
      const m = await got;
      expect(m.payload).toBe('hi js');
      expect(m.props?.userProperties).toEqual({ a: '1' });
      expect(Buffer.from(m.props?.correlationData ?? []).toString()).toBe('corr-42');
      expect(m.props?.payloadFormatIndicator).toBe(true);
      // Decremented by the time spent in the broker, never increased (MQTT-3.3.2-6).
      expect(m.props?.messageExpiryInterval).toBeGreaterThan(3590);
      expect(m.props?.messageExpiryInterval).toBeLessThanOrEqual(3600);

      const s = await sub('mqttv5', ['-q', '1', '-t', `${topic}/from-js`], 1);
      await js.publishAsync(`${topic}/from-js`, 'hi mosquitto', { qos: 1, properties: { userProperties: { b: '2' }, contentType: 'application/x-test' } });
      expect((await s.done).msgs).toMatchObject([{ payload: 'hi mosquitto', userProps: 'b:2', contentType: 'application/x-test' }]);
    } finally {
      await js.endAsync(true);
    }
  });
});

// When the clients are missing, the skip shows up in the report with its reason.
if (!haveClients) it.skip(`interop: ${SKIP_REASON}`, () => {});
