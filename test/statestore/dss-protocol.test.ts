/**
 * The distributed state store over MQTT 5 request/response, driven like Azure IoT MQ's SDKs drive it:
 * RESP3 payloads on `statestore/v1/FA9AE35F-…/command/invoke`, replies on the Response Topic with the
 * Correlation Data, `__ts`/`__ft` user properties, KEYNOTIFY notifications.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { startBroker, type RunningBroker } from '../helpers/broker.js';
import { DssClient, hexUpper, hlc, userProp } from './dss-client.js';
import { parseHlc, compareHlc } from '../../src/partition/kv-store.js';

let broker: RunningBroker;
let c: DssClient;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NOTIFY = 'clients/statestore/v1/FA9AE35F-2F64-47CD-9BFF-08E2B32A0FE8';

beforeAll(async () => {
  broker = await startBroker();
  c = await DssClient.connect(broker.url, 'dss-main');
});
afterAll(async () => {
  await c?.end();
  await broker?.stop();
});

describe('SET / GET / DEL', () => {
  it('answers with the exact RESP3 bytes and the key version in __ts', async () => {
    const ts = hlc();
    const set = await c.request(['SET', 'k1', 'value'], { __ts: ts });
    expect(set.raw.toString()).toBe('+OK\r\n');
    expect(set.ts).toBeDefined();
    expect(compareHlc(parseHlc(set.ts!)!, parseHlc(ts)!)).toBeGreaterThan(0);
    const get = await c.request(['GET', 'k1']);
    expect(get.raw.toString()).toBe('$5\r\nvalue\r\n');
    expect(get.ts).toBe(set.ts);
    expect((await c.request(['DEL', 'k1'])).raw.toString()).toBe(':1\r\n');
    expect((await c.request(['DEL', 'k1'])).raw.toString()).toBe(':0\r\n');
    expect((await c.request(['GET', 'k1'])).raw.toString()).toBe('$-1\r\n');
  });

  it('a new version is later than a request timestamp ahead of the store clock (HLC)', async () => {
    const ahead = hlc(Date.now() + 30_000, 7, 'Client1');
    const r = await c.request(['SET', 'hlc', 'v'], { __ts: ahead });
    const v = parseHlc(r.ts!)!;
    expect(v.ms).toBe(parseHlc(ahead)!.ms);
    expect(v.counter).toBe(8);
    expect(v.node).toBe('edgemq');
  });

  it('keeps binary keys and values byte for byte', async () => {
    const key = Buffer.from([0, 1, 2, 0xff, 0x0d, 0x0a]);
    const value = Buffer.from([0xde, 0xad, 0x0d, 0x0a, 0, 0xbe, 0xef]);
    expect((await c.request(['SET', key, value], { __ts: hlc() })).raw.toString()).toBe('+OK\r\n');
    const get = await c.request(['GET', key]);
    expect(get.value).toEqual(value);
  });

  it('NX sets only an absent key; NEX also when the value is the same (lock renewal)', async () => {
    expect((await c.request(['SET', 'nx', 'a', 'NX'], { __ts: hlc() })).raw.toString()).toBe('+OK\r\n');
    expect((await c.request(['SET', 'nx', 'b', 'NX'], { __ts: hlc() })).raw.toString()).toBe(':-1\r\n');
    expect((await c.request(['SET', 'nx', 'a', 'NEX'], { __ts: hlc() })).raw.toString()).toBe('+OK\r\n');
    expect((await c.request(['SET', 'nx', 'b', 'NEX'], { __ts: hlc() })).raw.toString()).toBe(':-1\r\n');
    expect((await c.request(['GET', 'nx'])).value).toEqual(Buffer.from('a'));
    expect((await c.request(['SET', 'nex-new', 'x', 'NEX', 'PX', '10000'], { __ts: hlc() })).raw.toString()).toBe('+OK\r\n');
  });

  it('PX expires a key; a later SET without PX keeps it', async () => {
    await c.request(['SET', 'px', 'v', 'PX', '300'], { __ts: hlc() });
    expect((await c.request(['GET', 'px'])).value).toEqual(Buffer.from('v'));
    await sleep(450);
    expect((await c.request(['GET', 'px'])).raw.toString()).toBe('$-1\r\n');
    await c.request(['SET', 'px2', 'v', 'PX', '300'], { __ts: hlc() });
    await c.request(['SET', 'px2', 'w'], { __ts: hlc() });
    await sleep(450);
    expect((await c.request(['GET', 'px2'])).value).toEqual(Buffer.from('w'));
  });

  it('VDEL deletes only when the value matches', async () => {
    await c.request(['SET', 'vd', 'mine'], { __ts: hlc() });
    expect((await c.request(['VDEL', 'vd', 'other'])).raw.toString()).toBe(':-1\r\n');
    expect((await c.request(['VDEL', 'vd', 'mine'])).raw.toString()).toBe(':1\r\n');
    expect((await c.request(['VDEL', 'vd', 'mine'])).raw.toString()).toBe(':0\r\n');
  });

  it('accepts lower-case verbs as the docs show them', async () => {
    expect((await c.request(['set', 'lc', 'v', 'nx'], { __ts: hlc() })).raw.toString()).toBe('+OK\r\n');
    expect((await c.request(['get', 'lc'])).raw.toString()).toBe('$1\r\nv\r\n');
  });
});

describe('errors (exact texts)', () => {
  const cases: [string, (string | Buffer)[], Record<string, string>, string][] = [
    ['missing timestamp', ['SET', 'e', 'v'], {}, '-ERR missing timestamp\r\n'],
    ['malformed timestamp', ['SET', 'e', 'v'], { __ts: 'yesterday' }, '-ERR malformed timestamp\r\n'],
    [
      'timestamp in the future',
      ['SET', 'e', 'v'],
      { __ts: hlc(Date.now() + 120_000) },
      '-ERR the request timestamp is too far in the future; ensure that the client and broker system clocks are synchronized\r\n',
    ],
    ['unknown command', ['INCR', 'e'], {}, '-ERR unknown command\r\n'],
    ['wrong number of arguments (GET)', ['GET'], {}, '-ERR wrong number of arguments\r\n'],
    ['wrong number of arguments (SET)', ['SET', 'e'], { __ts: hlc() }, '-ERR wrong number of arguments\r\n'],
    ['bad PX', ['SET', 'e', 'v', 'PX', 'soon'], { __ts: hlc() }, '-ERR syntax error\r\n'],
    ['unknown option', ['SET', 'e', 'v', 'XX'], { __ts: hlc() }, '-ERR syntax error\r\n'],
    ['KEYNOTIFY option', ['KEYNOTIFY', 'e', 'START'], {}, '-ERR syntax error\r\n'],
    ['empty key', ['GET', ''], {}, '-ERR the key length is zero\r\n'],
  ];
  for (const [name, args, props, reply] of cases) {
    it(name, async () => {
      expect((await c.request(args, props)).raw.toString()).toBe(reply);
    });
  }

  it('malformed RESP3 is a syntax error', async () => {
    expect((await c.requestRaw(Buffer.from('*2\r\n$3\r\nGET\r\n$9\r\nshort\r\n'))).raw.toString()).toBe('-ERR syntax error\r\n');
    expect((await c.requestRaw(Buffer.from('GET k\r\n'))).raw.toString()).toBe('-ERR syntax error\r\n');
  });

  it('ignores a request whose response topic is reserved, and keeps serving', async () => {
    const spy = await mqtt.connectAsync(broker.url, { clientId: 'dss-spy', protocolVersion: 5 });
    const seen: string[] = [];
    spy.on('message', (t) => seen.push(t));
    await spy.subscribeAsync(`${NOTIFY}/#`, { qos: 1 });
    c.requestRaw(Buffer.from('*2\r\n$3\r\nGET\r\n$1\r\nx\r\n'), {}, `${NOTIFY}/evil`).catch(() => {});
    expect((await c.request(['GET', 'x'])).raw.toString()).toBe('$-1\r\n');
    await sleep(100);
    expect(seen).toEqual([]);
    await spy.endAsync();
  });
});

describe('fencing tokens', () => {
  it('a fenced key needs a token at least as new as its own', async () => {
    const ft1 = hlc(Date.now() - 1000, 0, 'lock');
    expect((await c.request(['SET', 'fenced', 'a'], { __ts: hlc(), __ft: ft1 })).raw.toString()).toBe('+OK\r\n');
    expect((await c.request(['SET', 'fenced', 'b'], { __ts: hlc() })).raw.toString()).toBe('-ERR a fencing token is required for this request\r\n');
    expect((await c.request(['SET', 'fenced', 'b'], { __ts: hlc(), __ft: hlc(Date.now() - 5000, 0, 'lock') })).raw.toString()).toBe(
      '-ERR the request fencing token is a lower version than the fencing token protecting the resource\r\n',
    );
    expect((await c.request(['SET', 'fenced', 'c'], { __ts: hlc(), __ft: ft1 })).raw.toString()).toBe('+OK\r\n');
    const ft2 = hlc(Date.now(), 0, 'lock');
    expect((await c.request(['SET', 'fenced', 'd'], { __ts: hlc(), __ft: ft2 })).raw.toString()).toBe('+OK\r\n');
    // the newer token replaced the old one
    expect((await c.request(['SET', 'fenced', 'e'], { __ts: hlc(), __ft: ft1 })).raw.toString()).toMatch(/lower version/);
    expect((await c.request(['DEL', 'fenced'])).raw.toString()).toBe('-ERR a fencing token is required for this request\r\n');
    expect((await c.request(['VDEL', 'fenced', 'd'], { __ft: ft1 })).raw.toString()).toMatch(/lower version/);
    expect((await c.request(['SET', 'fenced', 'f'], { __ts: hlc(), __ft: hlc(Date.now() + 120_000) })).raw.toString()).toBe(
      '-ERR the request fencing token timestamp is too far in the future; ensure that the client and broker system clocks are synchronized\r\n',
    );
    expect((await c.request(['DEL', 'fenced'], { __ft: ft2 })).raw.toString()).toBe(':1\r\n');
    // deleted: no fence any more
    expect((await c.request(['SET', 'fenced', 'g'], { __ts: hlc() })).raw.toString()).toBe('+OK\r\n');
  });

  it('leased lock pattern: SET NEX PX, then the lock version fences the resource', async () => {
    const lock = await c.request(['SET', 'lock', 'holder-1', 'NEX', 'PX', '10000'], { __ts: hlc() });
    expect(lock.raw.toString()).toBe('+OK\r\n');
    expect((await c.request(['SET', 'lock', 'holder-2', 'NEX', 'PX', '10000'], { __ts: hlc() })).raw.toString()).toBe(':-1\r\n');
    expect((await c.request(['SET', 'resource', '1'], { __ts: hlc(), __ft: lock.ts! })).raw.toString()).toBe('+OK\r\n');
  });
});

describe('KEYNOTIFY', () => {
  it('notifies SET with the value and DELETE, with the new version, until STOP', async () => {
    const topic = `${NOTIFY}/${hexUpper('dss-main')}/command/notify/${hexUpper('watched')}`;
    expect(topic).toContain('6473732D6D61696E'); // upper-case hex of the client id
    await c.mqtt.subscribeAsync(topic, { qos: 1 });
    expect((await c.request(['KEYNOTIFY', 'watched'])).raw.toString()).toBe('+OK\r\n');
    const set = await c.request(['SET', 'watched', 'v1'], { __ts: hlc() });
    await c.request(['DEL', 'watched']);
    await sleep(100);
    const got = c.notifications.filter((n) => n.topic === topic);
    expect(got.map((n) => n.payload.toString())).toEqual([
      '*4\r\n$6\r\nNOTIFY\r\n$3\r\nSET\r\n$5\r\nVALUE\r\n$2\r\nv1\r\n',
      '*2\r\n$6\r\nNOTIFY\r\n$6\r\nDELETE\r\n',
    ]);
    expect(got[0]!.ts).toBe(set.ts);
    expect((await c.request(['KEYNOTIFY', 'watched', 'STOP'])).raw.toString()).toBe('+OK\r\n');
    expect((await c.request(['KEYNOTIFY', 'watched', 'STOP'])).raw.toString()).toBe(':0\r\n');
    await c.request(['SET', 'watched', 'v2'], { __ts: hlc() });
    await sleep(100);
    expect(c.notifications.filter((n) => n.topic === topic)).toHaveLength(2);
  });

  it('notifies DELETE when a key expires', async () => {
    const topic = `${NOTIFY}/${hexUpper('dss-main')}/command/notify/${hexUpper('ttl-watched')}`;
    await c.mqtt.subscribeAsync(topic, { qos: 1 });
    await c.request(['KEYNOTIFY', 'ttl-watched']);
    await c.request(['SET', 'ttl-watched', 'v', 'PX', '200'], { __ts: hlc() });
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && c.notifications.filter((n) => n.topic === topic).length < 2) await sleep(50);
    expect(c.notifications.filter((n) => n.topic === topic).map((n) => n.payload.toString().split('\r\n')[4])).toEqual(['SET', 'DELETE']);
  });

  it('a registration ends when its client disconnects, even with a persistent session', async () => {
    const id = 'dss-watcher';
    const topic = `${NOTIFY}/${hexUpper(id)}/command/notify/${hexUpper('k-dc')}`;
    let w = await DssClient.connect(broker.url, id);
    await w.mqtt.subscribeAsync(topic, { qos: 1 });
    await w.request(['KEYNOTIFY', 'k-dc']);
    await c.request(['SET', 'k-dc', '1'], { __ts: hlc() });
    await sleep(100);
    expect(w.notifications).toHaveLength(1);
    await w.end();
    w = await DssClient.connect(broker.url, id);
    await w.mqtt.subscribeAsync(topic, { qos: 1 });
    await c.request(['SET', 'k-dc', '2'], { __ts: hlc() });
    await sleep(150);
    expect(w.notifications).toHaveLength(0);
    await w.end();
  });
});

describe('edgemq extensions (XGET, XTX)', () => {
  it('XGET returns value, version and expiry per key, nulls for missing keys', async () => {
    const a = await c.request(['SET', 'xa', '1'], { __ts: hlc() });
    await c.request(['SET', 'xb', '2', 'PX', '60000'], { __ts: hlc() });
    const r = await c.request(['XGET', 'xa', 'missing', 'xb']);
    const [ea, em, eb] = r.value as [Buffer[], null, [Buffer, Buffer, number]];
    expect(ea[0]).toEqual(Buffer.from('1'));
    expect(ea[1]!.toString()).toBe(a.ts);
    expect(ea[2]).toBe(0);
    expect(em).toBeNull();
    expect(eb[2]).toBeGreaterThan(Date.now() + 50_000);
  });

  it('XTX applies all operations under one version, or none when a condition fails', async () => {
    const base = await c.request(['XTX', 'SET', 't1', 'a', 'IFABSENT', 'SET', 't2', 'b']);
    expect(base.raw.toString()).toBe('+OK\r\n');
    const [e1] = (await c.request(['XGET', 't1'])).value as [Buffer, Buffer, number][];
    expect(e1![1].toString()).toBe(base.ts);
    // second op's version check fails: the first op is not applied either
    const failed = await c.request(['XTX', 'SET', 't1', 'changed', 'DEL', 't2', 'IFVER', hlc(1, 0, 'edgemq')]);
    expect(failed.raw.toString()).toBe(':-1\r\n');
    expect((await c.request(['GET', 't1'])).value).toEqual(Buffer.from('a'));
    const ok = await c.request(['XTX', 'SET', 't1', 'c', 'IFVER', base.ts!, 'DEL', 't2', 'IFVER', base.ts!, 'SET', 't3', 'x', 'PX', '5000']);
    expect(ok.raw.toString()).toBe('+OK\r\n');
    expect((await c.request(['GET', 't2'])).raw.toString()).toBe('$-1\r\n');
    expect((await c.request(['XTX', 'SET', 't1', 'd', 'IFVER', 'not-a-version'])).raw.toString()).toBe('-ERR malformed version\r\n');
    expect((await c.request(['XTX', 'SET', 't1', 'd', 'NX'])).raw.toString()).toBe('-ERR syntax error\r\n');
    // conditions see earlier operations of the same transaction
    expect((await c.request(['XTX', 'DEL', 't1', 'SET', 't1', 'new', 'IFABSENT'])).raw.toString()).toBe('+OK\r\n');
  });
});

describe('request/response details', () => {
  it('echoes the correlation data and answers on the response topic the client chose', async () => {
    const other = await mqtt.connectAsync(broker.url, { clientId: 'dss-rr', protocolVersion: 5 });
    await other.subscribeAsync('my/own/response', { qos: 1 });
    const got = new Promise<{ payload: Buffer; corr?: Buffer; ts?: string }>((resolve) =>
      other.on('message', (_t, payload, p) => resolve({ payload, corr: p.properties?.correlationData, ts: userProp(p.properties?.userProperties, '__ts') })),
    );
    await other.publishAsync('statestore/v1/FA9AE35F-2F64-47CD-9BFF-08E2B32A0FE8/command/invoke', Buffer.from('*2\r\n$3\r\nGET\r\n$2\r\nxa\r\n'), {
      qos: 1,
      properties: { responseTopic: 'my/own/response', correlationData: Buffer.from('corr-1') },
    });
    const r = await got;
    expect(r.payload.toString()).toBe('$1\r\n1\r\n');
    expect(r.corr?.toString()).toBe('corr-1');
    expect(r.ts).toMatch(/^\d{15}:\d{5}:edgemq$/);
    await other.endAsync();
  });
});
