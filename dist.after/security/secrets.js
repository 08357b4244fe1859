/**
 * Secrets and ConfigMaps named by resources (`secretName`, `trustedClientCaCert`, `caCert`, ...)
 * resolve to `<secrets dir>/<name>/<key>`: the layout a Kubernetes volume mount gives, so the same
 * resources work on a laptop and, with the Helm chart mounting them there, in a pod.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../mqtt/errors.js';
export class SecretStore {
    dir;
    constructor(dir) {
        this.dir = dir;
    }
    /** Folder of one secret or ConfigMap. */
    folder(name) {
        if (name.length === 0 || name.includes('/') || name.includes('\\') || name === '.' || name === '..') {
            throw new ConfigError(`secret name '${name}' is not a valid Kubernetes name`);
        }
        return path.join(this.dir, name);
    }
    exists(name, key) {
        try {
            return statSync(key === undefined ? this.folder(name) : path.join(this.folder(name), key)).isDirectory() === (key === undefined);
        }
        catch {
            return false;
        }
    }
    /** One key; `who` names the resource field that asked, for the error message. */
    read(name, key, who) {
        const file = path.join(this.folder(name), key);
        try {
            return readFileSync(file);
        }
        catch (err) {
            throw new ConfigError(`${who}: cannot read ${key} of secret '${name}' (${file}): ${err.code ?? err.message}`);
        }
    }
    readOptional(name, key) {
        try {
            return readFileSync(path.join(this.folder(name), key));
        }
        catch {
            return undefined;
        }
    }
    /** Every key of a ConfigMap/secret (Kubernetes' `..data` bookkeeping entries skipped), in name order. */
    readAll(name, who) {
        const folder = this.folder(name);
        let keys;
        try {
            keys = readdirSync(folder).filter((k) => !k.startsWith('..')).sort();
        }
        catch (err) {
            throw new ConfigError(`${who}: cannot read ConfigMap/secret '${name}' (${folder}): ${err.code ?? err.message}`);
        }
        const out = [];
        for (const key of keys) {
            const file = path.join(folder, key);
            try {
                if (statSync(file).isFile())
                    out.push({ key, value: readFileSync(file) });
            }
            catch {
                // vanished between readdir and read (a Kubernetes update in progress): the watcher reloads again
            }
        }
        if (out.length === 0)
            throw new ConfigError(`${who}: ConfigMap/secret '${name}' (${folder}) has no keys`);
        return out;
    }
}
//# sourceMappingURL=secrets.js.map