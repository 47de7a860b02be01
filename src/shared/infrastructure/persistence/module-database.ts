// Over 300 lines on purpose: one class, the module's transaction boundary (MikroORM, the pool, the
// transaction in async context, migrations, outage classification); its parts share the one connection state.
import { AsyncLocalStorage } from 'node:async_hooks';
import { MikroORM, type EntitySchema, type MigrationObject } from '@mikro-orm/core';
import { PostgreSqlDriver, type EntityManager, type Knex } from '@mikro-orm/postgresql';
import type { QueryResult } from 'pg';
import type { TransactionPort } from '../../kernel/index.js';
import type { Logger } from '../logging/logger.js';
import { PostgresDatabase, type PgConnection } from './postgres-database.js';

const POSITIONAL_CACHE_LIMIT = 1_000;

export interface ModuleSchemaOptions {
  /** The module's PostgreSQL schema, e.g. `billing`. */
  readonly schema: string;
  /** The module's own mappings (only to migrate: the shared pool's ORM holds every hosted module's). */
  readonly entities?: readonly EntitySchema[];
  readonly migrations: () => Promise<readonly MigrationObject[]>;
  readonly logger: Logger;
  /**
   * Send the application's statements as named (prepared) statements: parsed and planned once per
   * connection. Off behind a pooler that moves sessions between server connections without
   * tracking prepared statements (PgBouncer in transaction mode before 1.21).
   */
  readonly preparedStatements?: boolean;
}

export interface ModuleDatabaseOptions extends ModuleSchemaOptions {
  readonly entities: readonly EntitySchema[];
  readonly databaseUrl: string;
  readonly poolSize: number;
  readonly applicationName?: string;
}

/** What a transaction buffer writes at the end of its transaction: a data-modifying statement (`?` placeholders). */
export interface BufferedStatement {
  readonly sql: string;
  readonly params: readonly unknown[];
}

/** A statement as sent to `pg`: numbered placeholders and, once cached, the name it is prepared under. */
interface PositionalStatement {
  readonly text: string | null;
  readonly placeholders: number;
  readonly name?: string;
}

interface TransactionState {
  /** The pooled connection the transaction runs on, from BEGIN to COMMIT/ROLLBACK. */
  readonly connection: PgConnection;
  /** BEGIN, sent before the transaction's first statement (not before: see `run`). */
  begun: Promise<unknown> | undefined;
  /** Set once COMMIT or ROLLBACK was sent: a statement issued later (a stray promise) must fail, not run outside the transaction. */
  ended: boolean;
  /** Set when the buffers are turned into their statement: a row buffered later would never be written. */
  flushing: boolean;
  readonly afterCommit: Array<() => void>;
  /** Per-transaction buffers (e.g. the outbox rows), written once just before the commit. */
  readonly buffers: Map<object, { readonly value: unknown; readonly toStatement: (value: never) => BufferedStatement | null }>;
}

/**
 * A module's schema in its database: its unit of work (`run` starts a transaction or joins the
 * current one; repositories, the outbox and the inbox all write through it), its migrations, its
 * mapped reads. The connections are its database's pool (`PostgresDatabase`), shared with the
 * other modules of the process that live in the same database (ADR 32); a process holds one
 * `ModuleDatabase` per schema, so the prepared statements named after the schema never collide.
 */
export class ModuleDatabase implements TransactionPort {
  private readonly txState = new AsyncLocalStorage<TransactionState>();
  private readonly positionalCache = new Map<string, PositionalStatement>();

  constructor(
    readonly database: PostgresDatabase,
    private readonly options: ModuleSchemaOptions,
    /** Whether closing this module closes its database (a database of its own, see `connect`). */
    private readonly ownsDatabase = false,
  ) {}

  get schema(): string {
    return this.options.schema;
  }

  private get logger(): Logger {
    return this.options.logger;
  }

  /** A module with a pool of its own: for tools and tests that reach one schema alone. */
  static async connect(options: ModuleDatabaseOptions): Promise<ModuleDatabase> {
    const database = await PostgresDatabase.connect({
      databaseUrl: options.databaseUrl,
      poolSize: options.poolSize,
      entities: options.entities,
      logger: options.logger,
      applicationName: options.applicationName ?? `saga:${options.schema}`,
    });
    return new ModuleDatabase(database, options, true);
  }

  /**
   * A fresh EntityManager on this schema, for the ORM-mapped reads (lists). It never joins the
   * current transaction: every write, and every read a transaction depends on, goes through
   * `query`/`exec`.
   */
  em(): EntityManager {
    return this.database.em(this.schema);
  }

