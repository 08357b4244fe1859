/**
 * `ClusterStore` on etcd v3 (the npm `etcd3` client over @grpc/grpc-js). Keys, under a prefix per
 * cluster (default `/edgemq/`):
 *   members/<id>  a ClusterNode as JSON, attached to the node's lease
 *   leader        the coordinator's id, attached to its lease (created only when absent: election)
 *   map           the ClusterMap as JSON; its mod revision is the version compare-and-swap checks
 * Leases, the create-if-absent transaction and the compare-and-swap are etcd's; this file only
 * phrases them. While etcd is unreachable, unary calls fail after STORE_CALL_TIMEOUT_MS and the
 * callers retry; watches reconnect on their own and resume from the last revision they saw.
 */
import { Etcd3, EtcdLeaseInvalidError, isRecoverableError, type Lease, type Watcher, type IKeyValue } from 'etcd3';
import { circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import type { Logger } from 'pino';
import type { ClusterMap, ClusterNode } from '../map.js';
import { STORE_CALL_TIMEOUT_MS, STORE_RECONNECT_MAX_MS, STORE_RETRY_MS } from '../timeouts.js';
import { StoreUnavailableError, type ClusterStore, type Leadership, type Registration, type Unwatch, type Versioned } from './store.js';

export interface EtcdStoreOptions {
  /** Client URLs, e.g. `http://127.0.0.1:2379`. */
  endpoints: string[];
  /** Key prefix of this cluster (several clusters may share one etcd). */
  prefix?: string;
  log?: Logger;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export class EtcdStore implements ClusterStore {
  private readonly client: Etcd3;
  private readonly prefix: string;
  private readonly log: Logger | undefined;
  private closed = false;
  private readonly closers = new Set<() => Promise<void>>();
  /** Leadership leases given up while etcd was unreachable; revoked before the next campaign. */
  private readonly lostLeases = new Set<string>();

  constructor(opts: EtcdStoreOptions) {
    if (opts.endpoints.length === 0) throw new Error('cluster store: no etcd endpoints given');
    this.prefix = opts.prefix ?? '/edgemq/';
    this.log = opts.log;
    this.client = new Etcd3({
      hosts: opts.endpoints,
      dialTimeout: STORE_CALL_TIMEOUT_MS,
      grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': STORE_RECONNECT_MAX_MS },
      // Streams (watch, lease keep-alive) live as long as the process; only unary calls get a deadline.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + STORE_CALL_TIMEOUT_MS }),
      faultHandling: {
        // etcd3's default breaker stays open 5 s after three failures; a restarted local etcd should be used at once.
        host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: STORE_RETRY_MS, breaker: new ConsecutiveBreaker(3) }),
        global: retry(handleWhen(isRecoverableError), { maxAttempts: 1 }),
        // etcd3 types this as a backoff state (it calls next() for each reconnect), not as the factory.
        watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: STORE_RECONNECT_MAX_MS }).next(),
      },
    });
  }

  private key(name: string): string {
    return this.prefix + name;
  }

  async register(node: ClusterNode, ttlSeconds: number): Promise<Registration> {
    const reg = new EtcdRegistration(this.client, this.key(`members/${node.id}`), node, ttlSeconds, this.log, () => this.closed);
    await reg.start();
    this.closers.add(() => reg.close());
    return reg;
  }

  async members(): Promise<ClusterNode[]> {
    let all: Record<string, string>;
    try {
      all = await this.client.getAll().prefix(this.key('members/')).strings();
    } catch (err) {
      throw new StoreUnavailableError('reading the membership', err);
    }
    const nodes: ClusterNode[] = [];
    for (const [k, v] of Object.entries(all)) {
      try {
        nodes.push(JSON.parse(v) as ClusterNode);
      } catch {
        this.log?.warn({ key: k }, 'membership record is not JSON; ignored');
      }
    }
    return nodes;
  }

  async watchMembers(onChange: (nodes: ClusterNode[]) => void): Promise<Unwatch> {
    // Any event re-reads the whole (small) membership: simpler than applying deltas, and correct
    // after a reconnect that may have missed deletions compacted away.
    let reading = false;
    let again = false;
    const reread = async (): Promise<void> => {
      if (reading) {
        again = true;
        return;
      }
      reading = true;
      try {
        do {
          again = false;
          try {
            onChange(await this.members());
          } catch (err) {
            if (this.closed) return;
            this.log?.warn({ err: (err as Error).message }, 'membership not readable; retrying');
            await sleep(STORE_RETRY_MS);
            again = true;
          }
        } while (again && !this.closed);
      } finally {
        reading = false;
      }
    };
    const watcher = await this.watch((b) => b.prefix(this.key('members/')), 'membership');
    watcher.on('put', () => void reread());
    watcher.on('delete', () => void reread());
    watcher.on('connected', () => void reread());
    await reread();
    return this.unwatchOf(watcher);
  }

  async campaign(id: string, ttlSeconds: number, signal?: AbortSignal): Promise<Leadership> {
    const leaderKey = this.key('leader');
    for (;;) {
      if (signal?.aborted || this.closed) throw new Error('campaign cancelled');
      await this.revokeLostLeases();
      const lease = this.client.lease(ttlSeconds);
      lease.on('lost', () => {}); // reported through Leadership.lost once leading; before that a failed grant is retried below
      let leaseId: string;
      let won = false;
      let seenAt = '';
      try {
        leaseId = await lease.grant();
        const res = await this.client.if(leaderKey, 'Create', '==', 0).then(this.client.put(leaderKey).value(id).lease(leaseId)).commit();
        won = res.succeeded;
        seenAt = res.header.revision;
      } catch (err) {
        await lease.revoke().catch(() => {});
        this.log?.warn({ err: (err as Error).message }, 'coordinator election: store unreachable; retrying');
        await sleep(STORE_RETRY_MS);
        continue;
      }
      if (won) return this.leadership(id, lease, leaseId);
      await lease.revoke().catch(() => {});
      // Someone leads: wait for its key to go (resignation or lease expiry), or re-check after one
      // TTL. Watched from just after the revision that saw it, so a deletion before the watch
      // starts is not missed (it would cost a whole TTL after a coordinator's death).
      await this.waitForDelete(leaderKey, ttlSeconds * 1000, signal, seenAt);
    }
  }

  private leadership(id: string, lease: Lease, leaseId: string): Leadership {
    let resolveLost!: (e: Error) => void;
    const lost = new Promise<Error>((r) => (resolveLost = r));
    lease.removeAllListeners('lost');
    lease.on('lost', (err: Error) => {
      this.lostLeases.add(leaseId);
      resolveLost(err);
    });
    const resign = async () => {
      resolveLost(new Error('resigned'));
      await lease.revoke().catch(() => {});
    };
    this.closers.add(resign);
    return { id, token: leaseId, lost, resign };
  }

  /**
   * A lease this client stopped renewing because etcd was unreachable may still exist: a restarted
   * etcd grants every lease a full TTL again. Its leader key would then block the next election for
   * that long although nobody leads; revoking it (ours, and no longer used for fencing) frees the key.
   */
  private async revokeLostLeases(): Promise<void> {
    for (const id of this.lostLeases) {
      try {
        await this.client.leaseClient.leaseRevoke({ ID: id });
        this.lostLeases.delete(id);
      } catch (err) {
        // Expired already: nothing to free. Any other failure (etcd still unreachable, an open circuit) is tried again next round.
        if (err instanceof EtcdLeaseInvalidError) this.lostLeases.delete(id);
      }
    }
  }

  private async waitForDelete(key: string, timeoutMs: number, signal?: AbortSignal, seenAt = ''): Promise<void> {
    let watcher: Watcher | undefined;
    try {
      const builder = this.client.watch().key(key);
      if (seenAt !== '') builder.startRevision(String(BigInt(seenAt) + 1n));
      watcher = await builder.create();
    } catch {
      await sleep(STORE_RETRY_MS);
      return;
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      t.unref();
      watcher!.once('delete', () => {
        clearTimeout(t);
        resolve();
      });
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    await Promise.race([watcher.cancel().catch(() => {}), sleep(STORE_CALL_TIMEOUT_MS)]);
  }

  async leader(): Promise<string | null> {
    try {
      return await this.client.get(this.key('leader')).string();
    } catch (err) {
      throw new StoreUnavailableError('reading the leader', err);
    }
  }

  async forgetMember(id: string, pid: number): Promise<boolean> {
    const key = this.key(`members/${id}`);
    try {
      const kv = (await this.client.get(key).exec()).kvs[0];
      if (!kv || (JSON.parse(kv.value.toString('utf8')) as ClusterNode).pid !== pid) return false;
      // Only that version of the record: a registration of the restarted process is never removed.
      const res = await this.client.if(key, 'Mod', '==', kv.mod_revision).then(this.client.delete().key(key)).commit();
      return res.succeeded;
    } catch (err) {
      throw new StoreUnavailableError(`removing the membership of ${id}`, err);
    }
  }

  async readMap(): Promise<Versioned<ClusterMap> | null> {
    let res;
    try {
      res = await this.client.get(this.key('map')).exec();
    } catch (err) {
      throw new StoreUnavailableError('reading the cluster map', err);
    }
    const kv = res.kvs[0];
    return kv ? parseMap(kv) : null;
  }

  async writeMap(map: ClusterMap, expected: string | null, leadership: Leadership): Promise<boolean> {
    const mapKey = this.key('map');
    try {
      const res = await this.client
        .if(this.key('leader'), 'Lease', '==', leadership.token)
        .and(mapKey, expected === null ? 'Create' : 'Mod', '==', expected === null ? 0 : expected)
        .then(this.client.put(mapKey).value(JSON.stringify(map)))
        .commit();
      return res.succeeded;
    } catch (err) {
      throw new StoreUnavailableError(`writing the cluster map (epoch ${map.epoch})`, err);
    }
  }

  async readRequestedPartitions(): Promise<number | null> {
    let text: string | null;
    try {
      text = await this.client.get(this.key('scale/partitions')).string();
    } catch (err) {
      throw new StoreUnavailableError('reading the requested partition count', err);
    }
    const n = text === null ? NaN : Number(text);
    return Number.isInteger(n) && n > 0 ? n : null;
  }

  async requestPartitions(partitions: number): Promise<void> {
    try {
      await this.client.put(this.key('scale/partitions')).value(String(partitions)).exec();
    } catch (err) {
      throw new StoreUnavailableError('writing the requested partition count', err);
    }
  }

  async watchMap(onChange: (map: Versioned<ClusterMap>) => void): Promise<Unwatch> {
    let last = -1n;
    const deliver = (m: Versioned<ClusterMap> | null) => {
      if (!m || BigInt(m.version) <= last) return;
      last = BigInt(m.version);
      onChange(m);
    };
    const watcher = await this.watch((b) => b.key(this.key('map')), 'cluster map');
    watcher.on('put', (kv: IKeyValue) => deliver(parseMap(kv)));
    // After a reconnect, read once: the watch resumes from its revision, this only closes a race at start.
    watcher.on('connected', () => void this.readMap().then(deliver, () => {}));
    deliver(await this.readMap());
    return this.unwatchOf(watcher);
  }

  private async watch(build: (b: ReturnType<Etcd3['watch']>) => ReturnType<Etcd3['watch']>, what: string): Promise<Watcher> {
    let watcher: Watcher;
    try {
      watcher = await build(this.client.watch()).create();
    } catch (err) {
      throw new StoreUnavailableError(`watching the ${what}`, err);
    }
    watcher.on('error', (err: Error) => this.log?.warn({ err: err.message }, `watch of the ${what} failed`));
    watcher.on('disconnected', () => this.log?.debug(`watch of the ${what} disconnected; reconnecting`));
    return watcher;
  }

  private unwatchOf(watcher: Watcher): Unwatch {
    const stop = async () => {
      this.closers.delete(stop);
      // Cancelling asks etcd; while etcd is down that answer never comes, and a caller (a deposed
      // coordinator about to campaign again) must not wait for it.
      await Promise.race([watcher.cancel().catch(() => {}), sleep(STORE_CALL_TIMEOUT_MS)]);
    };
    this.closers.add(stop);
    return stop;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.closers].map((c) => c().catch(() => {})));
    this.client.close();
  }
}

