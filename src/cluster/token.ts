/**
 * The cluster credential: a random token every internal connection presents in its first frame.
 * `edgemq cluster` generates it once into `<data-dir>/cluster.token` (mode 0600, never on a command
 * line, where `ps` would show it); role processes read it from `--token-file` or EDGEMQ_CLUSTER_TOKEN.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const TOKEN_FILE = 'cluster.token';

/** The token file of a cluster data dir, created (32 random bytes, hex) when it does not exist yet. */
export function ensureToken(dataDir: string): string {
  const file = path.join(dataDir, TOKEN_FILE);
  try {
    writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // An existing token keeps working across restarts of the cluster; tighten a loosened mode.
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  }
  return file;
}

export class TokenError extends Error {}

/** Reads a token file; the error names the file and what is wrong with it. */
export function readToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TokenError(`--token-file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const token = text.trim();
  if (token.length < 16) throw new TokenError(`--token-file: ${file} holds no token of at least 16 characters`);
  return token;
}
