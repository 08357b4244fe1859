/**
 * The coordinator's way to partitions' heads for a handover (handover.ts): `export` and `import`
 * requests over a ClusterClient, each bounded by a timeout so a head that dies mid-request is asked
 * again (both are idempotent per move id).
 */
import type { HandoverState } from '../partition/handover.js';
import type { ClusterClient } from './client/cluster-client.js';
import type { HandoverLink } from './handover.js';

/** An export waits for every sender's barrier; past this the coordinator asks again (the head may have changed). */
const REQUEST_TIMEOUT_MS = 10_000;

/** `client()` is asked at each request: the coordinator makes its client once a map exists. */
export function clusterHandoverLink(client: () => ClusterClient, timeoutMs = REQUEST_TIMEOUT_MS): HandoverLink {
  const ask = <T>(partition: number, op: string, arg: unknown) =>
    new Promise<[T, number]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${op} on partition ${partition}: no answer within ${timeoutMs} ms`)), timeoutMs);
      client().request(partition, op, arg, {
        reply: (_ctx, _tag, ok, value, feedSeq) => {
          clearTimeout(timer);
          if (ok) resolve([value as T, feedSeq]);
          else reject(new Error(`${op} on partition ${partition}: ${(value as [number, string])[1]}`));
        },
      });
    });
  return {
    ready: async (partition) => void (await ask(partition, 'stats', partition)),
    exportRange: async (m) => (await ask<HandoverState>(m.source, 'export', [m.source, m.id, m.from, m.to]))[0],
    importRange: async (m, state) => (await ask<null>(m.target, 'import', [m.target, m.id, state]))[1],
  };
}
