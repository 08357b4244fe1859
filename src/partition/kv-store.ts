/**
 * The keyed state of the distributed state store (DSS), kept inside the partition state machine so it
 * is logged, replayed and replicated with everything else. Deterministic like the rest of the partition:
 * versions are hybrid-logical-clock (HLC) timestamps derived from the command's `now` and the request's
 * `__ts`, TTL expiry runs from the `tick` command, KEYNOTIFY notifications are messages routed by the
 * partition itself. The wire protocol (RESP3 over MQTT 5 request/response) lives in `statestore/`;
 * this file sees parsed requests only.
 *
 * Semantics follow Azure IoT MQ's state store: SET [NX|NEX] [PX ms], GET, DEL, VDEL, KEYNOTIFY, HLC
 * versions `{ms}:{counter}:{node}` (`__ts`), fencing tokens (`__ft`) and its error strings. Two
 * extensions serve Dapr and are never produced for Azure's verbs: XGET (value + version + expiry of
 * several keys at once) and XTX (all-or-nothing multi-key writes with compare-and-set on versions).
 */
import { instanceOf } from '../core/connection-ids.js';
import type { Message } from '../core/types.js';
import type { PartitionOutput } from './output.js';

export const STATESTORE_REQUEST_TOPIC = 'statestore/v1/FA9AE35F-2F64-47CD-9BFF-08E2B32A0FE8/command/invoke';
export const STATESTORE_NOTIFY_PREFIX = 'clients/statestore/v1/FA9AE35F-2F64-47CD-9BFF-08E2B32A0FE8/';
/** Requests, fencing tokens and timestamps may run at most this far ahead of the store's clock. */
export const MAX_CLOCK_SKEW_MS = 60_000;

/** Error texts as Azure's SDKs match them. */
export const KvErrors = {
  futureTimestamp: 'the request timestamp is too far in the future; ensure that the client and broker system clocks are synchronized',
  fencingRequired: 'a fencing token is required for this request',
  futureFencingToken:
    'the request fencing token timestamp is too far in the future; ensure that the client and broker system clocks are synchronized',
  staleFencingToken: 'the request fencing token is a lower version than the fencing token protecting the resource',
  quota: 'the quota has been exceeded',
  syntax: 'syntax error',
  notAuthorized: 'not authorized',
  unknownCommand: 'unknown command',
  wrongArgs: 'wrong number of arguments',
  missingTimestamp: 'missing timestamp',
  malformedTimestamp: 'malformed timestamp',
  emptyKey: 'the key length is zero',
  /** Extensions (not Azure's). */
  malformedFencingToken: 'malformed fencing token',
  malformedVersion: 'malformed version',
  /** Cluster: an XTX whose keys are in several partitions (a cross-partition transaction is not built). */
  crossPartition: 'the keys of one transaction must share a partition key (the part before "||")',
} as const;

// ---- hybrid logical clock ---------------------------------------------------------------------------

export interface Hlc {
  ms: number;
  counter: number;
  node: string;
}

/** `{wallClockMs}:{counter}:{nodeId}`; the node id may itself contain ':' (split into three only). */
export function parseHlc(text: string): Hlc | undefined {
  const a = text.indexOf(':');
  const b = a < 0 ? -1 : text.indexOf(':', a + 1);
  if (a <= 0 || b <= a + 1) return undefined;
  const msText = text.slice(0, a);
  const counterText = text.slice(a + 1, b);
  if (!/^\d{1,16}$/.test(msText) || !/^\d{1,10}$/.test(counterText)) return undefined;
  const ms = Number(msText);
  const counter = Number(counterText);
  if (!Number.isSafeInteger(ms) || counter > 0xffffffff) return undefined;
  return { ms, counter, node: text.slice(b + 1) };
}

/** The SDKs' layout, `%015d:%05d:%s`, which also sorts as text. */
export function formatHlc(h: Hlc): string {
  return `${String(h.ms).padStart(15, '0')}:${String(h.counter).padStart(5, '0')}:${h.node}`;
}

