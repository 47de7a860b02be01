import type { ModuleDatabase } from './module-database.js';
import {
  deliveryKeysSql,
  launchBreakerSql,
  launchProbeSql,
  messagingTablesSql,
  taskLivenessSql,
  taskReturnsSql,
} from './messaging-tables.js';
import { quoteIdent } from './sql-identifier.js';

/**
 * The platform's own migrations: the messaging tables (outbox, inbox, task leases, launch
 * attempts) in every hosted module's schema, so that a module's migrations hold only its own
 * tables. Applied by the platform after the module's migrations, tracked per schema in
 * `<schema>.messaging_migrations`. Every statement is idempotent: the schemas of the first two
 * modules got these tables from their own early migrations, where applying them records the
 * names and changes nothing.
 */

/** What the messaging migrations use of a module's database. */
export type MessagingMigrationTarget = Pick<ModuleDatabase, 'schema' | 'query' | 'exec' | 'run'>;

export interface MessagingMigration {
  /** Recorded once applied: never rename one, append a new one instead. */
  readonly name: string;
  statements(schema: string): string[];
}

/** In the order they apply. */
export const MESSAGING_MIGRATIONS: readonly MessagingMigration[] = [
  { name: 'messaging-0001-tables', statements: messagingTablesSql },
  { name: 'messaging-0002-delivery-keys', statements: deliveryKeysSql },
  { name: 'messaging-0003-launch-breaker', statements: launchBreakerSql },
  { name: 'messaging-0004-launch-probe', statements: launchProbeSql },
  { name: 'messaging-0005-task-liveness', statements: taskLivenessSql },
  { name: 'messaging-0006-task-returns', statements: taskReturnsSql },
];

const TRACKING_TABLE = 'messaging_migrations';

/** The names applied in the module's schema; none when the schema (or its tracking table) does not exist yet. */
async function appliedIn(db: MessagingMigrationTarget): Promise<Set<string>> {
  const table = `${quoteIdent(db.schema)}.${quoteIdent(TRACKING_TABLE)}`;
  const [found] = await db.query<{ present: boolean }>('select to_regclass(?) is not null as present', [table]);
  if (!found?.present) return new Set();
  return new Set((await db.query<{ name: string }>(`select name from ${table}`)).map((r) => r.name));
}

/** The messaging migrations the module's schema lacks, as `<schema>: <name>` (what a start refused for them lists). */
export async function pendingMessagingMigrations(db: MessagingMigrationTarget): Promise<string[]> {
  const applied = await appliedIn(db);
  return MESSAGING_MIGRATIONS.filter((m) => !applied.has(m.name)).map((m) => `${db.schema}: ${m.name}`);
}

/**
 * Applies the messaging migrations the module's schema lacks, all in one transaction (PostgreSQL's
 * DDL is transactional: a failure leaves nothing half-made); processes migrating at once queue on
 * an advisory lock of the schema. Returns what it applied.
 */
export async function migrateMessaging(db: MessagingMigrationTarget): Promise<string[]> {
  const schema = quoteIdent(db.schema);
  const table = `${schema}.${quoteIdent(TRACKING_TABLE)}`;
  return db.run(async () => {
    await db.query('select pg_advisory_xact_lock(hashtext(?))', [`${TRACKING_TABLE}:${db.schema}`]);
    await db.exec(`create schema if not exists ${schema}`);
    await db.exec(`create table if not exists ${table} (name text primary key, applied_at timestamptz not null default now())`);
    const applied = await appliedIn(db);
    const done: string[] = [];
    for (const migration of MESSAGING_MIGRATIONS) {
      if (applied.has(migration.name)) continue;
      for (const sql of migration.statements(db.schema)) await db.exec(sql);
      await db.exec(`insert into ${table} (name) values (?)`, [migration.name]);
      done.push(migration.name);
    }
    return done;
  });
}
