/**
 * The contract between the cluster's control plane (CLI roles, supervisor, coordinator, the
 * configuration store) and its data plane (internal transport, back-end partitions, the remote
 * BrokerCore). The control plane decides who runs where and publishes it in the map; the data plane
 * serves on whatever map `MapSource` gives it. Neither imports the other's internals.
 */
import type { Logger } from 'pino';
import type { MapSource } from './map.js';

/** Settings every role process shares. */
export interface RoleOptions {
  /** Node id, unique in the cluster and stable across restarts of the same slot (e.g. `backend-0`). */
  id: string;
  /** Address this process binds and advertises for internal traffic. */
  host: string;
  /** Port for internal traffic; 0 = any free port (read back from the running role). */
  internalPort: number;
  dataDir: string;
  /** Shared cluster credential, checked in the first frame of every internal connection. */
  token: string;
  /** Broker resources (`--config`), as `edgemq serve` takes them. */
  configFiles: string[];
  secretsDir?: string;
  mapSource: MapSource;
  log: Logger;
  /** Port of /metrics, /healthz, /readyz (default: the Broker's `diagnostics.metrics.prometheusPort`, 9600; 0 = off). */
  metricsPort?: number;
}

export interface FrontendRoleOptions extends RoleOptions {
  /** Client-facing bind address (`--host`). */
  clientHost: string;
  /** Added to every configured listener port (front end i of a local cluster: i). */
  portOffset: number;
  /** Port of the default listener when no config is given (before the offset). */
  port?: number;
  allowAnonymous?: boolean;
  /** Port of the admin API and console (default: the Broker's `edgemq.admin.port`, 9601; 0 = off). */
  adminPort?: number;
}

export interface BackendRoleOptions extends RoleOptions {
  /** A replica installed a state transfer under the map of `epoch`: reported in this process's membership record (ClusterNode.installed). */
  installed?(partition: number, epoch: number): void;
}

export interface RunningRole {
  /** The internal port actually bound. */
  internalPort: number;
  /** Client ports actually bound (front ends). */
  clientPorts: number[];
  /** Partitions this process serves now (back ends). */
  partitions(): number[];
  /** Port of /metrics, /healthz, /readyz actually bound (0 = not served). */
  metricsPort?: number;
  /** Port of the admin API actually bound (front ends; 0 = not served). */
  adminPort?: number;
  /** True when everything this role needs is reachable (readiness). */
  ready(): boolean;
  stop(): Promise<void>;
}
