/** A command-line mistake: printed as one line naming the flag, with the usage text, exit code 2. */
export class UsageError extends Error {}

export function portFlag(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--${flag}: "${v}" is not a port number (0-65535)`);
  return n;
}

export function intFlag(flag: string, v: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${flag}: "${v}" is not an integer from ${min} to ${max}`);
  return n;
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export function logLevelFlag(v: string | undefined): string | undefined {
  if (v !== undefined && !LOG_LEVELS.includes(v)) throw new UsageError(`--log-level: "${v}" is not one of ${LOG_LEVELS.join(', ')}`);
  return v;
}

/** Comma-separated etcd client URLs. */
export function endpointsFlag(flag: string, v: string): string[] {
  const urls = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const u of urls) {
    if (!/^https?:\/\/[^/]+$/.test(u)) throw new UsageError(`--${flag}: "${u}" is not an etcd client URL like http://127.0.0.1:2379`);
  }
  if (urls.length === 0) throw new UsageError(`--${flag}: no endpoint given`);
  return urls;
}
