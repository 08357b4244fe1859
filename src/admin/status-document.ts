/**
 * The body of `GET /api/v1/status` (built in routes.ts, described in openapi.ts) as its two readers
 * see it: `edgemq status` and the web console. Types only and no imports, so the browser build shares it.
 */
export interface StatusDocument {
  broker: string;
  version: string;
  uptimeSeconds: number;
  ready: boolean;
  /** Readiness conditions not met yet. */
  pending: string[];
  stats: Record<string, number>;
  connections: number;
  listeners: Array<{ name: string; port: number; protocol: string; tls: boolean; open: boolean; host?: string }>;
  selfCheck?: { ok: boolean; latencyMs: Record<string, number>; error?: string; at: number };
  resources: Array<{ kind: string; name: string; status: string; description: string }>;
}
