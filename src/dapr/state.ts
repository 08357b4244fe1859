/**
 * The Dapr state store component (`StateStore`, `TransactionalStateStore`,
 * `TransactionalStoreMultiMaxSize`) backed by edgemq's distributed state store over MQTT 5.
 *
 * - ETag = the key's version (an HLC timestamp); every write makes a new one. An etag check is a
 *   compare-and-set done in the partition (XTX `IFVER`), so it is atomic; first-write without an etag is
 *   XTX `IFABSENT`. A mismatch is FAILED_PRECONDITION + BadRequest(etag); a malformed etag INVALID_ARGUMENT
 *   + BadRequest(etag), as daprd expects.
 * - TTL: `ttlInSeconds` -> `PX`; Get/BulkGet return `ttlExpireTime` (RFC3339) for keys that expire.
 * - Transact: one XTX, all-or-nothing. Keys arrive as `<appId>||<key>`; edgemq partitions state keys on the
 *   part before `||`, so all keys of one app share a partition.
 * - Bulk calls: BulkGet is one XGET; BulkSet/BulkDelete apply per key (not atomic, as Dapr defines them) and
 *   report the first failure (etag errors first).
 * Features: ETAG, TRANSACTIONAL, TTL. Not QUERY_API, DELETE_WITH_PREFIX or KEYS_LIKE (no RPC exists for the
 * last two; the first is not implemented).
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { KvErrors, parseHlc } from '../partition/kv-store.js';
import { RespError, type RespValue } from '../statestore/resp3.js';
import { DssClient } from './dss-client.js';
import { Instances, instanceName, unary } from './instances.js';
import { brokerEndpoint, intOf, MetadataError } from './metadata.js';
import { etagInvalid, etagMismatch, plainError } from './rpc-status.js';

type Log = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
type Props = Record<string, string>;

export const STATE_FEATURES = ['ETAG', 'TRANSACTIONAL', 'TTL'];

interface Etag {
  value: string;
}
interface StateOptions {
  concurrency: string;
  consistency: string;
}
interface SetRequest {
  key: string;
  value: Buffer;
  etag: Etag | null;
  metadata: Props;
  options: StateOptions | null;
  contentType: string;
}
interface DeleteRequest {
  key: string;
  etag: Etag | null;
  metadata: Props;
  options: StateOptions | null;
}
interface GetRequest {
  key: string;
  metadata: Props;
}

export class StateInstance {
  private constructor(
    readonly name: string,
    private readonly dss: DssClient,
    readonly maxTransactionSize: number,
  ) {}

  static async create(name: string, p: Props, log: Log): Promise<StateInstance> {
    let endpoint;
    let max;
    try {
      endpoint = brokerEndpoint(p);
      max = intOf(p.maxTransactionSize, 0, 'maxTransactionSize', 0);
    } catch (err) {
      if (err instanceof MetadataError) throw plainError(grpc.status.INVALID_ARGUMENT, err.message);
      throw err;
    }
    // keyPrefix (Azure 2024+ metadata) needs nothing here: daprd prefixes keys itself.
    const clientId = p.clientID || p.clientId || `edgemq-dapr-state-${randomBytes(6).toString('hex')}`;
    let dss: DssClient;
    try {
      dss = await DssClient.connect(endpoint, clientId, (err) => log.warn({ err: err.message, instance: name }, 'state store connection error'));
    } catch (err) {
      throw plainError(grpc.status.UNAVAILABLE, (err as Error).message);
    }
    log.info({ instance: name, broker: endpoint.display }, 'state store instance ready');
    return new StateInstance(name, dss, max);
  }

  async get(keys: string[]): Promise<{ data: Buffer; etag: Etag | null; metadata: Props }[]> {
    const reply = await this.call(['XGET', ...keys]);
    if (!Array.isArray(reply) || reply.length !== keys.length) throw plainError(grpc.status.INTERNAL, 'unexpected reply to XGET');
    return reply.map((e) => {
      if (e === null) return { data: Buffer.alloc(0), etag: null, metadata: {} };
      const [value, version, expiresAt] = e as [Buffer, Buffer, number];
      const metadata: Props = {};
      if (expiresAt > 0) metadata.ttlExpireTime = new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z');
      return { data: value, etag: { value: version.toString() }, metadata };
    });
  }

  async write(ops: (string | Buffer)[][]): Promise<void> {
    const reply = await this.call(['XTX', ...ops.flat()]);
    if (reply === 'OK') return;
    if (reply === -1) throw etagMismatch();
    throw plainError(grpc.status.INTERNAL, `unexpected reply to XTX: ${String(reply)}`);
  }

  private async call(args: (string | Buffer)[]): Promise<RespValue> {
    let reply: RespValue;
    try {
      reply = await this.dss.request(args);
    } catch (err) {
      throw plainError(grpc.status.UNAVAILABLE, (err as Error).message);
    }
    if (reply instanceof RespError) {
      if (reply.message === 'malformed version') throw etagInvalid();
      if (reply.message === 'not authorized') throw plainError(grpc.status.PERMISSION_DENIED, 'state store: not authorized');
      if (reply.message === 'the quota has been exceeded') throw plainError(grpc.status.RESOURCE_EXHAUSTED, reply.message);
      // A transaction over keys of several partitions (keyPrefix none/name on a cluster): the caller's request, not the store, is at fault.
      if (reply.message === KvErrors.crossPartition) throw plainError(grpc.status.INVALID_ARGUMENT, `state store: ${reply.message}`);
      throw plainError(grpc.status.INTERNAL, `state store: ${reply.message}`);
    }
    return reply;
  }

  close(): Promise<void> {
    return this.dss.close();
  }
}

function etagOf(etag: Etag | null): string | undefined {
  // `{value: ""}` counts as no etag, as in Dapr's in-memory store.
  if (!etag || etag.value === '') return undefined;
  if (!parseHlc(etag.value)) throw etagInvalid();
  return etag.value;
}

function key(k: string): Buffer {
  if (!k) throw plainError(grpc.status.INVALID_ARGUMENT, 'key is empty');
  return Buffer.from(k, 'utf8');
}

/** One XTX operation for a Dapr Set. */
export function setOp(r: SetRequest): (string | Buffer)[] {
  const op: (string | Buffer)[] = ['SET', key(r.key), r.value ?? Buffer.alloc(0)];
  const etag = etagOf(r.etag);
  if (etag) op.push('IFVER', etag);
  else if (r.options?.concurrency === 'CONCURRENCY_FIRST_WRITE') op.push('IFABSENT');
  const ttl = r.metadata?.ttlInSeconds;
  if (ttl !== undefined && ttl !== '') {
    if (!/^-?\d+$/.test(ttl.trim())) throw plainError(grpc.status.INVALID_ARGUMENT, `metadata ttlInSeconds: "${ttl}" is not an integer`);
    const seconds = Number(ttl.trim());
    if (seconds > 0) op.push('PX', String(seconds * 1000));
  }
  return op;
}

