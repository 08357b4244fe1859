/**
 * Watches configuration files and secret folders and calls back once per burst of changes.
 * Folders are watched rather than files: editors replace files by rename and Kubernetes updates a
 * mounted secret by swapping its `..data` symlink, both of which a file watch would miss.
 */
import { existsSync, statSync, watch } from 'node:fs';
import path from 'node:path';
export class ReloadWatcher {
    onChange;
    debounceMs;
    watchers = new Map();
    /** folder -> file names of interest (empty set = any entry). */
    wanted = new Map();
    timer;
    closed = false;
    constructor(onChange, debounceMs = 200) {
        this.onChange = onChange;
        this.debounceMs = debounceMs;
    }
    /** Replaces the watched set: config files/folders and secret folders. */
    set(paths) {
        const wanted = new Map();
        for (const p of paths.map((x) => path.resolve(x))) {
            let folder = p;
            let name;
            if (!existsSync(p) || !statSync(p).isDirectory()) {
                folder = path.dirname(p);
                name = path.basename(p);
            }
            const names = wanted.get(folder) ?? new Set();
            if (name === undefined)
                names.add('*');
            else
                names.add(name);
            wanted.set(folder, names);
        }
        this.wanted = wanted;
        for (const [folder, w] of this.watchers) {
            if (!wanted.has(folder)) {
                w.close();
                this.watchers.delete(folder);
            }
        }
        for (const folder of wanted.keys()) {
            if (this.watchers.has(folder) || !existsSync(folder))
                continue;
            try {
                const w = watch(folder, { persistent: false }, (_event, file) => this.changed(folder, file?.toString()));
                w.on('error', () => {
                    w.close();
                    this.watchers.delete(folder);
                });
                this.watchers.set(folder, w);
            }
            catch {
                // unreadable folder: nothing to watch
            }
        }
    }
    changed(folder, file) {
        const names = this.wanted.get(folder);
        if (!names || (!names.has('*') && file !== undefined && !names.has(file)))
            return;
        if (this.closed)
            return;
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.onChange(), this.debounceMs);
        this.timer.unref();
    }
    close() {
        this.closed = true;
        clearTimeout(this.timer);
        for (const w of this.watchers.values())
            w.close();
        this.watchers.clear();
    }
}
//# sourceMappingURL=watch.js.map