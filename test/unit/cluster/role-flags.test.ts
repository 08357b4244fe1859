/** The roles' Node flags (role-flags.ts): serve's young generation replaced, the rest kept; GC on one thread on a crowded machine. */
import { describe, expect, it } from 'vitest';
import { ROLE_SEMI_SPACE_MB, roleNodeFlags } from '../../../src/cluster/role-flags.js';

const young = `--max-semi-space-size=${ROLE_SEMI_SPACE_MB}`;

describe('roleNodeFlags', () => {
  it("replaces the shebang's young generation in either spelling and keeps every other flag", () => {
    expect(roleNodeFlags(['--max-semi-space-size=8'])).toEqual([young]);
    expect(roleNodeFlags(['--enable-source-maps', '--max-semi-space-size', '8', '--trace-gc'])).toEqual(['--enable-source-maps', '--trace-gc', young]);
    expect(roleNodeFlags([])).toEqual([young]);
  });

  it('collects garbage on one thread when the processes fill the CPUs, and only then', () => {
    expect(roleNodeFlags(['--max-semi-space-size=8'], { processes: 4, cpus: 2 })).toEqual([young, '--single-threaded-gc']);
    expect(roleNodeFlags([], { processes: 2, cpus: 2 })).toEqual([young, '--single-threaded-gc']);
    expect(roleNodeFlags([], { processes: 4, cpus: 16 })).toEqual([young]);
  });

  it("keeps an operator's own choice of GC threading", () => {
    expect(roleNodeFlags(['--no-single-threaded-gc'], { processes: 4, cpus: 2 })).toEqual(['--no-single-threaded-gc', young]);
    expect(roleNodeFlags(['--parallel-scavenge'], { processes: 4, cpus: 2 })).toEqual(['--parallel-scavenge', young]);
  });
});
