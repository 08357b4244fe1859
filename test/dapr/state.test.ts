/**
 * The state store component as daprd drives it, over the real gRPC protocol on its Unix socket, with
 * the Dapr state conformance behaviours (etag, first-write, ttl, transaction, bulk) and daprd's error details.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { startBroker, type RunningBroker } from '../helpers/broker.js';
import { ComponentClient, richStatus, startComponents, type Components } from './daprd.js';
import { DssClient } from '../statestore/dss-client.js';

let broker: RunningBroker;
let comps: Components;
let store: ComponentClient;
const S = 'StateStore';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const get = (key: string) => store.call(S, 'Get', { key, metadata: {} });
const set = (key: string, value: string, extra: object = {}) => store.call(S, 'Set', { key, value: Buffer.from(value), metadata: {}, ...extra });
async function fails(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (e) {
    return e as grpc.ServiceError;
  }
  throw new Error('expected the call to fail');
}
function expectEtagMismatch(e: grpc.ServiceError) {
  expect(e.code).toBe(grpc.status.FAILED_PRECONDITION);
  expect(richStatus(e)).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, typeUrls: ['type.googleapis.com/google.rpc.BadRequest'], badRequestFields: ['etag'] });
}

beforeAll(async () => {
  broker = await startBroker();
  comps = await startComponents();
  store = new ComponentClient(comps.socket('edgemq-state'), 'statestore');
  await store.call(S, 'Init', { metadata: { properties: { url: `tcp://127.0.0.1:${broker.port}` } } });
});
afterAll(async () => {
  store?.close();
  await comps?.stop();
  await broker?.stop();
});

describe('state store component', () => {
  it('advertises exactly what works: ETAG, TRANSACTIONAL, TTL (no QUERY_API, DELETE_WITH_PREFIX, KEYS_LIKE)', async () => {
    expect((await store.call(S, 'Features', {})).features).toEqual(['ETAG', 'TRANSACTIONAL', 'TTL']);
    await store.call(S, 'Ping', {});
    expect((await store.call('TransactionalStoreMultiMaxSize', 'MultiMaxSize', {})).maxSize).toBe(0);
  });

  it('Get of a missing key: no data, no etag, no error', async () => {
    const r = await get('app||never-written');
    expect(r.data.length).toBe(0);
    expect(r.etag).toBeNull();
    expect(r.metadata).toEqual({});
  });

  it('set/get round-trips bytes; values are opaque; no ttlExpireTime without TTL', async () => {
    for (const [k, v] of [['int', '123'], ['json', '{"a":"b"}'], ['empty', ''], ['text', 'hello world']] as const) {
      await set(`app||${k}`, v);
      const r = await get(`app||${k}`);
      expect(r.data.toString()).toBe(v);
      expect(r.etag.value).not.toBe('');
      expect(r.metadata.ttlExpireTime).toBeUndefined();
    }
    const bin = Buffer.from([0x01, 0x00, 0xff]);
    await store.call(S, 'Set', { key: 'app||bytes', value: bin, metadata: {} });
    expect((await get('app||bytes')).data).toEqual(bin);
  });

  it('the same keys are visible through the MQTT state store protocol', async () => {
    await set('app||shared', 'from-dapr');
    const dss = await DssClient.connect(broker.url, 'dss-cross');
    expect((await dss.request(['GET', 'app||shared'])).raw.toString()).toBe('$9\r\nfrom-dapr\r\n');
    await dss.end();
  });

  it('etag: mismatch is FAILED_PRECONDITION + BadRequest(etag); the right etag writes and changes it', async () => {
    await set('app||e', 'v1');
    const e1 = (await get('app||e')).etag.value;
    expectEtagMismatch(await fails(set('app||e', 'v2', { etag: { value: '000000000000001:00000:edgemq' } })));
    await set('app||e', 'v2', { etag: { value: e1 } });
    const e2 = (await get('app||e')).etag.value;
    expect(e2).not.toBe(e1);
    expectEtagMismatch(await fails(set('app||e', 'v3', { etag: { value: e1 } })));
    expect((await get('app||e')).data.toString()).toBe('v2');
  });

  it('a malformed etag is INVALID_ARGUMENT + BadRequest(etag); {value:""} counts as no etag', async () => {
    const e = await fails(set('app||e', 'x', { etag: { value: 'not-an-etag' } }));
    expect(e.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(richStatus(e).badRequestFields).toEqual(['etag']);
    await set('app||e', 'empty-etag', { etag: { value: '' } });
    expect((await get('app||e')).data.toString()).toBe('empty-etag');
  });

  it('an etag on a missing key is a mismatch', async () => {
    expectEtagMismatch(await fails(set('app||missing-etag', 'x', { etag: { value: (await get('app||e')).etag.value } })));
  });

  it('delete: bad etag fails, right etag deletes; then no data and no etag; missing keys delete fine', async () => {
    await set('app||d', 'v');
    const etag = (await get('app||d')).etag.value;
    expectEtagMismatch(await fails(store.call(S, 'Delete', { key: 'app||d', etag: { value: '000000000000001:00000:x' }, metadata: {} })));
    await store.call(S, 'Delete', { key: 'app||d', etag: { value: etag }, metadata: {} });
    const r = await get('app||d');
    expect(r.data.length).toBe(0);
    expect(r.etag).toBeNull();
    await store.call(S, 'Delete', { key: 'app||never', metadata: {} });
  });

  it('first-write: without etag only creates; with the current etag writes; an old etag fails', async () => {
    const fw = { options: { concurrency: 'CONCURRENCY_FIRST_WRITE', consistency: 'CONSISTENCY_UNSPECIFIED' } };
    await set('app||fw', 'a', fw);
    expectEtagMismatch(await fails(set('app||fw', 'b', fw)));
    expectEtagMismatch(await fails(set('app||fw', 'b', { ...fw, etag: { value: '' } })));
    const e1 = (await get('app||fw')).etag.value;
    await set('app||fw', 'c', { ...fw, etag: { value: e1 } });
    expect((await get('app||fw')).etag.value).not.toBe(e1);
    expectEtagMismatch(await fails(set('app||fw', 'd', { ...fw, etag: { value: e1 } })));
    // last-write without etag: unconditional
    await set('app||fw', 'e', { options: { concurrency: 'CONCURRENCY_LAST_WRITE', consistency: 'CONSISTENCY_UNSPECIFIED' } });
    expect((await get('app||fw')).data.toString()).toBe('e');
  });

  it('bulk: BulkSet [bad etag, good] reports the etag error, updates the good key, leaves the bad one', async () => {
    await set('app||b1', 'old1');
    await set('app||b2', 'old2');
    const e1 = (await get('app||b1')).etag.value;
    const err = await fails(
      store.call(S, 'BulkSet', {
        items: [
          { key: 'app||b1', value: Buffer.from('new1'), etag: { value: '000000000000001:00000:x' }, metadata: {} },
          { key: 'app||b2', value: Buffer.from('new2'), metadata: {} },
        ],
      }),
    );
    expectEtagMismatch(err);
    expect((await get('app||b1')).data.toString()).toBe('old1');
    expect((await get('app||b1')).etag.value).toBe(e1);
    expect((await get('app||b2')).data.toString()).toBe('new2');
  });

  it('bulk: BulkGet returns every key in request order, missing ones with empty data/etag and no error', async () => {
    await store.call(S, 'BulkSet', { items: ['x1', 'x2', 'x3'].map((k) => ({ key: `app||${k}`, value: Buffer.from(k), metadata: {} })) });
    const r = await store.call(S, 'BulkGet', { items: ['x3', 'nope', 'x1'].map((k) => ({ key: `app||${k}`, metadata: {} })) });
    expect(r.items.map((i: any) => [i.key, i.data.toString(), Boolean(i.etag?.value), i.error])).toEqual([
      ['app||x3', 'x3', true, ''],
      ['app||nope', '', false, ''],
      ['app||x1', 'x1', true, ''],
    ]);
    const good = (await get('app||x1')).etag.value;
    const bd = await fails(
      store.call(S, 'BulkDelete', {
        items: [
          { key: 'app||x1', etag: { value: good }, metadata: {} },
          { key: 'app||x2', etag: { value: '000000000000001:00000:x' }, metadata: {} },
        ],
      }),
    );
    expectEtagMismatch(bd);
    expect((await get('app||x1')).etag).toBeNull();
    expect((await get('app||x2')).data.toString()).toBe('x2');
    await store.call(S, 'BulkDelete', { items: [{ key: 'app||x2', metadata: {} }, { key: 'app||x3', metadata: {} }] });
    const after = await store.call(S, 'BulkGet', { items: ['x2', 'x3'].map((k) => ({ key: `app||${k}`, metadata: {} })) });
    expect(after.items.map((i: any) => [i.key, i.data.length, i.etag])).toEqual([
      ['app||x2', 0, null],
      ['app||x3', 0, null],
    ]);
  });

  it('ttl: ttlInSeconds "foo" fails; TTL 1 s reads at once with ttlExpireTime ≈ now+1s, then is gone', async () => {
    expect((await fails(set('app||t', 'v', { metadata: { ttlInSeconds: 'foo' } }))).code).toBe(grpc.status.INVALID_ARGUMENT);
    const before = Date.now();
    await set('app||t', 'v', { metadata: { ttlInSeconds: '1' } });
    const r = await get('app||t');
    expect(r.data.toString()).toBe('v');
    expect(r.metadata.ttlExpireTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const at = Date.parse(r.metadata.ttlExpireTime);
    expect(at).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(at).toBeLessThanOrEqual(before + 2000);
    const bulk = await store.call(S, 'BulkGet', { items: [{ key: 'app||t', metadata: {} }] });
    expect(bulk.items[0].metadata.ttlExpireTime).toBe(r.metadata.ttlExpireTime);
    await sleep(1300);
    expect((await get('app||t')).data.length).toBe(0);
  });

  it('ttl: -1 and a Set without ttlInSeconds remove the expiry', async () => {
    await set('app||t2', 'v', { metadata: { ttlInSeconds: '3600' } });
    const exp = Date.parse((await get('app||t2')).metadata.ttlExpireTime);
    expect(Math.abs(exp - (Date.now() + 3600_000))).toBeLessThan(600_000);
    await set('app||t2', 'v', { metadata: { ttlInSeconds: '-1' } });
    expect((await get('app||t2')).metadata.ttlExpireTime).toBeUndefined();
    await set('app||t2', 'v', { metadata: { ttlInSeconds: '3600' } });
    await set('app||t2', 'v');
    expect((await get('app||t2')).metadata.ttlExpireTime).toBeUndefined();
  });

  it('transaction order: [del k1, set k2, del k2, set k3] -> k1 nil, k2 nil, k3 set', async () => {
    await set('app||k1', '"value1"');
    const T = 'TransactionalStateStore';
    await store.call(T, 'Transact', {
      operations: [
        { delete: { key: 'app||k1', metadata: {} } },
        { set: { key: 'app||k2', value: Buffer.from('"value2"'), metadata: {} } },
        { delete: { key: 'app||k2', metadata: {} } },
        { set: { key: 'app||k3', value: Buffer.from('"value3"'), metadata: {} } },
        { delete: { key: 'app||not-there', metadata: {} } },
      ],
      metadata: {},
    });
    expect((await get('app||k1')).data.length).toBe(0);
    expect((await get('app||k2')).data.length).toBe(0);
    expect((await get('app||k3')).data.toString()).toBe('"value3"');
  });

  it('transactions are all-or-nothing: one bad etag and nothing is applied', async () => {
    const T = 'TransactionalStateStore';
    await set('app||tx-a', 'a0');
    const etag = (await get('app||tx-a')).etag.value;
    const err = await fails(
      store.call(T, 'Transact', {
        operations: [
          { set: { key: 'app||tx-new', value: Buffer.from('n'), metadata: {} } },
          { set: { key: 'app||tx-a', value: Buffer.from('a1'), etag: { value: '000000000000001:00000:x' }, metadata: {} } },
        ],
        metadata: {},
      }),
    );
    expectEtagMismatch(err);
    expect((await get('app||tx-new')).data.length).toBe(0);
    await store.call(T, 'Transact', {
      operations: [
        { set: { key: 'app||tx-new', value: Buffer.from('n'), metadata: { ttlInSeconds: '60' } } },
        { set: { key: 'app||tx-a', value: Buffer.from('a1'), etag: { value: etag }, metadata: {} } },
      ],
      metadata: {},
    });
    expect((await get('app||tx-a')).data.toString()).toBe('a1');
    expect((await get('app||tx-new')).metadata.ttlExpireTime).toBeDefined();
  });

  it('keeps one instance per x-component-instance, and refuses calls before Init', async () => {
    const other = new ComponentClient(comps.socket('edgemq-state'), 'never-initialised');
    const e = await fails(other.call(S, 'Get', { key: 'app||int', metadata: {} }));
    expect(e.code).toBe(grpc.status.FAILED_PRECONDITION);
    // Azure IoT MQ 2024+ metadata names
    await other.call(S, 'Init', { metadata: { properties: { hostname: '127.0.0.1', tcpPort: String(broker.port), useTls: 'false', keyPrefix: 'appid' } } });
    expect((await other.call(S, 'Get', { key: 'app||int', metadata: {} })).data.toString()).toBe('123');
    other.close();
  });
});
