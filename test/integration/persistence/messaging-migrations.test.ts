import { afterAll, describe, expect, it } from 'vitest';
import { ALL_INBOXES } from '../../../src/entrypoints/composition/all-modules.js';
import { createMonolith } from '../../../src/entrypoints/composition/monolith.js';
import { loadConfig } from '../../../src/shared/infrastructure/config/config.js';
import { createLogger } from '../../../src/shared/infrastructure/logging/logger.js';
import { MemoryTransport } from '../../../src/shared/infrastructure/messaging/memory-transport.js';
import {
  MESSAGING_MIGRATIONS,
  migrateMessaging,
  pendingMessagingMigrations,
} from '../../../src/shared/infrastructure/persistence/messaging-migrations.js';
import { ModuleDatabase } from '../../../src/shared/infrastructure/persistence/module-database.js';
import { cloneRunDatabase } from '../../support/databases.js';

/**
 * The platform's messaging tables come from one place, the messaging migrations, applied in every
 * hosted module's schema: a new module's migrations hold only its own tables, the first modules'
 * schemas (whose own early migrations made the same tables) are left exactly as they were.
 */
const logger = createLogger({ level: 'silent' });
const NAMES = MESSAGING_MIGRATIONS.map((m) => m.name);
const SCHEMAS = ALL_INBOXES.map((i) => i.schema);
const opened: ModuleDatabase[] = [];

afterAll(async () => {
  await Promise.allSettled(opened.map((db) => db.close()));
});

async function database(schema: string, databaseUrl: string): Promise<ModuleDatabase> {
  const db = await ModuleDatabase.connect({ schema, entities: [], migrations: async () => [], databaseUrl, poolSize: 4, logger });
  opened.push(db);
  return db;
}

/** Every column and index of the messaging tables of `schema`, its name taken out. */
async function messagingShape(db: ModuleDatabase, schema: string): Promise<string[]> {
  const tables = ['outbox', 'inbox', 'task_leases', 'launch_attempts'];
  const columns = await db.query<{ line: string }>(
    `select table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '-') as line
     from information_schema.columns where table_schema = ? and table_name = any(?::text[]) order by table_name, column_name`,
    [schema, tables],
  );
  const indexes = await db.query<{ line: string }>(
    `select tablename || ' ' || indexdef as line from pg_indexes where schemaname = ? and tablename = any(?::text[]) order by indexname`,
    [schema, tables],
  );
  const constraints = await db.query<{ line: string }>(
    `select t.relname || ' ' || pg_get_constraintdef(c.oid) as line from pg_constraint c join pg_class t on t.oid = c.conrelid
     join pg_namespace n on n.oid = t.relnamespace where n.nspname = ? and t.relname = any(?::text[]) order by 1`,
    [schema, tables],
  );
  return [...columns, ...indexes, ...constraints].map((r) => r.line.split(schema).join('<schema>'));
}

describe('the platform messaging migrations', () => {
  it('give a schema that lacks them every messaging table, column, index and constraint the modules have', async () => {
    const db = await database('bare_module', await cloneRunDatabase());
    expect(await pendingMessagingMigrations(db)).toEqual(NAMES.map((name) => `bare_module: ${name}`));
    expect(await migrateMessaging(db)).toEqual(NAMES);
    expect(await pendingMessagingMigrations(db)).toEqual([]);
    expect(await migrateMessaging(db)).toEqual([]);
    const created = await messagingShape(db, 'bare_module');
    expect(created.length).toBeGreaterThan(40);
    for (const schema of SCHEMAS) expect(await messagingShape(db, schema), schema).toEqual(created);
  });

  it("are recorded without a change where a module's own early migrations made the tables", async () => {
    const db = await database(SCHEMAS[0]!, await cloneRunDatabase());
    for (const schema of SCHEMAS) {
      const before = await messagingShape(db, schema);
      // A database migrated before the platform had its migrations: the tables are there, unrecorded.
      await db.exec(`drop table "${schema}".messaging_migrations`);
      const other = await database(schema, db.database.url);
      expect(await pendingMessagingMigrations(other)).toEqual(NAMES.map((name) => `${schema}: ${name}`));
      expect(await migrateMessaging(other)).toEqual(NAMES);
      expect(await messagingShape(db, schema)).toEqual(before);
    }
  });

  it('apply once when several processes migrate one schema at the same time', async () => {
    const url = await cloneRunDatabase();
    const dbs = await Promise.all(Array.from({ length: 4 }, () => database('raced_module', url)));
    const applied = await Promise.all(dbs.map((db) => migrateMessaging(db)));
    expect(applied.flat().sort()).toEqual([...NAMES].sort());
    expect(await dbs[0]!.query('select name from raced_module.messaging_migrations order by name')).toEqual(
      NAMES.map((name) => ({ name })),
    );
  });

  it('count as pending migrations of the runtime, which is what makes the API refuse to start', async () => {
    const databaseUrl = await cloneRunDatabase();
    const config = loadConfig({ ...process.env, DATABASE_URL: databaseUrl });
    const runtime = await createMonolith({ config, logger, databaseUrl, transport: new MemoryTransport(logger) });
    try {
      expect(await runtime.pendingMigrations()).toEqual([]);
      const schema = SCHEMAS.at(-1)!;
      await runtime.modules[0]!.db.exec(`delete from "${schema}".messaging_migrations where name = ?`, [NAMES.at(-1)]);
      expect(await runtime.pendingMigrations()).toEqual([`${schema}: ${NAMES.at(-1)}`]);
      await runtime.migrate();
      expect(await runtime.pendingMigrations()).toEqual([]);
    } finally {
      await runtime.close();
    }
  });
});
