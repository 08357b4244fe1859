import { describe, expect, it } from 'vitest';
import { FlowState, drained, pauseCount, routing, socketBehind, type FlowParty } from '../../../src/frontend/pushback.js';

function party(): FlowParty & { paused: number; resumed: number; watching: number } {
  return {
    flow: new FlowState(),
    paused: 0,
    resumed: 0,
    watching: 0,
    pauseInput() {
      this.paused++;
    },
    resumeInput() {
      this.resumed++;
    },
    watchDrain() {
      this.watching++;
    },
  };
}

describe('pushback', () => {
  it('pauses a publisher once per episode for a subscriber behind, counts the pause, and resumes it on drain', () => {
    const before = pauseCount();
    const pub = party();
    const sub = party();
    routing(pub);
    socketBehind(sub);
    socketBehind(sub); // the same publisher again: already waiting, not paused twice
    routing(undefined);
    expect(pub.paused).toBe(1);
    expect(sub.watching).toBe(1);
    expect(pauseCount()).toBe(before + 1);
    drained(sub);
    expect(pub.resumed).toBe(1);
    // A stalled subscriber holds nobody back.
    sub.flow.stalled = true;
    routing(pub);
    socketBehind(sub);
    routing(undefined);
    expect(pub.paused).toBe(1);
    expect(pauseCount()).toBe(before + 1);
  });
});
