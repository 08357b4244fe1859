/**
 * Counters and state of one bridge route, kept as plain fields so the hot path only increments
 * numbers; `BridgeRunner.metrics()` hands these objects out, to the statistics log and to the
 * Prometheus exporter (src/observability/connector-metrics.ts), which reads them at scrape time.
 */
export interface RouteMetrics {
  connector: string;
  route: string;
  direction: string;
  /** Messages the destination accepted (QoS 1: acknowledged; QoS 0: written). */
  forwarded: number;
  /** Messages given up: `droppedBufferFull` + `droppedRefused`. */
  dropped: number;
  /** Oldest waiting messages dropped at the connector's buffer bound. */
  droppedBufferFull: number;
  /** Messages the destination refused with an error reason code. */
  droppedRefused: number;
  /** Messages whose Message Expiry Interval ran out while they were held. */
  expired: number;
  /** Messages not forwarded because this connector had put them there (loop prevention). */
  looped: number;
  /** QoS 1 messages the source sent again after a reconnect (the destination may see them twice). */
  redelivered: number;
  /** Messages held: received from the source, not yet acknowledged by the destination. */
  backlog: number;
  backlogBytes: number;
  /** Bridge clients of the route connected to the source / destination broker (one per share member). */
  sourceConnections: number;
  targetConnections: number;
  /** Bridge clients per side (1, or groupMinimumShareNumber). */
  clients: number;
  /** Connection attempts that failed, on either side. */
  connectFailures: number;
  lastError?: string;
  lastErrorAt?: string;
}

export function newRouteMetrics(connector: string, route: string, direction: string, clients: number): RouteMetrics {
  return {
    connector,
    route,
    direction,
    forwarded: 0,
    dropped: 0,
    droppedBufferFull: 0,
    droppedRefused: 0,
    expired: 0,
    looped: 0,
    redelivered: 0,
    backlog: 0,
    backlogBytes: 0,
    sourceConnections: 0,
    targetConnections: 0,
    clients,
    connectFailures: 0,
  };
}

export function recordError(m: RouteMetrics, message: string): void {
  m.lastError = message;
  m.lastErrorAt = new Date().toISOString();
}
