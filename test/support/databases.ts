import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { moduleDatabaseVariable } from '../../src/shared/infrastructure/config/config.js';

/**
 * A fresh database for one test system, cloned from the run's migrated database (its template):
 * test files run in parallel and kill, flush and count things, so each gets tables of its own.
 * Clones are dropped with the run (their names start with the run database's name).
 */
export async function cloneRunDatabase(): Promise<string> {
  const runUrl = process.env['DATABASE_URL'];
  if (!runUrl) throw new Error('DATABASE_URL is not set: the vitest global setup provides it');
  return cloneDatabase(runUrl);
}

/**
 * A copy of the database at `templateUrl` (nothing may be connected to it), named after the run's
 * database so that it is dropped with the run.
 */
export async function cloneDatabase(templateUrl: string): Promise<string> {
  const runUrl = process.env['DATABASE_URL'];
  if (!runUrl) throw new Error('DATABASE_URL is not set: the vitest global setup provides it');
  const url = new URL(templateUrl);
  const template = url.pathname.slice(1);
  const name = `${new URL(runUrl).pathname.slice(1)}_${randomBytes(4).toString('hex')}`;
  // On the template's server (the run's, or the second one).
  const admin = new URL(templateUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(`create database "${name}" template "${template}"`);
        break;
      } catch (error) {
        // 55006: another clone is reading the template right now.
        if ((error as { code?: string }).code !== '55006' || attempt >= 50) throw error;
        await new Promise((r) => setTimeout(r, 50 + Math.random() * 150));
      }
    }
  } finally {
    await client.end();
  }
  url.pathname = `/${name}`;
  return url.toString();
}

export function uniquePrefix(): string {
  return `${process.env['BULLMQ_PREFIX'] ?? 'test'}-${randomBytes(3).toString('hex')}`;
}

/**
 * A clone of the run's database, and one of its twin on the second PostgreSQL server (the global
 * setup's) with `moved` (a module's inbox declaration) alone in it: as after a module is moved to
 * a database of its own, on a server of its own. Each clone keeps only the schemas that live
 * there, so a statement that reaches for a schema in the wrong database fails instead of finding
 * an empty copy. `env` points the module there (`<MODULE>_DATABASE_URL`).
 */
export async function cloneDatabasesApart(
  moved: { readonly module: string; readonly schema: string },
  others: ReadonlyArray<{ readonly schema: string }>,
): Promise<{ databaseUrl: string; movedUrl: string; env: Record<string, string> }> {
  const secondUrl = process.env['TEST_SECOND_POSTGRES'];
  if (!secondUrl) throw new Error('TEST_SECOND_POSTGRES is not set: the vitest global setup provides it');
  const [databaseUrl, movedUrl] = await Promise.all([cloneRunDatabase(), cloneDatabase(secondUrl)]);
  const drop = async (url: string, schemas: readonly string[]) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      for (const schema of schemas) await client.query(`drop schema "${schema}" cascade`);
    } finally {
      await client.end();
    }
  };
  await drop(databaseUrl, [moved.schema]);
  await drop(
    movedUrl,
    others.map((o) => o.schema).filter((s) => s !== moved.schema),
  );
  return { databaseUrl, movedUrl, env: { [moduleDatabaseVariable(moved.module)]: movedUrl } };
}
