/**
 * Which engine holds a partition's data directory: a directory LevelDB already holds (written by
 * edgemq before the SQLite store) stays on LevelDB; everything else, new directories included, is
 * SQLite. Why SQLite: README, design notes.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { LevelStore } from './level-store.js';
import { SqliteStore } from './sqlite-store.js';
/** `sync`: fsync mode (SQLite then keeps its log in WAL mode, see sqlite-worker.ts). */
export function openPartitionStore(location, options) {
    return existsSync(path.join(location, 'CURRENT')) ? new LevelStore(location) : new SqliteStore(location, { sync: options.sync });
}
//# sourceMappingURL=open-store.js.map