export function compareHlc(a: Hlc, b: Hlc): number {
  if (a.ms !== b.ms) return a.ms < b.ms ? -1 : 1;
  if (a.counter !== b.counter) return a.counter < b.counter ? -1 : 1;
  return a.node < b.node ? -1 : a.node > b.node ? 1 : 0;
}

// ---- requests and results ---------------------------------------------------------------------------

export type KvOp =
  | { verb: 'SET'; key: Buffer; value: Buffer; condition?: 'NX' | 'NEX'; ttlMs?: number }
  | { verb: 'GET'; key: Buffer }
  | { verb: 'DEL'; key: Buffer }
  | { verb: 'VDEL'; key: Buffer; value: Buffer }
  | { verb: 'KEYNOTIFY'; key: Buffer; stop: boolean }
  /** Extension: several keys with their versions and expiry, read at one point of the log. */
  | { verb: 'XGET'; keys: Buffer[] }
  /** Extension: all-or-nothing writes; every condition is checked before anything is applied. */
  | { verb: 'XTX'; ops: KvTxOp[] };

export type KvTxOp =
  /** `ifVersion`: the key must exist with this version; `ifAbsent`: the key must not exist. No `ttlMs` = no expiry. */
  | { verb: 'SET'; key: Buffer; value: Buffer; ifVersion?: string; ifAbsent?: boolean; ttlMs?: number }
  | { verb: 'DEL'; key: Buffer; ifVersion?: string };

export interface KvRequest {
  /** The requesting client (KEYNOTIFY registrations belong to it). */
  clientId: string;
  /** The request's `__ts` user property, unparsed. */
  timestamp?: string;
  /** The request's `__ft` user property, unparsed. */
  fencingToken?: string;
  /**
   * Cluster: the requester's connection (cluster-wide id), named by the front end holding it. A
   * KEYNOTIFY registration in a partition other than the client's session's is tied to it, and ends
   * with an `unwatch` command from that front end (or for all of a dead front end's connections).
   */
  connectionId?: number;
  op: KvOp;
}

export interface KvEntryView {
  value: Buffer;
  version: string;
  /** Absolute expiry (ms since the epoch); undefined = never. */
  expiresAt?: number;
}

/** RESP3 reply kinds: `+OK`, `:n`, `$n value` / `$-1`, an array of entries (extension), `-ERR text`. */
export type KvResult =
  | { type: 'ok'; version: string }
  | { type: 'int'; value: number; version: string }
  | { type: 'blob'; value: Buffer | null; version: string }
  | { type: 'entries'; entries: (KvEntryView | null)[]; version: string }
  | { type: 'error'; message: string };

/** What the store needs from the partition around it. */
export interface KvHost {
  /** Node id written into versions. */
  readonly nodeId: string;
  /**
   * The live connection of a client, 0 if none: KEYNOTIFY registrations end with the connection.
   * Undefined on a cluster when the client's session lives in another partition: this one cannot see
   * its connection end, and is told (`unwatch`).
   */
  connectionOf(clientId: string): number | undefined;
  /** Routes a message inside the partition (KEYNOTIFY notifications). */
  route(message: Message, now: number, out: PartitionOutput): void;
}

export interface KvSnapshot {
  clock: string;
  entries: { k: string; v: string; ver: string; exp?: number; ft?: string }[];
  /** KEYNOTIFY registrations: key (base64), client id, connection id. Absent in snapshots of older versions. */
  watchers?: [string, string, number][];
}

interface Entry {
  key: Buffer;
  value: Buffer;
  version: Hlc;
  expiresAt?: number;
  fence?: Hlc;
}

type Check = { ok: true; ts?: Hlc; ft?: Hlc } | { ok: false; message: string };

export class KvStore {
  /** Keyed by the key's bytes as latin1 (one char per byte, so binary keys map 1:1). */
  readonly entries = new Map<string, Entry>();
  private readonly expiring = new Set<string>();
  /** key -> clientId -> connection id the registration was made from. */
  private readonly watchers = new Map<string, Map<string, number>>();
  private clock: Hlc;

