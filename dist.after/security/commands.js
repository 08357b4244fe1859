/**
 * The security subcommands of the `edgemq` CLI: `passwd` (edit a passwords.toml) and
 * `authn-webhook` (the reference authentication webhook server).
 */
import { existsSync, readFileSync, renameSync, watch, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { parsePasswordFile, updatePasswordFile } from './authn/password-file.js';
import { DEFAULT_ITERATIONS, hashPassword } from './authn/phc.js';
import { createAuthnWebhookApp } from './webhook-server.js';
/** Adds/replaces (or deletes) one user; writes atomically, owner-only when the file is new. */
export async function passwd(o) {
    const text = existsSync(o.file) ? readFileSync(o.file, 'utf8') : '';
    let next;
    if (o.delete) {
        if (!parsePasswordFile(text, o.file).has(o.username))
            throw new Error(`${o.file}: no user '${o.username}'`);
        next = updatePasswordFile(text, o.username, undefined);
    }
    else {
        if (o.password === undefined || o.password.length === 0)
            throw new Error('empty password');
        const hash = await hashPassword(o.password, o.iterations ?? DEFAULT_ITERATIONS);
        next = updatePasswordFile(text, o.username, {
            password: hash,
            ...(o.attributes && Object.keys(o.attributes).length > 0 ? { attributes: o.attributes } : {}),
            ...(o.expirySeconds !== undefined ? { expirySeconds: o.expirySeconds } : {}),
        });
    }
    parsePasswordFile(next, o.file); // never write a file the broker could not read
    const tmp = path.join(path.dirname(o.file), `.${path.basename(o.file)}.${process.pid}.tmp`);
    writeFileSync(tmp, next, { mode: 0o600 });
    renameSync(tmp, o.file);
    return o.delete ? `removed ${o.username}` : `set password of ${o.username}`;
}
/** Starts the reference webhook over HTTPS; resolves with the bound port. */
export async function startAuthnWebhook(o) {
    let users = parsePasswordFile(readFileSync(o.users, 'utf8'), o.users);
    const reload = () => {
        try {
            users = parsePasswordFile(readFileSync(o.users, 'utf8'), o.users);
            log({ msg: 'users reloaded', users: users.size });
        }
        catch (err) {
            log({ msg: 'users file not reloaded', err: err.message });
        }
    };
    const watcher = watch(path.dirname(path.resolve(o.users)), { persistent: false }, (_e, f) => {
        if (f?.toString() === path.basename(o.users))
            reload();
    });
    const app = createAuthnWebhookApp({ users: () => users, onDecision: (d) => log({ msg: 'decision', ...d }) });
    const server = https.createServer({
        cert: readFileSync(o.cert),
        key: readFileSync(o.key),
        ...(o.clientCa ? { ca: readFileSync(o.clientCa), requestCert: true, rejectUnauthorized: true } : {}),
    }, app);
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(o.port, o.host, () => resolve());
    });
    const port = server.address().port;
    log({ msg: 'listening', host: o.host, port, mutualTls: o.clientCa !== undefined });
    return {
        port,
        close: () => new Promise((resolve) => {
            watcher.close();
            server.close(() => resolve());
            server.closeAllConnections();
        }),
    };
}
function log(o) {
    process.stdout.write(JSON.stringify({ time: new Date().toISOString(), name: 'edgemq-authn-webhook', ...o }) + '\n');
}
//# sourceMappingURL=commands.js.map