/**
 * Runs the routes of MQTT bridge connectors: one `Lane` per route, or per share member of a route with
 * `sharedSubscription`. Offers the per-route metrics and logs them periodically.
 */
import type { Logger } from 'pino';
import type { BridgeConnectorSettings } from '../config/bridge-model.js';
import type { SecretStore } from '../security/secrets.js';
import { Lane } from './lane.js';
import { newRouteMetrics, type RouteMetrics } from './route-metrics.js';

interface RunningRoute {
  metrics: RouteMetrics;
  lanes: Lane[];
}

export class BridgeRunner {
  private readonly routes: RunningRoute[] = [];
  private statsTimer: NodeJS.Timeout | undefined;

  constructor(
    connectors: BridgeConnectorSettings[],
    secrets: SecretStore,
    private readonly log: Logger,
  ) {
    for (const c of connectors) {
      const clog = log.child({ connector: c.name });
      for (const route of c.routes) {
        const clients = route.shared?.clients ?? 1;
        const metrics = newRouteMetrics(c.name, route.name, route.direction, clients);
        const lanes = Array.from({ length: clients }, (_, i) => new Lane(c, route, i, metrics, secrets, clog));
        this.routes.push({ metrics, lanes });
      }
    }
  }

  start(statsIntervalMs = 0): void {
    for (const r of this.routes) for (const lane of r.lanes) lane.start();
    this.log.info({ routes: this.routes.map((r) => `${r.metrics.connector}/${r.metrics.route} (${r.metrics.direction})`) }, 'bridge routes started');
    if (statsIntervalMs > 0) {
      this.statsTimer = setInterval(() => this.log.info({ routes: this.metrics() }, 'bridge route statistics'), statsIntervalMs);
      this.statsTimer.unref();
    }
  }

  /** One object per route; counters only grow, backlog and connection counts are current. */
  metrics(): RouteMetrics[] {
    return this.routes.map((r) => {
      r.metrics.backlogBytes = r.lanes.reduce((sum, lane) => sum + lane.heldBytes, 0);
      return r.metrics;
    });
  }

  /**
   * `connector/route` of every route and whether each of its bridge clients has been connected to
   * both brokers at least once (readiness: a later outage is offline operation, not unreadiness).
   */
  connectedOnce(): Array<{ route: string; connected: boolean }> {
    return this.routes.map((r) => ({ route: `${r.metrics.connector}/${r.metrics.route}`, connected: r.lanes.every((lane) => lane.connectedOnce) }));
  }

  async stop(): Promise<void> {
    if (this.statsTimer !== undefined) clearInterval(this.statsTimer);
    await Promise.all(this.routes.flatMap((r) => r.lanes.map((lane) => lane.stop())));
  }
}