  constructor(private readonly host: KvHost) {
    this.clock = { ms: 0, counter: 0, node: host.nodeId };
  }

  get size(): number {
    return this.entries.size;
  }

  apply(req: KvRequest, now: number, out: PartitionOutput): KvResult {
    const check = this.checkHeaders(req, now);
    if (!check.ok) return { type: 'error', message: check.message };
    const op = req.op;
    switch (op.verb) {
      case 'SET':
        return this.set(req, op, check, now, out);
      case 'GET': {
        const e = this.live(op.key, now);
        return { type: 'blob', value: e ? e.value : null, version: formatHlc(e ? e.version : this.peek(now)) };
      }
      case 'DEL':
      case 'VDEL':
        return this.del(op.key, op.verb === 'VDEL' ? op.value : undefined, check, now, out);
      case 'KEYNOTIFY':
        return this.keynotify(req, op.key, op.stop, now);
      case 'XGET':
        return {
          type: 'entries',
          entries: op.keys.map((k) => {
            const e = this.live(k, now);
            return e ? { value: e.value, version: formatHlc(e.version), expiresAt: e.expiresAt } : null;
          }),
          version: formatHlc(this.peek(now)),
        };
      case 'XTX':
        return this.transact(op.ops, check, now, out);
    }
  }

  /** Removes expired keys (called from the partition's tick) and notifies their watchers. */
  expire(now: number, out: PartitionOutput): void {
    if (this.expiring.size === 0) return;
    for (const id of [...this.expiring]) {
      const e = this.entries.get(id);
      if (!e || e.expiresAt === undefined) {
        this.expiring.delete(id);
        continue;
      }
      if (e.expiresAt > now) continue;
      this.remove(id);
      this.notify(id, e.key, null, this.next(now), now, out);
    }
  }

  /**
   * Cluster: the registrations of a connection of `clientId` that ended at its front end (the session
   * lives in another partition). On one node, and for sessions of this partition, `notify` sees the
   * connection end by itself.
   */
  unwatchConnection(clientId: string, connectionId: number): void {
    this.unwatchWhere((c, conn) => c === clientId && conn === connectionId);
  }

  /** Cluster: a front end died; the registrations made through its connections end with them. */
  unwatchFrontEnd(instance: number): void {
    this.unwatchWhere((_c, conn) => instanceOf(conn) === instance);
  }

  /**
   * Drops the registrations whose connection this partition has seen end (after a restart, when no
   * connection of its sessions is live any more: a new connection must not inherit them).
   */
  unwatchEnded(): void {
    this.unwatchWhere((clientId, connectionId) => {
      const current = this.host.connectionOf(clientId);
      return current !== undefined && current !== connectionId;
    });
  }

  private unwatchWhere(ended: (clientId: string, connectionId: number) => boolean): void {
    for (const [id, clients] of this.watchers) {
      for (const [clientId, connectionId] of clients) if (ended(clientId, connectionId)) clients.delete(clientId);
      if (clients.size === 0) this.watchers.delete(id);
    }
  }

  /**
   * Plain data for the partition's snapshot (keys and values base64), KEYNOTIFY registrations
   * included: a replica restored from it must be the same state machine (on a cluster connections
   * outlive a promotion or a back-end restart). Those whose connection ended go at `restart`.
   */
  snapshot(): KvSnapshot {
    const watchers: [string, string, number][] = [];
    for (const [id, clients] of this.watchers) {
      for (const [clientId, connectionId] of clients) watchers.push([Buffer.from(id, 'latin1').toString('base64'), clientId, connectionId]);
    }
    return {
      ...(watchers.length > 0 ? { watchers } : {}),
      clock: formatHlc(this.clock),
      entries: [...this.entries.values()].map((e) => {
        const s: KvSnapshot['entries'][number] = { k: e.key.toString('base64'), v: e.value.toString('base64'), ver: formatHlc(e.version) };
        if (e.expiresAt !== undefined) s.exp = e.expiresAt;
        if (e.fence) s.ft = formatHlc(e.fence);
        return s;
      }),
    };
  }

