import { describe, expect, it } from 'vitest';
import type { Logger } from 'pino';
import { QOS0_LINK_HARD_LIMIT_BYTES, Qos0ShedGuard } from '../../../src/cluster/qos0-shed-guard.js';

function recordingLog(): { log: Logger; lines: Array<[Record<string, unknown>, string]> } {
  const lines: Array<[Record<string, unknown>, string]> = [];
  return { log: { warn: (o: Record<string, unknown>, m: string) => lines.push([o, m]) } as unknown as Logger, lines };
}

describe('Qos0ShedGuard', () => {
  it('keeps QoS 0 for a draining peer below the hard limit, however far behind', () => {
    const { log, lines } = recordingLog();
    const g = new Qos0ShedGuard(log, 'QoS 0 deliveries to a front end');
    expect(g.shed('fe-1', QOS0_LINK_HARD_LIMIT_BYTES, false)).toBe(false);
    expect(g.dropped).toBe(0);
    expect(lines).toHaveLength(0);
  });

  it('sheds for a stalled peer or past the hard limit, logs once per episode with the peer, and the end with the count', () => {
    const { log, lines } = recordingLog();
    const g = new Qos0ShedGuard(log, 'QoS 0 deliveries to a front end');
    expect(g.shed('fe-1', 2 << 20, true)).toBe(true);
    expect(g.shed('fe-1', 2 << 20, true)).toBe(true);
    expect(g.shed('fe-2', QOS0_LINK_HARD_LIMIT_BYTES + 1, false)).toBe(true);
    expect(g.dropped).toBe(3);
    expect(lines.map(([o]) => o.peer)).toEqual(['fe-1', 'fe-2']);
    expect(lines[0][1]).toContain('the link is stalled');
    expect(lines[1][1]).toContain('past its hard limit');
    // fe-1 drains: the episode ends once, with its drops; a later check below the limit ends fe-2's.
    g.end('fe-1');
    g.end('fe-1');
    expect(g.shed('fe-2', 1000, false)).toBe(false);
    expect(lines.slice(2).map(([o, m]) => [o.peer, o.dropped, m])).toEqual([
      ['fe-1', 2, 'QoS 0 deliveries to a front end: shedding ended'],
      ['fe-2', 1, 'QoS 0 deliveries to a front end: shedding ended'],
    ]);
  });
});
