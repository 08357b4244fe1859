/**
 * The `MapSource` of every role process: the map as the store last published it. It keeps the last
 * map while the store is unreachable (the data path serves on it; only changes wait) and hands each
 * newer one to the listeners. Maps only move forward: an older epoch than the current is ignored.
 */
import type { Logger } from 'pino';
import type { ClusterMap, MapSource } from '../map.js';
import type { ClusterStore, Unwatch } from './store.js';

export class StoreMapSource implements MapSource {
  private map: ClusterMap | undefined;
  private readonly listeners = new Set<(map: ClusterMap) => void>();
  private readonly waiters = new Set<{ pred: (m: ClusterMap) => boolean; resolve: (m: ClusterMap) => void }>();
  private unwatch: Unwatch | undefined;

  private constructor(private readonly log?: Logger) {}

  /** Starts watching; resolves once the store is watched (the map itself may come later: see `waitFor`). */
  static async open(store: ClusterStore, log?: Logger): Promise<StoreMapSource> {
    const src = new StoreMapSource(log);
    src.unwatch = await store.watchMap((m) => src.apply(m.value));
    return src;
  }

  private apply(map: ClusterMap): void {
    if (this.map && map.epoch <= this.map.epoch) return;
    this.map = map;
    this.log?.debug({ epoch: map.epoch }, 'cluster map received');
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
        this.log?.error({ err: (err as Error).message }, 'cluster map listener failed');
      }
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
    await this.unwatch?.();
  }
}
