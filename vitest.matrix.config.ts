import { defineConfig } from 'vitest/config';

// The version matrix (npm run test:matrix): server builds fetched by scripts/fetch-servers.mjs.
export default defineConfig({
  test: {
    include: ['test/matrix/**/*.matrix.ts'],
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 180_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
