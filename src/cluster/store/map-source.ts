/**
 * The `MapSource` of every role process: the map as the store last published it. It keeps the last
 * map while the store is unreachable (the data path serves on it; only changes wait) and hands each
 * newer one to the listeners. Maps only move forward: an older epoch than the current is ignored.
 *
 * With a cache file, every map is also written to disk, and a process that starts while the store
 * is down (a restart during an etcd outage) serves on the cached map until the store answers. The
 * cached map is provisional: the first map from the store replaces it whatever its epoch (the
 * store may have been recreated), later ones must move forward.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { ClusterMap, MapSource } from '../map.js';
import { STORE_RETRY_MS } from '../timeouts.js';
import type { ClusterStore, Unwatch } from './store.js';

export interface StoreMapSourceOptions {
  log?: Logger;
  /** Where the last map is kept across restarts (e.g. `<data-dir>/cluster-map.json`). */
  cacheFile?: string;
}

export class StoreMapSource implements MapSource {
  private map: ClusterMap | undefined;
  private provisional = false;
  private readonly listeners = new Set<(map: ClusterMap) => void>();
  private readonly waiters = new Set<{ pred: (m: ClusterMap) => boolean; resolve: (m: ClusterMap) => void }>();
  private unwatch: Unwatch | undefined;
  private closed = false;

  private constructor(private readonly opts: StoreMapSourceOptions) {}

  /**
   * Starts watching the store; resolves at once. The watch is retried in the background while the
   * store does not answer; the map itself may come later (see `waitFor`).
   */
  static async open(store: ClusterStore, opts: StoreMapSourceOptions = {}): Promise<StoreMapSource> {
    const src = new StoreMapSource(opts);
    src.loadCache();
    void src.watch(store);
    return src;
  }

  private loadCache(): void {
    const file = this.opts.cacheFile;
    if (!file || !existsSync(file)) return;
    try {
      this.map = JSON.parse(readFileSync(file, 'utf8')) as ClusterMap;
      this.provisional = true;
      this.opts.log?.info({ epoch: this.map.epoch, file }, 'serving on the cached cluster map until the store answers');
    } catch (err) {
      this.opts.log?.warn({ file, err: (err as Error).message }, 'cached cluster map not readable; waiting for the store');
    }
  }

  private async watch(store: ClusterStore): Promise<void> {
    let warned = false;
    while (!this.closed) {
      try {
        const unwatch = await store.watchMap((m) => this.apply(m.value));
        if (this.closed) await unwatch();
        else this.unwatch = unwatch;
        return;
      } catch (err) {
        if (!warned) this.opts.log?.warn({ err: (err as Error).message }, 'cluster map store not reachable; retrying');
        warned = true;
        await new Promise((r) => setTimeout(r, STORE_RETRY_MS));
      }
    }
  }

  private apply(map: ClusterMap): void {
    if (this.map && !this.provisional && map.epoch <= this.map.epoch) return;
    this.provisional = false;
    this.map = map;
    this.opts.log?.debug({ epoch: map.epoch }, 'cluster map received');
    this.saveCache(map);
    for (const w of this.waiters) {
      if (w.pred(map)) {
        this.waiters.delete(w);
        w.resolve(map);
      }
    }
    for (const l of this.listeners) {
      try {
        l(map);
      } catch (err) {
        this.opts.log?.error({ err: (err as Error).message }, 'cluster map listener failed');
      }
    }
  }

  private saveCache(map: ClusterMap): void {
    const file = this.opts.cacheFile;
    if (!file) return;
    try {
      writeFileSync(`${file}.tmp`, JSON.stringify(map));
      renameSync(`${file}.tmp`, file);
    } catch (err) {
      this.opts.log?.warn({ file, err: (err as Error).message }, 'cluster map not cached');
    }
  }

  current(): ClusterMap {
    if (!this.map) throw new Error('no cluster map yet (the coordinator has not published one)');
    return this.map;
  }

  has(): boolean {
    return this.map !== undefined;
  }

  onChange(listener: (map: ClusterMap) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves with the first map (the current one included) for which `pred` holds. */
  waitFor(pred: (map: ClusterMap) => boolean = () => true): Promise<ClusterMap> {
    if (this.map && pred(this.map)) return Promise.resolve(this.map);
    return new Promise((resolve) => this.waiters.add({ pred, resolve }));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.unwatch?.();
  }
}
