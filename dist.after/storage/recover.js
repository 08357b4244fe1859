/**
 * Opens a partition's store and rebuilds the state machine from its snapshot and log, then logs a
 * `restart` so that sessions whose connections died with the process go offline (wills, expiry).
 */
import v8 from 'node:v8';
import { silentOutput } from '../partition/output.js';
import { Partition } from '../partition/partition.js';
import { decodeCommands } from './command-codec.js';
import { restorePartition } from '../partition/snapshot.js';
import { DurableExecutor, DEFAULT_DURABLE_OPTIONS } from './durable-executor.js';
import { StorageError } from './partition-store.js';
export async function recoverPartition(store, limits, opts = {}, extend) {
    const r = await store.open();
    let partition;
    let lastNow = 0;
    try {
        if (r.snapshot) {
            // Extensions must be registered before restore so they can take their state back.
            const snap = v8.deserialize(r.snapshot);
            partition = restorePartition(snap, limits, extend);
        }
        else {
            partition = new Partition(limits);
            extend?.(partition);
        }
    }
    catch (err) {
        await store.close();
        throw new StorageError(`snapshot in ${store.location} cannot be read: ${err.message}`, store.location, { cause: err });
    }
    let seq = r.snapshotSeq;
    let replayed = 0;
    try {
        for await (const { seq: s, count, record } of r.records) {
            if (s !== seq + 1)
                throw new Error(`log gap: record ${s} follows ${seq}`);
            const commands = decodeCommands(record);
            if (commands.length !== count)
                throw new Error(`record ${s} holds ${commands.length} commands, its header says ${count}`);
            for (const cmd of commands) {
                partition.apply(cmd, silentOutput);
                if (cmd.now > lastNow)
                    lastNow = cmd.now;
            }
            seq = s + count - 1;
            replayed += count;
        }
    }
    catch (err) {
        await store.close();
        throw new StorageError(`command log in ${store.location} is corrupt at record ${seq + 1}: ${err.message}`, store.location, {
            cause: err,
        });
    }
    const executor = new DurableExecutor(partition, store, seq, { ...DEFAULT_DURABLE_OPTIONS, ...opts });
    if (replayed > 0 || r.snapshot) {
        const now = Date.now();
        const { ready } = executor.execute({ type: 'restart', now, crashedAt: lastNow || now }, silentOutput);
        await ready;
    }
    return { partition, executor, replayed };
}
//# sourceMappingURL=recover.js.map