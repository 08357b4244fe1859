/**
 * Which engine holds a partition's data directory: a directory LevelDB already holds (written by
 * edgemq before 0.2) stays on LevelDB; everything else, new directories included, is SQLite.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { LevelStore } from './level-store.js';
import type { PartitionStore } from './partition-store.js';
import { SqliteStore } from './sqlite-store.js';

export function openPartitionStore(location: string): PartitionStore {
  if (existsSync(path.join(location, 'CURRENT')) || process.env.EDGEMQ_STORE === 'level') return new LevelStore(location);
  return new SqliteStore(location);
}
