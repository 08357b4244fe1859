/**
 * Watches configuration files and secret folders and calls back once per burst of changes.
 * Folders are watched rather than files: editors replace files by rename and Kubernetes updates a
 * mounted secret by swapping its `..data` symlink, both of which a file watch would miss.
 */
import { existsSync, statSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';

export class ReloadWatcher {
  private readonly watchers = new Map<string, FSWatcher>();
  /** folder -> file names of interest (empty set = any entry). */
  private wanted = new Map<string, Set<string>>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly onChange: () => void,
    private readonly debounceMs = 200,
  ) {}

  /** Replaces the watched set: config files/folders and secret folders. */
  set(paths: string[]): void {
    const wanted = new Map<string, Set<string>>();
    for (const p of paths.map((x) => path.resolve(x))) {
      let folder = p;
      let name: string | undefined;
      if (!existsSync(p) || !statSync(p).isDirectory()) {
        folder = path.dirname(p);
        name = path.basename(p);
      }
      const names = wanted.get(folder) ?? new Set<string>();
      if (name === undefined) names.add('*');
      else names.add(name);
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
      if (this.watchers.has(folder) || !existsSync(folder)) continue;
      try {
        const w = watch(folder, { persistent: false }, (_event, file) => this.changed(folder, file?.toString()));
        w.on('error', () => {
          w.close();
          this.watchers.delete(folder);
        });
        this.watchers.set(folder, w);
      } catch {
        // unreadable folder: nothing to watch
      }
    }
  }

  private changed(folder: string, file: string | undefined): void {
    const names = this.wanted.get(folder);
    if (!names || (!names.has('*') && file !== undefined && !names.has(file))) return;
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onChange(), this.debounceMs);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }
}
