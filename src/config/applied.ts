/**
 * Resources applied through the admin API. They are kept in `<data dir>/admin-applied.yaml` and laid
 * over the `--config` files: an applied resource replaces the file's resource of the same kind and
 * name, others are added. `edgemq serve` loads files plus this overlay at start and on every reload,
 * so an admin apply and an edited file take the same path, and an apply survives a restart.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { ConfigError } from '../mqtt/errors.js';
import { configFromDocuments, loadDocuments, type LoadOptions } from './load.js';
import type { LoadedConfig } from './model.js';
import { kindOf, nameOf, type ResourceDocument } from './resource-document.js';
import { readYamlResources } from './yaml-documents.js';

export const APPLIED_FILE = 'admin-applied.yaml';

export function appliedFileOf(dataDir: string): string {
  return path.join(dataDir, APPLIED_FILE);
}

export function readApplied(dataDir: string): ResourceDocument[] {
  const file = appliedFileOf(dataDir);
  if (!existsSync(file)) return [];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read resources applied through the admin API: ${(err as Error).message}`, file);
  }
  return readYamlResources(text, file);
}

/** Atomic (write then rename), so a crash never leaves half a file for the next start. */
export function writeApplied(dataDir: string, docs: ResourceDocument[]): void {
  const file = appliedFileOf(dataDir);
  const text = docs.map((d) => stringify(d.body)).join('---\n');
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

const identity = (d: ResourceDocument) => `${kindOf(d)}/${nameOf(d) ?? ''}`;

/** `base` with every resource of `applied` replacing the one of the same kind and name (or added). */
export function overlay(base: ResourceDocument[], applied: ResourceDocument[]): ResourceDocument[] {
  const replaced = new Set(applied.map(identity));
  return [...base.filter((d) => !replaced.has(identity(d))), ...applied];
}

export interface ServeConfig {
  config: LoadedConfig;
  /** The resources in force (files with the overlay), as written: what the admin API shows. */
  documents: ResourceDocument[];
}

/** The configuration `edgemq serve` runs: the files, then the admin overlay on top. */
export function loadServeConfig(files: string[], dataDir: string, opts: LoadOptions = {}): ServeConfig {
  const documents = overlay(loadDocuments(files), readApplied(dataDir));
  return { config: configFromDocuments(documents, opts), documents };
}
