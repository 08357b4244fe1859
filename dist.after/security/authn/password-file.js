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
import { parsePhc } from './phc.js';
export function parsePasswordFile(text, source) {
    let doc;
    try {
        doc = parse(text);
    }
    catch (err) {
        throw new Error(`${source}: not valid TOML: ${err.message.split('\n')[0]}`);
    }
    const users = new Map();
    for (const [user, raw] of Object.entries(doc)) {
        const t = raw;
        if (typeof t !== 'object' || t === null || typeof t.password !== 'string') {
            throw new Error(`${source}: [${user}]: needs password = "$pbkdf2-sha512$..."`);
        }
        let phc;
        try {
            phc = parsePhc(t.password);
        }
        catch (err) {
            throw new Error(`${source}: [${user}].password: ${err.message}`);
        }
        const attributes = {};
        for (const [k, v] of Object.entries((t.attributes ?? {})))
            attributes[k] = String(v);
        const entry = { password: t.password, phc, attributes };
        if (typeof t.expirySeconds === 'number' || typeof t.expirySeconds === 'bigint')
            entry.expirySeconds = Number(t.expirySeconds);
        users.set(user, entry);
    }
    return users;
}
/** Adds, replaces or (hash undefined) removes one user in the file's text, keeping the others. */
export function updatePasswordFile(text, user, change) {
    const doc = (text.trim() === '' ? {} : parse(text));
    if (change === undefined)
        delete doc[user];
    else {
        const entry = { password: change.password };
        if (change.expirySeconds !== undefined)
            entry.expirySeconds = change.expirySeconds;
        const attributes = change.attributes ?? doc[user]?.attributes;
        if (attributes && Object.keys(attributes).length > 0)
            entry.attributes = attributes;
        doc[user] = entry;
    }
    return stringify(doc) + '\n';
}
//# sourceMappingURL=password-file.js.map