function parseMap(kv: IKeyValue): Versioned<ClusterMap> {
  return { value: JSON.parse(kv.value.toString('utf8')) as ClusterMap, version: String(kv.mod_revision) };
}

/** A membership key under a lease, re-created under a fresh lease whenever the old one is lost (etcd was down longer than the TTL). */
class EtcdRegistration implements Registration {
  private lease: Lease | undefined;
  private stopped = false;

  constructor(
    private readonly client: Etcd3,
    private readonly key: string,
    private node: ClusterNode,
    private readonly ttl: number,
    private readonly log: Logger | undefined,
    private readonly storeClosed: () => boolean,
  ) {}

  async start(): Promise<void> {
    const lease = this.client.lease(this.ttl);
    lease.on('lost', () => {}); // a failed grant is reported by the rejected put below
    try {
      await lease.put(this.key).value(JSON.stringify(this.node));
    } catch (err) {
      await lease.revoke().catch(() => {});
      throw new StoreUnavailableError(`registering ${this.node.id}`, err);
    }
    this.lease = lease;
    lease.removeAllListeners('lost');
    lease.once('lost', (err: Error) => void this.renew(lease, err));
  }

  private async renew(old: Lease, err: Error): Promise<void> {
    if (this.lease !== old) return;
    this.log?.warn({ node: this.node.id, err: err.message }, 'membership lease lost; registering again');
    while (!this.stopped && !this.storeClosed()) {
      try {
        await this.start();
        this.log?.info({ node: this.node.id }, 'membership registered again');
        return;
      } catch {
        await sleep(STORE_RETRY_MS);
      }
    }
  }

  async update(node: ClusterNode): Promise<void> {
    this.node = node;
    if (!this.lease) return;
    try {
      await this.lease.put(this.key).value(JSON.stringify(node));
    } catch (err) {
      throw new StoreUnavailableError(`updating ${node.id}`, err);
    }
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const lease = this.lease;
    this.lease = undefined;
    await lease?.revoke().catch(() => {});
  }
}
