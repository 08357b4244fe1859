/**
 * HandoverHold (src/cluster/client/handover-hold.ts): a sender's barrier waits for its publishes in
 * flight, and one held back long by an unanswered publish is reported (`late`): the checker's long
 * form found scale steps that never ended because one front end's publish was never answered.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HandoverHold } from '../../src/cluster/client/handover-hold.js';
import type { ClusterMap, SlotMove } from '../../src/cluster/map.js';

const move: SlotMove = { id: 7, from: 341, to: 512, source: 0, target: 1 };
const map = (moving?: SlotMove): ClusterMap => ({
  epoch: moving ? moving.id : 8,
  slots: [{ from: 0, to: 512, partition: 0 }, { from: 512, to: 1024, partition: 1 }],
  partitions: [{ id: 0, chain: ['backend-0'] }, { id: 1, chain: ['backend-1'] }],
  nodes: {},
  ...(moving ? { moving } : {}),
});

describe('HandoverHold barrier', () => {
  afterEach(() => vi.useRealTimers());

  it('waits for the publishes in flight, reports one that stays unanswered, and sends the barrier once it is answered', () => {
    vi.useFakeTimers();
    const barriers: number[] = [];
    const late: Array<[number, number]> = [];
    const hold = new HandoverHold({
      sendBarrier: (m, done) => {
        barriers.push(m.id);
        done(true);
      },
      feedReached: () => Promise.resolve(),
      late: (m, inflight) => late.push([m.id, inflight]),
    });
    hold.publishStarted();
    hold.onMap(map(move));
    expect(hold.holds(0)).toBe(true);
    expect(barriers).toEqual([]);
    vi.advanceTimersByTime(6000);
    expect(late).toEqual([[7, 1]]);
    expect(barriers).toEqual([]);
    hold.publishAnswered();
    expect(barriers).toEqual([7]);
    vi.advanceTimersByTime(6000);
    expect(late).toEqual([[7, 1]]);
  });
});
