import { RC } from '../../mqtt/reason-codes.js';
import { recordProof, notRelevant } from './method.js';
import { parsePhc, verifyPhc } from './phc.js';
export const SAT_USERNAMES = new Set(['$sat', 'K8S-SAT']);
/** Burned on unknown users (same cost as the default iterations of `edgemq passwd`). */
const DUMMY = parsePhc('$pbkdf2-sha512$i=210000,l=64$ZWRnZW1xLWR1bW15LXNhbHQ$' + Buffer.alloc(64).toString('base64').replace(/=+$/, ''));
export class PasswordMethod {
    users;
    kind = 'password';
    constructor(users) {
        this.users = users;
    }
    async authenticate(f) {
        if (f.authenticationMethod || f.username === undefined || SAT_USERNAMES.has(f.username))
            return notRelevant;
        const bad = { ok: false, reasonCode: RC.BadUserNameOrPassword, message: 'bad username or password' };
        const entry = this.users.get(f.username);
        if (f.password === undefined)
            return bad;
        if (!entry) {
            await verifyPhc(DUMMY, f.password);
            return bad;
        }
        if (!(await verifyPhc(entry.phc, f.password)))
            return bad;
        const principal = recordProof({ clientId: f.clientId, username: f.username, attributes: { ...entry.attributes } }, { kind: 'password', username: f.username, hash: entry.password });
        return { ok: true, principal };
    }
    stillValid(proof) {
        return proof.username !== undefined && this.users.get(proof.username)?.password === proof.hash;
    }
}
//# sourceMappingURL=password.js.map