/**
 * Azure IoT MQ's `passwords.toml`: one table per user with a PHC `password` and optional
 * `attributes` (edgemq's reference webhook also reads an optional `expirySeconds`).
 *
 *   [client1]
 *   password = "$pbkdf2-sha512$i=210000,l=64$<salt>$<hash>"
 *   [client1.attributes]
 *   floor = "floor1"
 */
import { parse, stringify } from 'smol-toml';
import { parsePhc, type PhcHash } from './phc.js';

export interface PasswordEntry {
  /** The PHC string as written (compared on reload to notice a changed password). */
  password: string;
  phc: PhcHash;
  attributes: Record<string, string>;
  expirySeconds?: number;
}

export function parsePasswordFile(text: string, source: string): Map<string, PasswordEntry> {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${source}: not valid TOML: ${(err as Error).message.split('\n')[0]}`);
  }
  const users = new Map<string, PasswordEntry>();
  for (const [user, raw] of Object.entries(doc)) {
    const t = raw as Record<string, unknown>;
    if (typeof t !== 'object' || t === null || typeof t.password !== 'string') {
      throw new Error(`${source}: [${user}]: needs password = "$pbkdf2-sha512$..."`);
    }
    let phc: PhcHash;
    try {
      phc = parsePhc(t.password);
    } catch (err) {
      throw new Error(`${source}: [${user}].password: ${(err as Error).message}`);
    }
    const attributes: Record<string, string> = {};
    for (const [k, v] of Object.entries((t.attributes ?? {}) as Record<string, unknown>)) attributes[k] = String(v);
    const entry: PasswordEntry = { password: t.password, phc, attributes };
    if (typeof t.expirySeconds === 'number' || typeof t.expirySeconds === 'bigint') entry.expirySeconds = Number(t.expirySeconds);
    users.set(user, entry);
  }
  return users;
}

/** Adds, replaces or (hash undefined) removes one user in the file's text, keeping the others. */
export function updatePasswordFile(
  text: string,
  user: string,
  change: { password: string; attributes?: Record<string, string>; expirySeconds?: number } | undefined,
): string {
  const doc = (text.trim() === '' ? {} : parse(text)) as Record<string, unknown>;
  if (change === undefined) delete doc[user];
  else {
    const entry: Record<string, unknown> = { password: change.password };
    if (change.expirySeconds !== undefined) entry.expirySeconds = change.expirySeconds;
    const attributes = change.attributes ?? ((doc[user] as Record<string, unknown> | undefined)?.attributes as Record<string, string> | undefined);
    if (attributes && Object.keys(attributes).length > 0) entry.attributes = attributes;
    doc[user] = entry;
  }
  return stringify(doc) + '\n';
}
