import { afterAll, beforeAll } from 'vitest';
import type { ModuleDefinition } from '../../../src/shared/infrastructure/composition/module-definition.js';
import { createLogger } from '../../../src/shared/infrastructure/logging/logger.js';
import { quoteIdent } from '../../../src/shared/infrastructure/persistence/sql-identifier.js';
import { ModuleDatabase } from '../../../src/shared/infrastructure/persistence/module-database.js';
import type { TransactionPort } from '../../../src/shared/kernel/index.js';
import { InMemoryDatabase } from '../../support/fakes/index.js';
import { cloneRunDatabase } from '../../support/databases.js';

/**
 * What a repository contract runs against: the port, and the transactions of the database it
 * writes to. Cases run every step in a transaction of its own, as the use cases do.
 */
export interface Store<P> {
  readonly port: P;
  readonly transaction: TransactionPort;
}

/** Opens an empty store before each case. */
export type OpenStore<S> = () => Promise<S>;

/** The in-memory side: a fresh fake database per case. */
export function inMemory<S>(create: (db: InMemoryDatabase) => S): OpenStore<S> {
  return async () => create(new InMemoryDatabase());
}

/**
 * The PostgreSQL side: the module's own `ModuleDatabase` (its schema, its mappings) on a clone of
 * the run's migrated database, with `tables` emptied before each case. Call inside a `describe`.
 */
export function inPostgres<S>(definition: ModuleDefinition, tables: readonly string[], create: (db: ModuleDatabase) => S): OpenStore<S> {
  let db: ModuleDatabase | undefined;
  beforeAll(async () => {
    db = await ModuleDatabase.connect({
      schema: definition.inbox.schema,
      entities: definition.entities,
      migrations: definition.migrations,
      databaseUrl: await cloneRunDatabase(),
      poolSize: 4,
      logger: createLogger({ level: 'silent' }),
    });
  });
  afterAll(async () => {
    await db?.close();
  });
  return async () => {
    if (!db) throw new Error('the PostgreSQL store is not connected (inPostgres must be called inside a describe)');
    const schema = quoteIdent(db.schema);
    await db.exec(`truncate ${tables.map((t) => `${schema}.${quoteIdent(t)}`).join(', ')}`);
    return create(db);
  };
}
