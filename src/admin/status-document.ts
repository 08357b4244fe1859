/**
 * The body of `GET /api/v1/status` (built in routes.ts, described in openapi.ts) as its two readers
 * see it: `edgemq status` and the web console. Types only, importing only dependency-free type
 * files, so the browser build shares it.
 */
import type { BrokerStats } from '../core/broker-stats.js';

/** Azure's `status.runtimeStatus` of one resource. */
export interface RuntimeStatus {
  status: 'Running' | 'Degraded' | 'Failed' | 'Unknown';
  description: string;
}

/** One port of a listener in force: open when it is listening now. */
export interface StatusListener {
  name: string;
  port: number;
  protocol: 'mqtt' | 'websockets';
  tls: boolean;
  open: boolean;
  /** Bind address, while open. */
  host?: string;
}

/** The self-check's last round. */
export interface SelfCheckRound {
  ok: boolean;
  latencyMs: Record<string, number>;
  /** The probe's message did not come back within the timeout. */
  lost: boolean;
  error?: string;
  /** When the round ended (ms epoch). */
  at: number;
}

export interface StatusDocument {
  broker: string;
  version: string;
  uptimeSeconds: number;
  ready: boolean;
  /** Readiness conditions not met yet. */
  pending: string[];
  /** On a cluster front end: the sum over the partitions it reaches. */
  stats: BrokerStats;
  connections: number;
  listeners: StatusListener[];
  selfCheck?: SelfCheckRound;
  resources: Array<{ kind: string; name: string } & RuntimeStatus>;
}