/** One XTX operation for a Dapr Delete. */
export function deleteOp(r: DeleteRequest): (string | Buffer)[] {
  const op: (string | Buffer)[] = ['DEL', key(r.key)];
  const etag = etagOf(r.etag);
  if (etag) op.push('IFVER', etag);
  return op;
}

/** Per-key writes, not atomic; the first failure is reported, etag errors before others. */
async function each(inst: StateInstance, ops: (() => (string | Buffer)[])[]): Promise<void> {
  const results = await Promise.allSettled(ops.map(async (build) => inst.write([build()])));
  const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as grpc.ServiceError] : []));
  if (errors.length === 0) return;
  const rank = (e: grpc.ServiceError) => (e.code === grpc.status.INVALID_ARGUMENT ? 0 : e.code === grpc.status.FAILED_PRECONDITION ? 1 : 2);
  errors.sort((a, b) => rank(a) - rank(b));
  throw errors[0];
}

export function stateStoreService(instances: Instances<StateInstance>, log: Log): grpc.UntypedServiceImplementation {
  return {
    Init: unary(async (req: { metadata: { properties: Props } | null }, md) => {
      const name = instanceName(md);
      await instances.put(name, await StateInstance.create(name, req.metadata?.properties ?? {}, log));
      return {};
    }),
    Features: unary(async () => ({ features: STATE_FEATURES })),
    Ping: unary(async () => ({})),
    Get: unary(async (req: GetRequest, md) => {
      const [item] = await instances.get(md).get([req.key]);
      return { data: item!.data, etag: item!.etag, metadata: item!.metadata, contentType: '' };
    }),
    BulkGet: unary(async (req: { items: GetRequest[] }, md) => {
      if (req.items.length === 0) return { items: [] };
      const got = await instances.get(md).get(req.items.map((i) => i.key));
      return { items: req.items.map((i, n) => ({ key: i.key, data: got[n]!.data, etag: got[n]!.etag, metadata: got[n]!.metadata, error: '', contentType: '' })) };
    }),
    Set: unary(async (req: SetRequest, md) => {
      await instances.get(md).write([setOp(req)]);
      return {};
    }),
    Delete: unary(async (req: DeleteRequest, md) => {
      await instances.get(md).write([deleteOp(req)]);
      return {};
    }),
    BulkSet: unary(async (req: { items: SetRequest[] }, md) => {
      await each(instances.get(md), req.items.map((i) => () => setOp(i)));
      return {};
    }),
    BulkDelete: unary(async (req: { items: DeleteRequest[] }, md) => {
      await each(instances.get(md), req.items.map((i) => () => deleteOp(i)));
      return {};
    }),
  };
}

export function transactionalService(instances: Instances<StateInstance>): grpc.UntypedServiceImplementation {
  return {
    Transact: unary(async (req: { operations: { request?: 'set' | 'delete'; set?: SetRequest | null; delete?: DeleteRequest | null }[] }, md) => {
      const ops = req.operations.map((o) => {
        if (o.request === 'set' && o.set) return setOp(o.set);
        if (o.request === 'delete' && o.delete) return deleteOp(o.delete);
        throw plainError(grpc.status.INVALID_ARGUMENT, 'transaction operation without set or delete');
      });
      if (ops.length > 0) await instances.get(md).write(ops);
      return {};
    }),
  };
}

export function multiMaxSizeService(instances: Instances<StateInstance>): grpc.UntypedServiceImplementation {
  return {
    MultiMaxSize: unary(async (_req, md) => ({ maxSize: instances.get(md).maxTransactionSize })),
  };
}
