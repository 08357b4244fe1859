/**
 * A membership registration that does not need the store at the moment it is asked for: it is
 * retried in the background until the store answers (a process restarted during an etcd outage
 * serves on its cached map and joins the membership when etcd is back). Once registered, the
 * store's own Registration keeps the lease alive and re-creates it after a loss.
 */
import type { Logger } from 'pino';
import type { ClusterNode } from '../map.js';
import { STORE_RETRY_MS } from '../timeouts.js';
import type { ClusterStore, Registration } from './store.js';

export function keepRegistered(store: ClusterStore, node: ClusterNode, ttlSeconds: number, log?: Logger): Registration {
  let current = node;
  let inner: Registration | undefined;
  let closed = false;
  void (async () => {
    let warned = false;
    while (!closed) {
      try {
        const r = await store.register(current, ttlSeconds);
        if (closed) {
          await r.close();
          return;
        }
        inner = r;
        if (warned) log?.info({ id: current.id }, 'registered in the cluster membership');
        return;
      } catch (err) {
        if (!warned) log?.warn({ id: current.id, err: (err as Error).message }, 'cluster membership store not reachable; registering when it is');
        warned = true;
        await new Promise((r) => setTimeout(r, STORE_RETRY_MS));
      }
    }
  })();
  return {
    async update(next) {
      current = next;
      await inner?.update(next);
    },
    async close() {
      closed = true;
      await inner?.close();
    },
  };
}
