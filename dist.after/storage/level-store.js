/**
 * PartitionStore on LevelDB (classic-level): the store of data directories written before the
 * SQLite store (open-store.ts), which keep being served as they are. Writes are asynchronous on
 * libuv's thread pool, a write batch is atomic, and the log is a key range, so truncation after a
 * snapshot is a range delete that compaction reclaims. test/bench/storage.ts compares it with SQLite.
 *
 * Layout: `L` + 8-byte big-endian sequence of its first command + 4-byte command count -> one
 * group commit's commands serialized together (the count rides in the key so the value is the
 * serializer's buffer as is, never copied); `M:format`, `M:snapshot`, `M:snapshotSeq`.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ClassicLevel } from 'classic-level';
import { LogGapError, READABLE_STORE_FORMATS, decodeSnapshotSeq, encodeSnapshotSeq, STORE_FORMAT, StorageError } from './partition-store.js';
const FORMAT = Buffer.from(STORE_FORMAT);
const READABLE_FORMATS = READABLE_STORE_FORMATS.map((f) => Buffer.from(f));
const K_FORMAT = Buffer.from('M:format');
const K_SNAPSHOT = Buffer.from('M:snapshot');
const K_SNAPSHOT_SEQ = Buffer.from('M:snapshotSeq');
const LOG_PREFIX = 0x4c; // 'L'
/** `L` + seq: the prefix of every record key starting at `seq` (and, as a bound, sorts before them). */
function logKey(seq) {
    const k = Buffer.allocUnsafe(9);
    k[0] = LOG_PREFIX;
    k.writeBigUInt64BE(BigInt(seq), 1);
    return k;
}
function recordKey(seq, count) {
    const k = Buffer.allocUnsafe(13);
    k[0] = LOG_PREFIX;
    k.writeBigUInt64BE(BigInt(seq), 1);
    k.writeUInt32BE(count, 9);
    return k;
}
export class LevelStore {
    location;
    db;
    constructor(location) {
        this.location = location;
        this.db = new ClassicLevel(location, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    }
    async open() {
        const fresh = !existsSync(this.location) || readdirSync(this.location).length === 0;
        if (!fresh && !existsSync(path.join(this.location, 'CURRENT'))) {
            throw new StorageError(`${this.location} is not an edgemq data directory (no LevelDB files); move it away or pick another --data-dir`, this.location);
        }
        try {
            await this.db.open({ createIfMissing: fresh });
        }
        catch (err) {
            const cause = err.cause ?? err;
            const text = String(cause.message ?? cause);
            if (/lock/i.test(text)) {
                throw new StorageError(`${this.location} is in use by another edgemq process (${text})`, this.location, { cause: err });
            }
            throw new StorageError(`cannot open data directory ${this.location}: ${text}`, this.location, { cause: err });
        }
        const format = await this.db.get(K_FORMAT);
        if (format === undefined) {
            if (!fresh) {
                await this.db.close();
                throw new StorageError(`${this.location} holds a LevelDB database that edgemq did not write (no format marker)`, this.location);
            }
            await this.db.put(K_FORMAT, FORMAT, { sync: true });
        }
        else if (!READABLE_FORMATS.some((f) => f.equals(format))) {
            await this.db.close();
            throw new StorageError(`${this.location} has format "${format.toString()}", expected "${FORMAT.toString()}"`, this.location);
        }
        else if (!format.equals(FORMAT)) {
            await this.db.put(K_FORMAT, FORMAT, { sync: true });
        }
        const snapshot = await this.db.get(K_SNAPSHOT);
        const snapshotSeq = decodeSnapshotSeq(await this.db.get(K_SNAPSHOT_SEQ));
        const db = this.db;
        async function* records() {
            for await (const [key, value] of db.iterator({ gte: logKey(snapshotSeq + 1), lt: Buffer.from([LOG_PREFIX + 1]) })) {
                yield { seq: Number(key.readBigUInt64BE(1)), count: key.readUInt32BE(9), record: value };
            }
        }
        return { snapshot, snapshotSeq, records: records() };
    }
    /** The last write handed to LevelDB: the next one starts after it (durable in call order). */
    lastWrite = Promise.resolve();
    gap = false;
    /** Runs writes one after another; a failure refuses later appends until a snapshot succeeds. */
    inOrder(write, snapshot) {
        const run = this.lastWrite.then(async () => {
            if (this.gap && !snapshot)
                throw new LogGapError();
            try {
                await write();
            }
            catch (err) {
                this.gap = true;
                throw err;
            }
            if (snapshot)
                this.gap = false;
        });
        this.lastWrite = run.catch(() => { });
        return run;
    }
    append(records, sync) {
        return this.inOrder(async () => {
            const ops = records.map((r) => ({ type: 'put', key: recordKey(r.seq, r.count), value: r.record }));
            // The public batch() clones every operation, resolves encodings and runs hooks per operation:
            // ~50 µs of main-thread time per group commit, measured. Log keys and values are Buffers
            // already, so they go straight to the implementation, with the status check batch() would make.
            if (this.db.status !== 'open')
                throw new StorageError(`${this.location} is ${this.db.status}`, this.location);
            await this.db._batch(ops, { sync });
        }, false);
    }
    writeSnapshot(seq, snapshot, sync) {
        return this.inOrder(async () => {
            await this.db.batch([
                { type: 'put', key: K_SNAPSHOT, value: snapshot },
                { type: 'put', key: K_SNAPSHOT_SEQ, value: encodeSnapshotSeq(seq) },
            ], { sync });
            // Recovery starts after snapshotSeq, so records starting at or before `seq` are dead from here
            // on (a record never straddles a snapshot point). Removing them reads them all back and
            // compacts the range: tens of milliseconds that appends (keys above `seq`, a disjoint range)
            // need not wait for. One truncation at a time; a crash or a failed one only leaves dead
            // records, which the next truncation (always from the start of the log) removes.
            this.truncating = this.truncating.then(() => this.truncate(seq));
        }, true);
    }
    truncating = Promise.resolve();
    async truncate(seq) {
        try {
            if (this.db.status !== 'open')
                return;
            await this.db.clear({ gte: logKey(0), lt: logKey(seq + 1) });
            await this.db.compactRange(logKey(0), logKey(seq + 1));
        }
        catch {
            /* dead records stay until the next truncation */
        }
    }
    async close() {
        await this.lastWrite;
        await this.truncating;
        if (this.db.status === 'open')
            await this.db.close();
    }
}
//# sourceMappingURL=level-store.js.map