  restore(state: unknown): void {
    const snap = state as KvSnapshot;
    this.entries.clear();
    this.expiring.clear();
    this.watchers.clear();
    this.clock = parseHlc(snap.clock) ?? { ms: 0, counter: 0, node: this.host.nodeId };
    for (const s of snap.entries) {
      const key = Buffer.from(s.k, 'base64');
      const e: Entry = { key, value: Buffer.from(s.v, 'base64'), version: parseHlc(s.ver)! };
      if (s.exp !== undefined) e.expiresAt = s.exp;
      if (s.ft !== undefined) e.fence = parseHlc(s.ft);
      const id = key.toString('latin1');
      this.entries.set(id, e);
      if (e.expiresAt !== undefined) this.expiring.add(id);
    }
    for (const [k, clientId, connectionId] of snap.watchers ?? []) {
      const id = Buffer.from(k, 'base64').toString('latin1');
      let clients = this.watchers.get(id);
      if (!clients) this.watchers.set(id, (clients = new Map()));
      clients.set(clientId, connectionId);
    }
  }

  /**
   * Takes the keys `moving` selects out of this store (a slot range handed to another partition),
   * as snapshot data with the clock, so the receiver issues later versions than any it gets.
   * Their KEYNOTIFY registrations stay behind and end: watchers register again where the key is.
   */
  take(moving: (key: Buffer) => boolean): KvSnapshot {
    const taken: KvStore = new KvStore(this.host);
    taken.clock = this.clock;
    for (const [id, e] of this.entries) {
      if (!moving(e.key)) continue;
      taken.entries.set(id, e);
      this.remove(id);
      this.watchers.delete(id);
    }
    return taken.snapshot();
  }

  /** Adds keys taken from another partition (`take`); the clock moves to the later of the two. */
  give(state: KvSnapshot): void {
    const other = new KvStore(this.host);
    other.restore(state);
    for (const [id, e] of other.entries) {
      this.entries.set(id, e);
      if (e.expiresAt !== undefined) this.expiring.add(id);
    }
    if (compareHlc(other.clock, this.clock) > 0) this.clock = { ...other.clock, node: this.host.nodeId };
  }

  // ---- commands -----------------------------------------------------------------------------------

  private set(
    req: KvRequest,
    op: Extract<KvOp, { verb: 'SET' }>,
    check: { ts?: Hlc; ft?: Hlc },
    now: number,
    out: PartitionOutput,
  ): KvResult {
    if (req.timestamp === undefined) return { type: 'error', message: KvErrors.missingTimestamp };
    const current = this.live(op.key, now);
    const fenced = this.checkFence(current, check.ft);
    if (fenced) return { type: 'error', message: fenced };
    if (op.condition === 'NX' && current) return { type: 'int', value: -1, version: formatHlc(current.version) };
    if (op.condition === 'NEX' && current && !current.value.equals(op.value)) {
      return { type: 'int', value: -1, version: formatHlc(current.version) };
    }
    const version = this.next(now, check.ts);
    this.write(op.key, op.value, version, op.ttlMs === undefined ? undefined : now + op.ttlMs, current, check.ft, now, out);
    return { type: 'ok', version: formatHlc(version) };
  }

  private del(key: Buffer, expected: Buffer | undefined, check: { ts?: Hlc; ft?: Hlc }, now: number, out: PartitionOutput): KvResult {
    const current = this.live(key, now);
    if (!current) return { type: 'int', value: 0, version: formatHlc(this.peek(now)) };
    const fenced = this.checkFence(current, check.ft);
    if (fenced) return { type: 'error', message: fenced };
    if (expected && !current.value.equals(expected)) return { type: 'int', value: -1, version: formatHlc(current.version) };
    const version = this.next(now, check.ts);
    const id = key.toString('latin1');
    this.remove(id);
    this.notify(id, key, null, version, now, out);
    return { type: 'int', value: 1, version: formatHlc(version) };
  }

