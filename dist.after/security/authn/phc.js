/**
 * PBKDF2 password hashes in PHC string form, as Azure IoT MQ's `passwords.toml` holds them:
 * `$pbkdf2-sha512$i=210000,l=64$<salt>$<hash>`, salt and hash in standard base64 without padding
 * (padding is accepted too). Checks run on libuv's thread pool (`crypto.pbkdf2`, async) and compare
 * with `timingSafeEqual`, so a burst of CONNECTs never blocks the event loop.
 */
import { pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
const pbkdf2Async = promisify(pbkdf2);
export const DEFAULT_ITERATIONS = 210_000; // what `az iot ops mq get-password-hash` emitted
const MAX_ITERATIONS = 10_000_000;
export function parsePhc(text) {
    const m = /^\$pbkdf2-(sha512|sha256)\$([^$]+)\$([A-Za-z0-9+/]+=*)\$([A-Za-z0-9+/]+=*)$/.exec(text.trim());
    if (!m)
        throw new Error('not a $pbkdf2-sha512$i=...,l=...$salt$hash string');
    const params = new Map(m[2].split(',').map((kv) => kv.split('=')));
    const iterations = Number(params.get('i'));
    if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS)
        throw new Error(`bad iteration count i=${params.get('i')}`);
    const hash = Buffer.from(m[4], 'base64');
    const l = params.has('l') ? Number(params.get('l')) : hash.length;
    if (l !== hash.length)
        throw new Error(`l=${l} does not match the ${hash.length}-byte hash`);
    const salt = Buffer.from(m[3], 'base64');
    if (salt.length < 8)
        throw new Error('salt shorter than 8 bytes');
    return { digest: m[1], iterations, salt, hash };
}
export async function verifyPhc(h, password) {
    const got = await pbkdf2Async(password, h.salt, h.iterations, h.hash.length, h.digest);
    return timingSafeEqual(got, h.hash);
}
export async function hashPassword(password, iterations = DEFAULT_ITERATIONS) {
    const salt = randomBytes(16);
    const hash = await pbkdf2Async(password, salt, iterations, 64, 'sha512');
    const b64 = (b) => b.toString('base64').replace(/=+$/, '');
    return `$pbkdf2-sha512$i=${iterations},l=64$${b64(salt)}$${b64(hash)}`;
}
//# sourceMappingURL=phc.js.map