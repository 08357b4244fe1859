/**
 * Metrics of `edgemq connector`: process metrics and, per bridge route (labels `connector`, `route`),
 * the counters and states its lanes keep as plain numbers. Azure's MQTT bridge exported
 * `aio_mq_mqttbridge_*` without published series names, so these are `edgemq_bridge_*`.
 *
 * Everything is read from `routes()` in prom-client `collect()` callbacks when Prometheus scrapes;
 * one `routes()` call serves the whole scrape.
 */
import type { RouteMetrics } from '../connectors/route-metrics.js';
import { processRegistry, scrapedSeries } from './metrics.js';

export interface ConnectorMetrics {
  scrape(): Promise<string>;
  contentType: string;
}

type Route = RouteMetrics;
const LABELS = ['connector', 'route'] as const;

export function createConnectorMetrics(routes: () => readonly Route[]): ConnectorMetrics {
  const registry = processRegistry({ role: 'connector' });
  let cached: readonly Route[] | undefined;
  const current = (): readonly Route[] => (cached ??= routes());
  const series = (kind: 'counter' | 'gauge', name: string, help: string, read: (r: Route) => number) =>
    scrapedSeries(kind, registry, name, help, LABELS, (put) => {
      for (const r of current()) put({ connector: r.connector, route: r.route }, read(r));
    });

  series('counter', 'edgemq_bridge_messages_forwarded', 'Messages the destination accepted (QoS 1: acknowledged; QoS 0: written).', (r) => r.forwarded);
  scrapedSeries(
    'counter',
    registry,
    'edgemq_bridge_messages_dropped',
    'Messages given up, by reason: buffer_full (oldest dropped at the connector bound), refused (the destination answered an error reason code).',
    [...LABELS, 'reason'],
    (put) => {
      for (const r of current()) {
        put({ connector: r.connector, route: r.route, reason: 'buffer_full' }, r.droppedBufferFull);
        put({ connector: r.connector, route: r.route, reason: 'refused' }, r.droppedRefused);
      }
    },
  );
  series('counter', 'edgemq_bridge_messages_expired', 'Messages whose Message Expiry Interval ran out while the bridge held them.', (r) => r.expired);
  series('counter', 'edgemq_bridge_messages_looped', 'Messages not forwarded because this connector had put them there (loop prevention).', (r) => r.looped);
  series('counter', 'edgemq_bridge_messages_redelivered', 'QoS 1 messages the source sent again after a reconnect (the destination may see them twice).', (r) => r.redelivered);
  series('gauge', 'edgemq_bridge_backlog_messages', 'Messages held: received from the source, not yet acknowledged by the destination.', (r) => r.backlog);
  series('gauge', 'edgemq_bridge_backlog_bytes', 'Payload bytes of the messages held.', (r) => r.backlogBytes);
  series('gauge', 'edgemq_bridge_source_connected', 'Bridge clients of the route connected to the source broker (0 to edgemq_bridge_clients).', (r) => r.sourceConnections);
  series('gauge', 'edgemq_bridge_target_connected', 'Bridge clients of the route connected to the destination broker (0 to edgemq_bridge_clients).', (r) => r.targetConnections);
  series('gauge', 'edgemq_bridge_clients', 'Bridge clients per side of the route: 1, or sharedSubscription.groupMinimumShareNumber.', (r) => r.clients);
  series('counter', 'edgemq_bridge_connect_failures', 'Connection attempts that failed or were refused, on either side.', (r) => r.connectFailures);

  return {
    scrape: () => {
      cached = undefined;
      return registry.metrics();
    },
    contentType: registry.contentType,
  };
}
