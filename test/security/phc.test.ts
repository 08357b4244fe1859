/** passwords.toml and PBKDF2-SHA512 PHC strings as Azure IoT MQ writes them. */
import { pbkdf2Sync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parsePasswordFile, updatePasswordFile } from '../../src/security/authn/password-file.js';
import { hashPassword, parsePhc, verifyPhc } from '../../src/security/authn/phc.js';

describe('PHC strings', () => {
  const salt = Buffer.from('0123456789abcdef');
  const hash = pbkdf2Sync('secret', salt, 1000, 64, 'sha512');
  const unpadded = `$pbkdf2-sha512$i=1000,l=64$${salt.toString('base64').replace(/=+$/, '')}$${hash.toString('base64').replace(/=+$/, '')}`;
  const padded = `$pbkdf2-sha512$i=1000,l=64$${salt.toString('base64')}$${hash.toString('base64')}`;

  it('verifies standard base64 with and without padding', async () => {
    for (const s of [unpadded, padded]) {
      expect(await verifyPhc(parsePhc(s), Buffer.from('secret'))).toBe(true);
      expect(await verifyPhc(parsePhc(s), Buffer.from('Secret'))).toBe(false);
    }
  });

  it('rejects malformed strings', () => {
    expect(() => parsePhc('$pbkdf2-sha512$i=0,l=64$c2FsdHNhbHQ$aGFzaA')).toThrow(/iteration/);
    expect(() => parsePhc('$pbkdf2-sha512$i=10,l=32$c2FsdHNhbHQ$aGFzaA')).toThrow(/l=32/);
    expect(() => parsePhc('$argon2id$v=19$x$y')).toThrow();
  });

  it('hashes with 210000 iterations by default and 128-bit salts', async () => {
    const h = await hashPassword('pw');
    expect(h).toMatch(/^\$pbkdf2-sha512\$i=210000,l=64\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{86}$/);
  });
});

describe('passwords.toml', () => {
  it('reads users with attributes and keeps others on update', async () => {
    const text = `[client1]\npassword = "${await hashPassword('a', 1000)}"\n[client1.attributes]\nfloor = "floor1"\nsite = "site1"\n`;
    const users = parsePasswordFile(text, 'p');
    expect(users.get('client1')!.attributes).toEqual({ floor: 'floor1', site: 'site1' });
    const next = updatePasswordFile(text, 'client2', { password: await hashPassword('b', 1000) });
    expect([...parsePasswordFile(next, 'p').keys()].sort()).toEqual(['client1', 'client2']);
    expect(parsePasswordFile(updatePasswordFile(next, 'client1', undefined), 'p').has('client1')).toBe(false);
    expect(() => parsePasswordFile('[x]\npassword = "plain"\n', 'p')).toThrow(/\[x\]\.password/);
  });
});