  private keynotify(req: KvRequest, key: Buffer, stop: boolean, now: number): KvResult {
    const clientId = req.clientId;
    const id = key.toString('latin1');
    const version = formatHlc(this.peek(now));
    if (stop) {
      const clients = this.watchers.get(id);
      const had = clients?.delete(clientId) ?? false;
      if (clients && clients.size === 0) this.watchers.delete(id);
      return had ? { type: 'ok', version } : { type: 'int', value: 0, version };
    }
    // A session elsewhere (cluster): the connection its front end named; unknown = none (no registration).
    const connectionId = this.host.connectionOf(clientId) ?? req.connectionId ?? 0;
    if (connectionId !== 0) {
      let clients = this.watchers.get(id);
      if (!clients) this.watchers.set(id, (clients = new Map()));
      clients.set(clientId, connectionId);
    }
    return { type: 'ok', version };
  }

  private transact(ops: KvTxOp[], check: { ts?: Hlc; ft?: Hlc }, now: number, out: PartitionOutput): KvResult {
    // Every condition is checked against the state as the earlier operations of the transaction leave it.
    const view = new Map<string, Entry | null>();
    const at = (key: Buffer): Entry | null => {
      const id = key.toString('latin1');
      return view.has(id) ? view.get(id)! : (this.live(key, now) ?? null);
    };
    const pseudo: Hlc = { ms: Number.MAX_SAFE_INTEGER, counter: 0, node: '' };
    for (const op of ops) {
      if (op.key.length === 0) return { type: 'error', message: KvErrors.emptyKey };
      const current = at(op.key);
      let expected: Hlc | undefined;
      if (op.ifVersion !== undefined) {
        expected = parseHlc(op.ifVersion);
        if (!expected) return { type: 'error', message: KvErrors.malformedVersion };
      }
      // A key written earlier in this transaction has a version that does not exist yet: only "absent" checks can match it.
      const fenced = current && current.version !== pseudo ? this.checkFence(current, check.ft) : undefined;
      if (fenced) return { type: 'error', message: fenced };
      const conditionFailed =
        (expected && (!current || current.version === pseudo || compareHlc(current.version, expected) !== 0)) ||
        (op.verb === 'SET' && op.ifAbsent && current);
      if (conditionFailed) return { type: 'int', value: -1, version: formatHlc(this.peek(now)) };
      view.set(op.key.toString('latin1'), op.verb === 'SET' ? { key: op.key, value: op.value, version: pseudo } : null);
    }
    const version = this.next(now, check.ts);
    for (const op of ops) {
      if (op.verb === 'SET') {
        const current = this.live(op.key, now);
        this.write(op.key, op.value, version, op.ttlMs === undefined ? undefined : now + op.ttlMs, current, check.ft, now, out);
      } else if (this.live(op.key, now)) {
        const id = op.key.toString('latin1');
        this.remove(id);
        this.notify(id, op.key, null, version, now, out);
      }
    }
    return { type: 'ok', version: formatHlc(version) };
  }

  // ---- helpers ------------------------------------------------------------------------------------

  private checkHeaders(req: KvRequest, now: number): Check {
    let ts: Hlc | undefined;
    let ft: Hlc | undefined;
    if (req.timestamp !== undefined) {
      ts = parseHlc(req.timestamp);
      if (!ts) return { ok: false, message: KvErrors.malformedTimestamp };
      if (ts.ms > now + MAX_CLOCK_SKEW_MS) return { ok: false, message: KvErrors.futureTimestamp };
    }
    if (req.fencingToken !== undefined) {
      ft = parseHlc(req.fencingToken);
      if (!ft) return { ok: false, message: KvErrors.malformedFencingToken };
      if (ft.ms > now + MAX_CLOCK_SKEW_MS) return { ok: false, message: KvErrors.futureFencingToken };
    }
    return { ok: true, ts, ft };
  }