  inTransaction(): boolean {
    const state = this.txState.getStore();
    return state !== undefined && !state.ended;
  }

  /**
   * Runs `work` in a transaction, or inside the current one. The transaction is a connection of
   * MikroORM's pool held from BEGIN to COMMIT, with the statements sent straight to `pg`: measured
   * here, MikroORM's `em.transactional` (unit of work, knex transaction) cost more CPU per
   * transaction than the three statements a saga step runs in it, and nothing in a transaction
   * uses the unit of work (ADR 13). Buffers are flushed before the COMMIT; after-commit callbacks
   * run once it succeeded; any error rolls everything back and is rethrown.
   *
   * BEGIN is sent with the first statement, not before: a transaction whose work only buffers rows
   * (placing an order: the order, its outbox message and its saga step) sends their one combined
   * statement alone, which PostgreSQL runs atomically by itself: one round trip instead of four.
   */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.inTransaction()) return work();
    const pool = this.connections();
    const connection = await pool.acquireConnection();
    const state: TransactionState = { connection, begun: undefined, ended: false, flushing: false, afterCommit: [], buffers: new Map() };
    let result: T;
    try {
      result = await this.txState.run(state, async () => {
        const value = await work();
        // Inside the transaction: a buffer that fails to flush rolls everything back.
        const flush = this.bufferedStatement(state);
        if (flush && state.begun) await this.exec(flush.sql, flush.params);
        else if (flush) {
          state.ended = true;
          await this.send(connection, flush.sql, flush.params);
        }
        return value;
      });
      state.ended = true;
      if (state.begun) {
        // COMMIT of a transaction in which a statement failed (its error caught by the work) is a
        // ROLLBACK without an error: never report it as committed.
        const commit = await connection.query('commit');
        if (commit.command !== 'COMMIT')
          throw new Error(`the transaction was rolled back at COMMIT (${commit.command}): a statement in it had failed`);
      }
    } catch (error) {
      state.ended = true;
      try {
        if (state.begun) await connection.query('rollback');
      } catch {
        // The connection is broken (or the COMMIT failed with it): never lend it again.
        connection.__knex__disposed ??= error;
      }
      throw error;
    } finally {
      await pool.releaseConnection(connection);
    }
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
    const state = this.txState.getStore();
    if (state && !state.ended) state.afterCommit.push(callback);
    else callback();
  }

  /**
   * This transaction's value for `key`, created on first use; `toStatement` turns it into the
   * statement that writes it, once, inside the transaction, after the work and before the commit.
   * Lets writers that are called once per message (the outbox, the saga log) send one statement
   * per transaction instead of one per call, which is what a transaction handling several
   * deliveries needs; the statements of all buffers go in one round trip.
   */
  transactionBuffer<T>(key: object, create: () => T, toStatement: (value: T) => BufferedStatement | null): T {
    const state = this.txState.getStore();
    if (!state || state.ended) throw new Error('transactionBuffer must be used inside a transaction (run)');
    if (state.flushing) throw new Error('a row was buffered after its transaction wrote its buffers (a stray promise in the transaction)');
    const existing = state.buffers.get(key);
    if (existing) return existing.value as T;
    const value = create();
    state.buffers.set(key, { value, toStatement: toStatement as (value: never) => BufferedStatement | null });
    return value;
  }

  /** One statement for every buffer (each buffer's statement a data-modifying CTE of it), or null when nothing is buffered. */
  private bufferedStatement(state: TransactionState): BufferedStatement | null {
    state.flushing = true;
    const statements: BufferedStatement[] = [];
    for (const buffer of state.buffers.values()) {
      const statement = buffer.toStatement(buffer.value as never);
      if (statement) statements.push(statement);
    }
    state.buffers.clear();
    if (statements.length <= 1) return statements[0] ?? null;
    return {
      sql: `with ${statements.map((s, i) => `flush_${i} as (${s.sql})`).join(', ')} select 1`,
      params: statements.flatMap((s) => s.params),
    };
  }

  private knex(): Knex {
    return this.database.knex();
  }

  private connections() {
    return this.database.connections();
  }

  /**
   * `sql` with knex's `?` placeholders numbered for `pg` ($1, $2...), or null when it uses what
   * only knex understands (`??` identifiers, `\?` escapes): such statements go through knex.
   * A cached statement is also named, so each connection prepares it once and PostgreSQL skips
   * parsing and planning it again (the application's statements are a fixed, small set; the
   * cache bound keeps ad-hoc ones unnamed).
   */
  private positional(sql: string, count: number): PositionalStatement | null {
    let cached = this.positionalCache.get(sql);
    if (cached === undefined) {
      let n = 0;
      const text = /\\\?|\?\?/.test(sql) ? null : sql.replace(/\?/g, () => `$${++n}`);
      const cacheable = this.positionalCache.size < POSITIONAL_CACHE_LIMIT;
      cached =
        cacheable && text !== null && (this.options.preparedStatements ?? true)
          ? { text, placeholders: n, name: `${this.schema}_${this.positionalCache.size + 1}` }
          : { text, placeholders: n };
      if (cacheable) this.positionalCache.set(sql, cached);
    }
    // A count mismatch goes to knex too, which reports it.
    return cached.placeholders === count && cached.text !== null ? cached : null;
  }

  private async execute(sql: string, params: readonly unknown[]): Promise<QueryResult> {
    try {
      return await this.executeOn(sql, params);
    } catch (error) {
      // Which statement lost a deadlock (or a serialization failure) is what its report needs.
      if (typeof error === 'object' && error !== null && ['40P01', '40001'].includes(String((error as { code?: unknown }).code))) {
        Object.assign(error, { statement: sql.slice(0, 1000) });
      }
      throw error;
    }
  }

  private async executeOn(sql: string, params: readonly unknown[]): Promise<QueryResult> {
    const state = this.txState.getStore();
    if (state) {
      if (state.ended) throw new Error('Transaction query already complete: a statement was issued after its transaction ended');
      // Concurrent statements of one transaction share the one BEGIN.
      await (state.begun ??= state.connection.query('begin'));
      if (state.ended) throw new Error('Transaction query already complete: a statement was issued after its transaction ended');
      return this.send(state.connection, sql, params);
    }
    const pool = this.connections();
    const connection = await pool.acquireConnection();
    try {
      return await this.send(connection, sql, params);
    } finally {
      await pool.releaseConnection(connection);
    }
  }

  /** Sends one statement on `connection`: prepared and positional when it can, through knex otherwise. */
  private async send(connection: PgConnection, sql: string, params: readonly unknown[]): Promise<QueryResult> {
    const statement = this.positional(sql, params.length);
    if (statement === null || params.includes(undefined)) {
      // knex refuses undefined bindings (pg would send NULL) and compiles `??`: let it.
      return (await this.knex()
        .raw(sql, params as Knex.RawBinding[])
        .connection(connection)) as unknown as QueryResult;
    }
    return connection.query({ ...(statement.name ? { name: statement.name } : {}), text: statement.text!, values: [...params] });
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
    await this.withMigrator((migrator) => migrator.up());
  }

  async pendingMigrations(): Promise<string[]> {
    return this.withMigrator(async (migrator) => (await migrator.getPendingMigrations()).map((m) => m.name));
  }

  /**
   * The module's migrator, on an ORM of its own for the time it takes (one connection): its
   * migrations table is `<schema>.mikro_orm_migrations`, its default schema the module's, whatever
   * the shared pool's ORM holds. The migration classes (and @mikro-orm/migrations) load only here,
   * never in a task.
   */
  private async withMigrator<T>(work: (migrator: ReturnType<MikroORM['getMigrator']>) => Promise<T>): Promise<T> {
    const orm = await MikroORM.init<PostgreSqlDriver>({
      driver: PostgreSqlDriver,
      clientUrl: this.database.url,
      schema: this.schema,
      contextName: `${this.schema}-migrations`,
      entities: [...(this.options.entities ?? [])],
      discovery: { warnWhenNoEntities: false },
      allowGlobalContext: false,
      pool: { min: 0, max: 1 },
      driverOptions: { connection: { application_name: `${this.database.applicationName}:migrate` } },
      migrations: {
        tableName: `${this.schema}.mikro_orm_migrations`,
        transactional: true,
        allOrNothing: true,
        snapshot: false,
        silent: true,
        migrationsList: [...(await this.options.migrations())],
      },
      debug: false,
      logger: (message) => this.logger.debug({ schema: this.schema }, message),
      connect: false,
    });
    try {
      // Registered explicitly: MikroORM's own lookup (a CommonJS require from the working directory)
      // does not find the package from every install layout.
      const { Migrator } = await import('@mikro-orm/migrations');
      Migrator.register(orm);
      return await work(orm.getMigrator());
    } finally {
      await orm.close(true);
    }
  }

  async ping(): Promise<void> {
    await this.database.ping();
  }

  /** Closes the pool when it is this module's own; a shared database is closed by whoever opened it. */
  async close(): Promise<void> {
    if (this.ownsDatabase) await this.database.close();
  }
}
