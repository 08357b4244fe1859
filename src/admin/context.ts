/**
 * What the admin API reads and acts on, as interfaces: the admin room is handed these by
 * `edgemq serve` (or a cluster front end) and imports no role's internals.
 */
import type { BrokerInspector, BrokerStats } from '../core/broker-core.js';
import type { Message } from '../core/types.js';
import type { ClientInfo, OpenListener } from '../frontend/frontend.js';
import type { LoadedConfig } from '../config/model.js';
import type { ResourceDocument } from '../config/resource-document.js';
import type { SelfCheckRound } from './status-document.js';

export interface AdminFrontEnd {
  clients(): ClientInfo[];
  disconnectClient(clientId: string, reasonCode?: number): boolean;
  readonly open: OpenListener[];
}

/** The session operations the admin needs from the back end, through the ordinary BrokerCore commands. */
export interface AdminSessions extends BrokerInspector {
  stats(): BrokerStats;
  /** Ends a session for good (kicking its live connection), as a clean-start connect with expiry 0 would. */
  deleteSession(clientId: string): Promise<void>;
  /** Publishes an empty retained message: the retained message of `topic` is cleared. */
  clearRetained(topic: string): Promise<void>;
}

export interface ApplyOutcome {
  /** The resources were applied (false for a validation run). */
  applied: boolean;
  warnings: string[];
  /** Live sessions ended because the new security configuration no longer admits them. */
  sessionsEnded: number;
}

/** Thrown by `apply`/`validate`: the HTTP status says whose fault it is. */
export class AdminRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export interface AdminResources {
  /** The configuration in force and the resources it came from (files plus admin overlay). */
  current(): { config: LoadedConfig; documents: ResourceDocument[] };
  /** Validates YAML resources as `--config` would, and whether they would be safe to apply. */
  validate(yaml: string): ApplyOutcome;
  /** Validates, stores and applies through the configuration reload path. */
  apply(yaml: string): ApplyOutcome;
}

export interface SelfCheckView {
  readonly last: SelfCheckRound | undefined;
  run(): Promise<unknown>;
}

export interface AdminContext {
  brokerName: string;
  version: string;
  startedAt: number;
  frontEnd: AdminFrontEnd;
  sessions: AdminSessions;
  resources: AdminResources;
  readiness: { readonly ready: boolean; pending(): string[] };
  selfCheck?: SelfCheckView;
  /** prom-client's JSON view of the metrics (the console's charts read it). */
  metricsJson(): Promise<unknown>;
}

export type { Message };