  /** A fenced key accepts writes only with a token at least as new as its own. */
  private checkFence(current: Entry | undefined | null, ft: Hlc | undefined): string | undefined {
    if (!current?.fence) return undefined;
    if (!ft) return KvErrors.fencingRequired;
    if (compareHlc(ft, current.fence) < 0) return KvErrors.staleFencingToken;
    return undefined;
  }

  private live(key: Buffer, now: number): Entry | undefined {
    const e = this.entries.get(key.toString('latin1'));
    if (!e) return undefined;
    return e.expiresAt !== undefined && e.expiresAt <= now ? undefined : e;
  }

  private write(
    key: Buffer,
    value: Buffer,
    version: Hlc,
    expiresAt: number | undefined,
    current: Entry | undefined,
    ft: Hlc | undefined,
    now: number,
    out: PartitionOutput,
  ): void {
    const id = key.toString('latin1');
    let fence = current?.fence;
    if (ft && (!fence || compareHlc(ft, fence) > 0)) fence = ft;
    const entry: Entry = { key, value, version };
    if (expiresAt !== undefined) entry.expiresAt = expiresAt;
    if (fence) entry.fence = fence;
    this.entries.set(id, entry);
    if (expiresAt !== undefined) this.expiring.add(id);
    else this.expiring.delete(id);
    this.notify(id, key, value, version, now, out);
  }

  private remove(id: string): void {
    this.entries.delete(id);
    this.expiring.delete(id);
  }

  /** The clock as it stands, without issuing a new version (reads). */
  private peek(now: number): Hlc {
    return now > this.clock.ms ? { ms: now, counter: 0, node: this.host.nodeId } : this.clock;
  }

  /** Issues a new version: later than every version issued so far and than the request's own timestamp. */
  private next(now: number, remote?: Hlc): Hlc {
    const last = this.clock;
    let ms = Math.max(last.ms, now, remote?.ms ?? 0);
    let counter: number;
    if (ms === last.ms && remote && ms === remote.ms) counter = Math.max(last.counter, remote.counter) + 1;
    else if (ms === last.ms) counter = last.counter + 1;
    else if (remote && ms === remote.ms) counter = remote.counter + 1;
    else counter = 0;
    if (counter > 0xffffffff) {
      ms += 1;
      counter = 0;
    }
    this.clock = { ms, counter, node: this.host.nodeId };
    return this.clock;
  }

  private notify(id: string, key: Buffer, value: Buffer | null, version: Hlc, now: number, out: PartitionOutput): void {
    const clients = this.watchers.get(id);
    if (!clients) return;
    const payload = value ? notifySet(value) : NOTIFY_DELETE;
    for (const [clientId, connectionId] of [...clients]) {
      // Registrations end with the connection that made them (also across a session resume). A session
      // in another partition (undefined) cannot be seen from here: its front end sends `unwatch`.
      const current = this.host.connectionOf(clientId);
      if (current !== undefined && current !== connectionId) {
        clients.delete(clientId);
        continue;
      }
      const message: Message = {
        topic: `${STATESTORE_NOTIFY_PREFIX}${hex(Buffer.from(clientId, 'utf8'))}/command/notify/${hex(key)}`,
        payload,
        qos: 1,
        retain: false,
        origin: '',
        properties: { userProperties: { __ts: formatHlc(version) } },
      };
      this.host.route(message, now, out);
    }
    if (clients.size === 0) this.watchers.delete(id);
  }
}

function hex(b: Buffer): string {
  return b.toString('hex').toUpperCase();
}

const NOTIFY_DELETE = Buffer.from('*2\r\n$6\r\nNOTIFY\r\n$6\r\nDELETE\r\n');

function notifySet(value: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`*4\r\n$6\r\nNOTIFY\r\n$3\r\nSET\r\n$5\r\nVALUE\r\n$${value.length}\r\n`), value, CRLF]);
}

const CRLF = Buffer.from('\r\n');
