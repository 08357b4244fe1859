/**
 * The connector exporter on its own: every route's counters under its `connector`/`route` labels,
 * drops split by reason, and values read at scrape time (a later scrape sees later counts without any
 * call into prom-client in between). Parsed by a Prometheus text-format parser.
 */
import { describe, expect, it } from 'vitest';
import { newRouteMetrics } from '../../../src/connectors/route-metrics.js';
import { createConnectorMetrics } from '../../../src/observability/connector-metrics.js';
import { parse, value } from '../../helpers/prometheus.js';

async function read(scrape: () => Promise<string>): Promise<(name: string, labels: Record<string, string>) => number> {
  const s = parse(await scrape());
  return (name, labels) => value(s, name, labels);
}

describe('connector metrics', () => {
  it('labels each route, splits drops by reason and reads the counts at scrape time', async () => {
    const up = newRouteMetrics('cloud', 'up', 'local-to-remote', 1);
    const down = newRouteMetrics('cloud', 'down', 'remote-to-local', 3);
    const other = newRouteMetrics('backup', 'up', 'local-to-remote', 1);
    let reads = 0;
    const m = createConnectorMetrics(() => {
      reads++;
      return [up, down, other];
    });
    Object.assign(up, { forwarded: 7, droppedBufferFull: 2, droppedRefused: 1, dropped: 3, backlog: 4, backlogBytes: 400, sourceConnections: 1, targetConnections: 0, connectFailures: 5 });
    Object.assign(down, { forwarded: 11, expired: 1, looped: 2, redelivered: 3, sourceConnections: 2, targetConnections: 3 });

    let v = await read(m.scrape);
    expect(reads).toBe(1); // one walk of the routes per scrape, shared by every series
    const cloudUp = { connector: 'cloud', route: 'up' };
    const cloudDown = { connector: 'cloud', route: 'down' };
    expect(v('edgemq_bridge_messages_forwarded', cloudUp)).toBe(7);
    expect(v('edgemq_bridge_messages_forwarded', cloudDown)).toBe(11);
    expect(v('edgemq_bridge_messages_forwarded', { connector: 'backup', route: 'up' })).toBe(0);
    expect(v('edgemq_bridge_messages_dropped', { ...cloudUp, reason: 'buffer_full' })).toBe(2);
    expect(v('edgemq_bridge_messages_dropped', { ...cloudUp, reason: 'refused' })).toBe(1);
    expect(v('edgemq_bridge_messages_expired', cloudDown)).toBe(1);
    expect(v('edgemq_bridge_messages_looped', cloudDown)).toBe(2);
    expect(v('edgemq_bridge_messages_redelivered', cloudDown)).toBe(3);
    expect(v('edgemq_bridge_backlog_messages', cloudUp)).toBe(4);
    expect(v('edgemq_bridge_backlog_bytes', cloudUp)).toBe(400);
    expect(v('edgemq_bridge_source_connected', cloudUp)).toBe(1);
    expect(v('edgemq_bridge_target_connected', cloudUp)).toBe(0);
    expect(v('edgemq_bridge_target_connected', cloudDown)).toBe(3);
    expect(v('edgemq_bridge_clients', cloudDown)).toBe(3);
    expect(v('edgemq_bridge_connect_failures', cloudUp)).toBe(5);
    expect(v('edgemq_bridge_messages_forwarded', { ...cloudUp, role: 'connector' })).toBe(7);

    // Later counts, a gauge going down: the next scrape shows them as they are.
    up.forwarded = 9;
    up.backlog = 0;
    up.targetConnections = 1;
    v = await read(m.scrape);
    expect(reads).toBe(2);
    expect(v('edgemq_bridge_messages_forwarded', cloudUp)).toBe(9);
    expect(v('edgemq_bridge_backlog_messages', cloudUp)).toBe(0);
    expect(v('edgemq_bridge_target_connected', cloudUp)).toBe(1);
    expect(m.contentType).toContain('text/plain');
  });
});
