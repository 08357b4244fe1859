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
    // The conformance suite runs twice: against `edgemq serve` and against a local cluster (F = 2,
    // P = 2, separate processes, clients spread over both front ends by its balancer). A run with
    // EDGEMQ_TEST_TARGET set (e.g. mosquitto) runs only that target.
    projects: [
      { extends: true as const, test: { name: process.env.EDGEMQ_TEST_TARGET ?? 'edgemq' } },
      ...(process.env.EDGEMQ_TEST_TARGET
        ? []
        : [
            {
              extends: true as const,
              test: {
                name: 'cluster-conformance',
                include: ['test/conformance/**/*.test.ts'],
                env: { EDGEMQ_TEST_TARGET: 'cluster' },
                globalSetup: ['test/helpers/cluster-global.ts'],
                hookTimeout: 90_000,
              },
            },
          ]),
    ],
  },
});
