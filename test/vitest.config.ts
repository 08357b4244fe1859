import { defineConfig } from 'vitest/config';

const root = new URL('..', import.meta.url).pathname;
const common = {
  root,
  exclude: ['test/bench/**', 'node_modules/**'],
  // Tests start real broker processes: two cores, so at most two files at once.
  pool: 'forks' as const,
  testTimeout: 30_000,
  hookTimeout: 30_000,
};

export default defineConfig({
  test: {
    root,
    maxWorkers: 2,
    // .ci/run asks for a JSON summary to print its `N passed, N failed` line.
    reporters: process.env.EDGEMQ_TEST_RESULTS ? ['default', ['json', { outputFile: process.env.EDGEMQ_TEST_RESULTS }]] : ['default'],
    // The conformance suite runs twice: against `edgemq serve` (and everything else), and against a
    // local cluster (F = 2, P = 2, separate processes; clients spread over both front ends by its
    // balancer). A run with EDGEMQ_TEST_TARGET set (e.g. mosquitto) runs only that target.
    projects: [
      { test: { ...common, name: process.env.EDGEMQ_TEST_TARGET ?? 'edgemq', include: ['test/**/*.test.ts'] } },
      ...(process.env.EDGEMQ_TEST_TARGET
        ? []
        : [
            {
              test: {
                ...common,
                name: 'cluster-conformance',
                include: ['test/conformance/**/*.test.ts'],
                env: { EDGEMQ_TEST_TARGET: 'cluster' },
                globalSetup: ['test/helpers/cluster-global.ts'],
              },
            },
          ]),
    ],
  },
});
