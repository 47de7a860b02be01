import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/shared/infrastructure/config/config.js';
import { dropDatabase, ensureDatabase, listDatabases } from '../../src/dev/provisioning/database.js';
import { startEmbeddedPostgres, stopEmbeddedPostgres } from '../../src/dev/provisioning/embedded-postgres.js';
import { maskUrl } from '../../src/dev/provisioning/mask-url.js';
import { resolveEndpoints } from '../../src/dev/provisioning/provisioning.js';
import { deleteKeysWithPrefix } from '../../src/dev/provisioning/redis.js';
import { createMonolith } from '../../src/entrypoints/composition/monolith.js';
import { createLogger } from '../../src/shared/infrastructure/logging/logger.js';
import { MemoryTransport } from '../../src/shared/infrastructure/messaging/memory-transport.js';
import { buildCompositionTasks } from './composition-tasks.js';
import { testComposition } from './composition.js';
import { freePort } from './ports.js';

/** Applies every module's migrations (of the tests' composition) to the run's database, which test systems then clone. */
async function migrateAll(databaseUrl: string): Promise<void> {
  const config = loadConfig({ ...process.env, DATABASE_URL: databaseUrl });
  const logger = createLogger({ level: 'warn', name: 'test-setup' });
  const { modules, inboxes } = testComposition();
  const runtime = await createMonolith({ config, logger, databaseUrl, modules, inboxes, transport: new MemoryTransport(logger) });
  try {
    await runtime.migrate();
  } finally {
    await runtime.close();
  }
}

/**
 * A second PostgreSQL server for the run (an embedded cluster in a temporary directory, on a free
 * port), with a migrated database of the run's name: where the tests put a module moved to a
 * database of its own (test/support/databases.ts cloneDatabasesApart). On another server, not
 * another database of the same one, so that code which builds a module's connection from
 * DATABASE_URL's server, or counts on one server's connections, fails here as it would in
 * production.
 */
