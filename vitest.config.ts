import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Training tests are CPU-bound; two cores, so two files at a time.
    maxWorkers: 2,
    pool: 'forks',
    // Training children inherit this; keeps test output readable.
    env: { LOG_LEVEL: 'warn', TRAINING_THREADS: '1' },
  },
});
