/**
 * Opens a partition's store and rebuilds the state machine from its snapshot and log, then logs a
 * `restart` so that sessions whose connections died with the process go offline (wills, expiry).
 */
import v8 from 'node:v8';
import { silentOutput, type PartitionOutput } from '../partition/output.js';
import { Partition, type PartitionLimits } from '../partition/partition.js';
import { decodeCommands } from './command-codec.js';
import { restorePartition, type PartitionSnapshot } from '../partition/snapshot.js';
import { DurableExecutor, type DurableOptions, DEFAULT_DURABLE_OPTIONS } from './durable-executor.js';
import { StorageError, type PartitionStore } from './partition-store.js';

export interface RecoveredPartition {
  partition: Partition;
  executor: DurableExecutor;
  replayed: number;
  /** What opening the store repaired (a torn last frame cut off), to be logged as warnings. */
  repaired: string[];
}

export async function recoverPartition(
  store: PartitionStore,
  limits: PartitionLimits,
  opts: Partial<DurableOptions> = {},
  extend?: (p: Partition) => void,
  /** Where the effects of the `restart` command go (a cluster routes the wills it publishes). */
  restartOutput: PartitionOutput = silentOutput,
): Promise<RecoveredPartition> {
  const r = await store.open();
  let partition: Partition;
  let lastNow = 0;
  try {
    if (r.snapshot) {
      // Extensions must be registered before restore so they can take their state back.
      const snap = v8.deserialize(r.snapshot) as PartitionSnapshot;
      partition = restorePartition(snap, limits, extend);
    } else {
      partition = new Partition(limits);
      extend?.(partition);
    }
  } catch (err) {
    await store.close();
    throw new StorageError(`snapshot in ${store.location} cannot be read: ${(err as Error).message}`, store.location, { cause: err });
  }
  let seq = r.snapshotSeq;
  let replayed = 0;
  try {
    for await (const { seq: s, count, record } of r.records) {
      if (s !== seq + 1) throw new Error(`log gap: record ${s} follows ${seq}`);
      const commands = decodeCommands(record);
      if (commands.length !== count) throw new Error(`record ${s} holds ${commands.length} commands, its header says ${count}`);
      for (const cmd of commands) {
        partition.apply(cmd, silentOutput);
        if (cmd.now > lastNow) lastNow = cmd.now;
      }
      seq = s + count - 1;
      replayed += count;
    }
  } catch (err) {
    await store.close();
    throw new StorageError(`command log in ${store.location} is corrupt at record ${seq + 1}: ${(err as Error).message}`, store.location, {
      cause: err,
    });
  }
  const executor = new DurableExecutor(partition, store, seq, { ...DEFAULT_DURABLE_OPTIONS, ...opts });
  if (replayed > 0 || r.snapshot) {
    const now = Date.now();
    const { ready } = executor.execute({ type: 'restart', now, crashedAt: lastNow || now }, restartOutput);
    await ready;
  }
  return { partition, executor, replayed, repaired: r.repaired ?? [] };
}