async function startSecondServer(databaseName: string): Promise<{ databaseUrl: string; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'saga-test-pg-'));
  const stop = async () => {
    await stopEmbeddedPostgres(join(dir, 'postgres')).catch((error: unknown) =>
      log('could not stop the second PostgreSQL server', { dir, error: String(error) }),
    );
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // fsync off: a test server's data does not outlive the run.
    const server = await startEmbeddedPostgres({
      dir: join(dir, 'postgres'),
      port: await freePort(),
      database: databaseName,
      settings: { fsync: 'off', max_connections: '200' },
    });
    await migrateAll(server.databaseUrl);
    return { databaseUrl: server.databaseUrl, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Runs once per `vitest` run, in the main process, before any worker starts:
 * - finds PostgreSQL and Redis like the dev tools do (DATABASE_URL / REDIS_URL, endpoints.json, the
 *   local servers, else embedded ones started under DATA_DIR and left running for the next run);
 * - creates a database of its own for this run, `saga_test_<yyyymmddhhmmss>_<random>`, and a BullMQ
 *   prefix `test-<same id>`, so that runs in parallel (two terminals, CI jobs) never see each other;
 * - hands them to the test workers through the environment: the forks pool builds each worker's
 *   environment from `process.env` when it starts the run, i.e. after this function
 *   (test/integration/provisioning.test.ts checks that they arrive);
 * - starts a second PostgreSQL server with a migrated database of the same name
 *   (TEST_SECOND_POSTGRES, a URL: not named `*_DATABASE_URL`, which the configuration reads as a
 *   module's), for a module that lives in a database of its own;
 * - on teardown drops the run's database, stops the second server and deletes the run's Redis keys.
 */

const TEST_DATABASE_PREFIX = 'saga_test_';
/** Databases of runs that never reached their teardown (killed, crashed) are dropped after this long. */
const ABANDONED_AFTER_MS = 24 * 3_600_000;

function log(msg: string, data?: object): void {
  process.stderr.write(`[test-setup] ${msg}${data ? ` ${JSON.stringify(data)}` : ''}\n`);
}

function timestamp(date: Date): string {
  return date.toISOString().replace(/\D/g, '').slice(0, 14); // yyyymmddhhmmss, UTC
}

/** Drops databases of runs older than ABANDONED_AFTER_MS (their name carries their start time). */
async function dropAbandonedDatabases(serverUrl: string): Promise<void> {
  const cutoff = timestamp(new Date(Date.now() - ABANDONED_AFTER_MS));
  for (const name of await listDatabases(serverUrl, TEST_DATABASE_PREFIX)) {
    const started = /^saga_test_(\d{14})_/.exec(name)?.[1];
    if (started !== undefined && started < cutoff) {
      await dropDatabase(serverUrl, name).then(
        () => log('dropped the database of an abandoned test run', { database: name }),
        (error: unknown) => log('could not drop the database of an abandoned test run', { database: name, error: String(error) }),
      );
    }
  }
}

export default async function setup(): Promise<() => Promise<void>> {
  const config = loadConfig(process.env);
  const quiet = (msg: string): void => {
    // Only what costs time or changes the machine is worth a line in the test output.
    if (/start|creat|waiting/.test(msg)) log(msg);
  };
  const endpoints = await resolveEndpoints(config, { allowEmbedded: true, log: quiet });

  const runId = `${timestamp(new Date())}_${randomBytes(4).toString('hex')}`;
  const databaseName = `${TEST_DATABASE_PREFIX}${runId}`;
  const bullmqPrefix = `test-${runId}`;

  await dropAbandonedDatabases(endpoints.databaseUrl);
  const { databaseUrl } = await ensureDatabase(endpoints.databaseUrl, databaseName);
  const [migrated, second] = await Promise.allSettled([migrateAll(databaseUrl), startSecondServer(databaseName)]);
  if (migrated.status === 'rejected' || second.status === 'rejected') {
    // vitest runs no teardown for a setup that failed.
    await dropDatabase(databaseUrl, databaseName).catch(() => undefined);
    if (second.status === 'fulfilled') await second.value.stop();
    throw migrated.status === 'rejected' ? migrated.reason : (second as PromiseRejectedResult).reason;
  }
  const secondServer = second.value;

  // Another composition than the monolith's runs its ECS tasks from bundles of its own entries.
  const { inboxes, taskEntryOf } = testComposition();
  const compositionTasks = taskEntryOf ? await buildCompositionTasks(inboxes, taskEntryOf) : undefined;
  if (compositionTasks) process.env.TEST_COMPOSITION_TASK_DEFINITIONS = compositionTasks.taskDefinitionsDir;

  process.env.DATABASE_URL = databaseUrl;
  process.env.TEST_SECOND_POSTGRES = secondServer.databaseUrl;
  process.env.REDIS_URL = endpoints.redisUrl;
  process.env.BULLMQ_PREFIX = bullmqPrefix;
  process.env.NODE_ENV = 'test';
  process.env.LOG_LEVEL ||= 'silent';
  // Tests place orders far faster than a client may; the security tests turn the limits on themselves.
  process.env.RATE_LIMIT_MAX ||= '0';
  process.env.RATE_LIMIT_SAGA_MAX ||= '0';

  return async () => {
    compositionTasks?.dispose();
    const clones = await listDatabases(endpoints.databaseUrl, `${databaseName}_`).catch(() => [] as string[]);
    const [database, keys] = await Promise.allSettled([
      Promise.all([databaseName, ...clones].map((name) => dropDatabase(databaseUrl, name))),
      deleteKeysWithPrefix(endpoints.redisUrl, bullmqPrefix, { includeDerivedPrefixes: true }),
      secondServer.stop(),
    ]);
    // A leftover is not a test failure: report it; the database is swept by a later run.
    if (database.status === 'rejected') {
      log('could not drop the test database', {
        database: databaseName,
        server: maskUrl(endpoints.databaseUrl),
        error: String(database.reason),
      });
    }
    if (keys.status === 'rejected') log('could not delete the test run keys', { prefix: `${bullmqPrefix}:*`, error: String(keys.reason) });
  };
}
