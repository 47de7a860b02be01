import pg from 'pg';
import { loadConfig } from '../../src/shared/infrastructure/config/config.js';
import { createMonolith } from '../../src/entrypoints/composition/monolith.js';
import { createLogger } from '../../src/shared/infrastructure/logging/logger.js';
import { MemoryTransport } from '../../src/shared/infrastructure/messaging/memory-transport.js';
import { databaseUrl, dropDatabase, ensureDatabase } from '../../src/dev/provisioning/database.js';

/**
 * The bench's databases on one server: a migrated template, then one clone per system run
 * (so each adapter and style starts from empty tables), all dropped at the end.
 */
export class BenchDatabases {
  private readonly created: string[] = [];
  private clones = 0;

  constructor(
    readonly serverUrl: string,
    readonly runId: string,
  ) {}

  get templateName(): string {
    return `saga_bench_${this.runId}`;
  }

  async createTemplate(): Promise<string> {
    const { databaseUrl: url } = await ensureDatabase(this.serverUrl, this.templateName);
    this.created.push(this.templateName);
    const config = loadConfig({ ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn' });
    const logger = createLogger({ level: 'warn', name: 'bench-setup' });
    const runtime = await createMonolith({ config, logger, databaseUrl: url, transport: new MemoryTransport(logger) });
    try {
      await runtime.migrate();
    } finally {
      await runtime.close();
    }
    return url;
  }

  /** A fresh, migrated, empty database. */
  async clone(label: string): Promise<string> {
    const name = `${this.templateName}_${label}_${++this.clones}`;
    const client = new pg.Client({ connectionString: databaseUrl(this.serverUrl, 'postgres') });
    await client.connect();
    try {
      await client.query(`create database "${name}" template "${this.templateName}"`);
    } finally {
      await client.end();
    }
    this.created.push(name);
    return databaseUrl(this.serverUrl, name);
  }

  /** A fresh, empty database (for a module the system migrates into a database of its own). */
  async empty(label: string): Promise<string> {
    const name = `${this.templateName}_${label}_${++this.clones}`;
    const { databaseUrl: url } = await ensureDatabase(this.serverUrl, name);
    this.created.push(name);
    return url;
  }

  async dropAll(): Promise<void> {
    // Clones first: a template cannot be dropped while a clone is being made from it.
    for (const name of [...this.created].reverse()) {
      await dropDatabase(this.serverUrl, name).catch((error: unknown) =>
        process.stderr.write(`bench: could not drop ${name}: ${String(error)}\n`),
      );
    }
    this.created.length = 0;
  }
}

/**
 * The driver's read-only view of a system's databases: one pool per database, each schema read in
 * the database it lives in (a module moved out with `<MODULE>_DATABASE_URL` lives in its own).
 */
export class BenchDb {
  private constructor(
    private readonly bySchema: ReadonlyMap<string, pg.Pool>,
    /** Every distinct pool with its database's name. */
    readonly pools: ReadonlyArray<{ readonly name: string; readonly pool: pg.Pool }>,
  ) {}

  /** `urls`: the default database's, and `schema → url` for those elsewhere. */
  static open(defaultUrl: string, elsewhere: ReadonlyMap<string, string>, schemas: readonly string[]): BenchDb {
    const pools = new Map<string, pg.Pool>();
    const poolOf = (url: string) => {
      let pool = pools.get(url);
      if (!pool) {
        pool = new pg.Pool({ connectionString: url, max: 2, application_name: 'bench:driver' });
        pool.on('error', () => undefined);
        pools.set(url, pool);
      }
      return pool;
    };
    const bySchema = new Map(schemas.map((s) => [s, poolOf(elsewhere.get(s) ?? defaultUrl)]));
    return new BenchDb(
      bySchema,
      [...pools].map(([url, pool]) => ({ name: decodeURIComponent(new URL(url).pathname.slice(1)), pool })),
    );
  }

  of(schema: string): pg.Pool {
    const pool = this.bySchema.get(schema);
    if (!pool) throw new Error(`bench: no database for schema ${schema}`);
    return pool;
  }

  async end(): Promise<void> {
    await Promise.all(this.pools.map((p) => p.pool.end()));
  }
}

/** Drops `schemas` (with everything in them) from the database at `url`. */
export async function dropSchemas(url: string, schemas: readonly string[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const schema of schemas) await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
}
