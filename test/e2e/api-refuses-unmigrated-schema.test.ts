import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import pg from 'pg';
import { beforeAll, expect, it } from 'vitest';
import { ALL_INBOXES } from '../../src/entrypoints/composition/all-modules.js';
import { cloneRunDatabase } from '../support/databases.js';

const run = promisify(execFile);

beforeAll(() => {
  if (!existsSync('dist/entrypoints/api-server.js')) throw new Error('dist/ is missing: run `npm run build` (npm test does) first');
});

/**
 * A module's schema without the platform's messaging tables (a database migrated by an older
 * release, or a module whose migrations ran without the platform's) is refused at the API's start,
 * with what to run, instead of answering 500 on the admin routes and dropping metrics later.
 */
it(
  'the production API refuses to start while a schema lacks the messaging migrations, saying what to run',
  { timeout: 60_000 },
  async () => {
    const databaseUrl = await cloneRunDatabase();
    const schema = ALL_INBOXES.at(-1)!.schema;
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      await client.query(`drop table "${schema}".messaging_migrations`);
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
    expect(output).toContain(`${schema}: messaging-0001-tables`);
    expect(output).toContain('migrate.js');
  },
);
