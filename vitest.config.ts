import { defineConfig } from 'vitest/config';

/**
 * Two projects: unit tests share one worker context (no database, no isolation needed, fast);
 * integration, end-to-end and architecture tests run in forked processes against the run's own
 * PostgreSQL database (created and migrated by the global setup) and BullMQ prefix.
 */
export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], isolate: false, pool: 'threads' },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/architecture/**/*.test.ts'],
          exclude: ['test/architecture/fixtures/**', 'node_modules/**'],
          pool: 'forks',
        },
      },
    ],
  },
});
