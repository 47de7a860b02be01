import { MikroORM, type EntitySchema } from '@mikro-orm/core';
import { PostgreSqlDriver, type EntityManager, type Knex } from '@mikro-orm/postgresql';
import type { QueryResult, QueryResultRow } from 'pg';
import type { Logger } from '../logging/logger.js';

/**
 * A `pg` connection lent by the pool: the two methods of knex's client that its own query runner
 * uses (from the pool, or a transaction's), called directly to skip knex's per-query compilation.
 */
export interface PgConnection {
  query<R extends QueryResultRow = QueryResultRow>(
    text: string | { readonly name?: string; readonly text: string; readonly values: unknown[] },
    values?: unknown[],
  ): Promise<QueryResult<R>>;
  /** Set by knex when the connection errored or ended: the pool then discards it instead of lending it again. */
  __knex__disposed?: unknown;
}

interface KnexConnections {
  acquireConnection(): Promise<PgConnection>;
  releaseConnection(connection: PgConnection): Promise<unknown>;
}

export interface PostgresDatabaseOptions {
  readonly databaseUrl: string;
  /** Connections of this process to this database, whatever the number of modules that live in it. */
  readonly poolSize: number;
  /** The MikroORM mappings of the modules of this process that live in this database. */
  readonly entities: readonly EntitySchema[];
  readonly logger: Logger;
  /** Marks the connections in pg_stat_activity (default `saga`). */
  readonly applicationName?: string;
}

/**
 * One PostgreSQL database as one process sees it: ONE pool (MikroORM's, through knex), shared by
 * every module of the process that lives there (ADR 32). Connections follow databases, not
 * modules: a process hosting ten modules in one database holds one pool, not ten. Each module
 * reaches it through its `ModuleDatabase` (its schema, its transactions, its migrations).
 *
 * knex attaches an 'error' listener to every client it opens, from its creation (ADR 30), and
 * discards a client that errored instead of lending it again.
 */
export class PostgresDatabase {
  private constructor(
    readonly orm: MikroORM<PostgreSqlDriver>,
    /** The URL, for migrators and for grouping modules by database; never logged as is (it may hold a password). */
    readonly url: string,
    readonly applicationName: string,
  ) {}

  static async connect(options: PostgresDatabaseOptions): Promise<PostgresDatabase> {
    const applicationName = options.applicationName ?? 'saga';
    const orm = await MikroORM.init<PostgreSqlDriver>({
      driver: PostgreSqlDriver,
      clientUrl: options.databaseUrl,
      entities: [...options.entities],
      discovery: { warnWhenNoEntities: false },
      allowGlobalContext: false,
      pool: { min: 0, max: options.poolSize },
      driverOptions: { connection: { application_name: applicationName } },
      debug: false,
      logger: (message) => options.logger.debug({ database: applicationName }, message),
      // Connecting lazily keeps a task's start short; the first query connects.
      connect: false,
    });
    return new PostgresDatabase(orm, options.databaseUrl, applicationName);
  }

  knex(): Knex {
    return this.orm.em.getConnection().getKnex();
  }

  connections(): KnexConnections {
    return this.knex().client as unknown as KnexConnections;
  }

  /** A fresh EntityManager whose default schema is `schema`, for the ORM-mapped reads. */
  em(schema: string): EntityManager {
    return this.orm.em.fork({ schema });
  }

  /**
   * One statement on a pooled connection, in `pg`'s own terms (`$n` placeholders, its result):
   * for code written against `pg` (the ECS launcher), which shares the module pools this way
   * instead of holding a pool of its own.
   */
  async pgQuery<R extends QueryResultRow = QueryResultRow>(text: string, values: unknown[] = []): Promise<QueryResult<R>> {
    const pool = this.connections();
    const connection = await pool.acquireConnection();
    try {
      return await connection.query<R>(text, values);
    } finally {
      await pool.releaseConnection(connection);
    }
  }

  /**
   * `work` in a transaction on one pooled connection, in `pg`'s terms: BEGIN, then COMMIT when it
   * returns, ROLLBACK when it throws. A connection whose transaction failed is not lent again:
   * PostgreSQL sends a FATAL error before it closes the socket, and a connection released in
   * between would look healthy to the next borrower (ADR 30).
   */
  async pgTransaction<T>(work: (connection: PgConnection) => Promise<T>): Promise<T> {
    const pool = this.connections();
    const connection = await pool.acquireConnection();
    try {
      await connection.query('begin');
      const result = await work(connection);
      await connection.query('commit');
      return result;
    } catch (error) {
      await connection.query('rollback').catch(() => undefined);
      connection.__knex__disposed ??= error;
      throw error;
    } finally {
      await pool.releaseConnection(connection);
    }
  }

  async ping(): Promise<void> {
    await this.knex().raw('select 1');
  }

  async close(): Promise<void> {
    await this.orm.close(true);
  }
}
