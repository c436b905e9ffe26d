import { defineConfig } from 'vitest/config';

// Tests start real redis-server processes, clusters and replicant children: one test file at a time.
// With two side by side on a 2-core machine, a worker starved past 60 s missed vitest's own RPC deadline
// ("[vitest-worker]: Timeout calling onTaskUpdate", an unhandled error that fails the run) and cluster
// nodes timed each other out.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    pool: 'forks',
    poolOptions: { forks: { maxForks: 1, minForks: 1 } },
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
