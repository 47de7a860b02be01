import { AsyncLocalStorage } from 'node:async_hooks';
import { MikroORM, TransactionContext, type EntitySchema, type MigrationObject } from '@mikro-orm/core';
import { PostgreSqlDriver, type EntityManager, type Knex } from '@mikro-orm/postgresql';
import type { QueryResult } from 'pg';
import type { TransactionPort } from '../../kernel/index.js';
import type { Logger } from '../logging/logger.js';

/**
 * The two methods of knex's client that its own query runner uses to get a `pg` connection: from
 * the pool, or (on a transaction's client) the transaction's connection. Calling them directly
 * skips knex's per-query compilation and events on the hot path.
 */
interface KnexConnections {
  acquireConnection(): Promise<{ query(text: string, values: unknown[]): Promise<QueryResult> }>;
  releaseConnection(connection: unknown): Promise<unknown>;
}

const POSITIONAL_CACHE_LIMIT = 1_000;

export interface ModuleDatabaseOptions {
  /** The module's PostgreSQL schema, e.g. `ordering`; also its MikroORM context name. */
  readonly schema: string;
  readonly entities: readonly EntitySchema[];
  readonly migrations: () => Promise<readonly MigrationObject[]>;
  readonly databaseUrl: string;
  readonly poolSize: number;
  readonly logger: Logger;
  readonly applicationName?: string;
}

interface TransactionState {
  readonly afterCommit: Array<() => void>;
}

/**
 * One MikroORM instance per module: its own mappings, its own schema, its own migrations table,
 * so a process that runs one use case loads only its module. Also the module's unit of work:
 * `run` starts a transaction or joins the current one, and repositories, the outbox and the
 * inbox all write through it.
 */
export class ModuleDatabase implements TransactionPort {
  private readonly txState = new AsyncLocalStorage<TransactionState>();
  private readonly positionalCache = new Map<string, { readonly text: string | null; readonly placeholders: number }>();

  private constructor(
    readonly orm: MikroORM<PostgreSqlDriver>,
    readonly schema: string,
    private readonly logger: Logger,
    private readonly loadMigrations: () => Promise<readonly MigrationObject[]>,
  ) {}

  static async connect(options: ModuleDatabaseOptions): Promise<ModuleDatabase> {
    const orm = await MikroORM.init<PostgreSqlDriver>({
      driver: PostgreSqlDriver,
      clientUrl: options.databaseUrl,
      schema: options.schema,
      contextName: options.schema,
      entities: [...options.entities],
      discovery: { warnWhenNoEntities: false },
      allowGlobalContext: false,
      pool: { min: 0, max: options.poolSize },
      driverOptions: { connection: { application_name: options.applicationName ?? `saga:${options.schema}` } },
      migrations: {
        tableName: `${options.schema}.mikro_orm_migrations`,
        transactional: true,
        allOrNothing: true,
        snapshot: false,
        silent: true,
      },
      debug: false,
      logger: (message) => options.logger.debug({ schema: options.schema }, message),
      // Connecting lazily keeps a task's start short; the first query connects.
      connect: false,
    });
    return new ModuleDatabase(orm, options.schema, options.logger, options.migrations);
  }

  /** The EntityManager of the current transaction, or a fresh fork outside one. */
  em(): EntityManager {
    return (TransactionContext.getEntityManager(this.schema) as EntityManager | undefined) ?? this.orm.em.fork();
  }

  inTransaction(): boolean {
    return TransactionContext.getEntityManager(this.schema) !== undefined;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.inTransaction()) return work();
    const state: TransactionState = { afterCommit: [] };
    const result = await this.txState.run(state, () => this.orm.em.fork().transactional(() => work()));
    for (const callback of state.afterCommit) {
      try {
        callback();
      } catch (error) {
        this.logger.error({ err: error }, 'after-commit callback failed');
      }
    }
    return result;
  }

  /** Runs `callback` once the current transaction commits (never if it rolls back); at once outside a transaction. */
  afterCommit(callback: () => void): void {
    const state = this.inTransaction() ? this.txState.getStore() : undefined;
    if (state) state.afterCommit.push(callback);
    else callback();
  }

  private knex(): Knex {
    return this.orm.em.getConnection().getKnex();
  }

  private raw(sql: string, params: readonly unknown[], trx: Knex.Transaction | undefined): Knex.Raw {
    const raw = this.knex().raw(sql, params as Knex.RawBinding[]);
    return trx ? raw.transacting(trx) : raw;
  }

  /**
   * `sql` with knex's `?` placeholders numbered for `pg` ($1, $2...), or null when it uses what
   * only knex understands (`??` identifiers, `\?` escapes): such statements go through knex.
   */
  private positional(sql: string, count: number): string | null {
    let cached = this.positionalCache.get(sql);
    if (cached === undefined) {
      let n = 0;
      const text = /\\\?|\?\?/.test(sql) ? null : sql.replace(/\?/g, () => `$${++n}`);
      cached = { text, placeholders: n };
      if (this.positionalCache.size < POSITIONAL_CACHE_LIMIT) this.positionalCache.set(sql, cached);
    }
    // A count mismatch goes to knex too, which reports it.
    return cached.placeholders === count ? cached.text : null;
  }

  private async execute(sql: string, params: readonly unknown[]): Promise<QueryResult> {
    const trx = TransactionContext.getEntityManager(this.schema)?.getTransactionContext<Knex.Transaction>();
    const text = this.positional(sql, params.length);
    // knex refuses undefined bindings (pg would send NULL): let it.
    if (text === null || params.includes(undefined)) return (await this.raw(sql, params, trx)) as unknown as QueryResult;
    if (trx) {
      if (trx.isCompleted()) throw new Error('Transaction query already complete, run with DEBUG=knex:tx for more info');
      const connection = await (trx.client as unknown as KnexConnections).acquireConnection();
      return connection.query(text, [...params]);
    }
    const pool = this.knex().client as unknown as KnexConnections;
    const connection = await pool.acquireConnection();
    try {
      return await connection.query(text, [...params]);
    } finally {
      await pool.releaseConnection(connection);
    }
  }

  /** A parameterised statement (`?` placeholders) in the current transaction, if any; returns the rows. */
  async query<T extends object = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    return (await this.execute(sql, params)).rows as T[];
  }

  /** Like `query`, returning the number of rows affected. */
  async exec(sql: string, params: readonly unknown[] = []): Promise<number> {
    return (await this.execute(sql, params)).rowCount ?? 0;
  }

  async migrate(): Promise<void> {
    await (await this.migrator()).up();
  }

  async pendingMigrations(): Promise<string[]> {
    return (await (await this.migrator()).getPendingMigrations()).map((m) => m.name);
  }

  private async migrator() {
    // The migration classes (and @mikro-orm/migrations) load only here, never in a task.
    this.orm.config.get('migrations').migrationsList = [...(await this.loadMigrations())];
    // Registered explicitly: MikroORM's own lookup (a CommonJS require from the working directory)
    // does not find the package from every install layout.
    const { Migrator } = await import('@mikro-orm/migrations');
    Migrator.register(this.orm);
    return this.orm.getMigrator();
  }

  async ping(): Promise<void> {
    await this.knex().raw('select 1');
  }

  async close(): Promise<void> {
    await this.orm.close(true);
  }
}
