/** The roles' Node flags (role-flags.ts): serve's young generation replaced, the rest kept. */
import { describe, expect, it } from 'vitest';
import { ROLE_SEMI_SPACE_MB, roleNodeFlags } from '../../../src/cluster/role-flags.js';

describe('roleNodeFlags', () => {
  it("replaces the shebang's young generation in either spelling and keeps every other flag", () => {
    const want = `--max-semi-space-size=${ROLE_SEMI_SPACE_MB}`;
    expect(roleNodeFlags(['--max-semi-space-size=8'])).toEqual([want]);
    expect(roleNodeFlags(['--enable-source-maps', '--max-semi-space-size', '8', '--trace-gc'])).toEqual(['--enable-source-maps', '--trace-gc', want]);
    expect(roleNodeFlags([])).toEqual([want]);
  });
});
