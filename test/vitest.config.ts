import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: ['test/**/*.test.ts'],
    exclude: ['test/bench/**', 'node_modules/**'],
    // Tests start real broker processes: two cores, so at most two files at once.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    // .ci/run asks for a JSON summary to print its `N passed, N failed` line.
    reporters: process.env.EDGEMQ_TEST_RESULTS ? ['default', ['json', { outputFile: process.env.EDGEMQ_TEST_RESULTS }]] : ['default'],
    hookTimeout: 30_000,
  },
});
