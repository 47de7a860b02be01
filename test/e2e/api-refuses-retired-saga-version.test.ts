import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import pg from 'pg';
import { beforeAll, expect, it } from 'vitest';
import { uuidv7 } from '../../src/shared/kernel/index.js';
import { cloneRunDatabase } from '../support/databases.js';

const run = promisify(execFile);

beforeAll(() => {
  if (!existsSync('dist/entrypoints/api-server.js')) throw new Error('dist/ is missing: run `npm run build` (npm test does) first');
});

/**
 * A release that no longer handles a saga definition version must not start while instances of it
 * can still move (ADR 37): they would be refused one by one until dead-lettered. It says which
 * version and how many, at the start, before taking any work.
 */
it(
  'the production API refuses to start while instances of a definition version it does not handle can move, naming it and the count',
  { timeout: 60_000 },
  async () => {
    const databaseUrl = await cloneRunDatabase();
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      for (const state of ['AWAITING_CREDIT', 'APPROVED', 'CANCELLED'])
        await client.query(
          `insert into ordering.saga_instances (id, type, state, deadline_at, version, definition_version, created_at, updated_at)
           values ($1, 'place-order', $2, now(), 1, 9, now(), now())`,
          [uuidv7(), state],
        );
    } finally {
      await client.end();
    }
    const started = run(process.execPath, ['dist/entrypoints/api-server.js'], {
      env: {
        PATH: process.env['PATH'],
        DATABASE_URL: databaseUrl,
        NODE_ENV: 'development',
        AUTH_MODE: 'off',
        EVENT_BUS: 'memory',
        PORT: '0',
      },
      timeout: 30_000,
    });
    const failure = await started.then(
      () => undefined,
      (error: { code?: number; stdout?: string; stderr?: string }) => error,
    );
    expect(failure?.code).toBe(1);
    const output = `${failure?.stdout ?? ''}${failure?.stderr ?? ''}`;
    // CANCELLED has no way out: two of the three can still move.
    expect(output).toContain(
      'saga place-order: 2 instance(s) started under definition v9 can still move, and this release handles only v1',
    );
    expect(output).toContain('SAGA_DEFINITION_RETIRED');
  },
);
