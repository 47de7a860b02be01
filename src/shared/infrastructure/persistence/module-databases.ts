import type { EntitySchema, MigrationObject } from '@mikro-orm/core';
import type { Logger } from '../logging/logger.js';
import { ModuleDatabase } from './module-database.js';
import { PostgresDatabase } from './postgres-database.js';

/** A module this process runs: its schema, mappings and migrations. */
export interface HostedSchema {
  readonly module: string;
  readonly schema: string;
  readonly entities: readonly EntitySchema[];
  readonly migrations: () => Promise<readonly MigrationObject[]>;
}

/** A module this process only writes messages to (its inbox) or launches tasks for (its leases). */
export interface ReachedSchema {
  readonly module: string;
  readonly schema: string;
}

/** A schema no module owns, kept by the platform itself (the operator console's sessions) in the process's default database. */
export interface PlatformSchema {
  readonly schema: string;
  readonly migrations: () => Promise<readonly MigrationObject[]>;
}

export interface ModuleDatabasesOptions {
  readonly hosted: readonly HostedSchema[];
  /** The platform's own schemas, in `defaultUrl`'s database. */
  readonly platform?: readonly PlatformSchema[];
  /** DATABASE_URL: where a module without `<MODULE>_DATABASE_URL`, and the platform's own schemas, live. */
  readonly defaultUrl: string;
  /** Every module of the system (from the contracts): what this process writes reaches all of them. */
  readonly reached: readonly ReachedSchema[];
  /** The database of each module (`<MODULE>_DATABASE_URL`, else `DATABASE_URL`). */
  readonly urlOf: (module: string) => string;
  /** Connections to a database where a hosted module lives. */
  readonly poolSize: number;
  /** Connections to a database this process only writes messages to (default 1). */
  readonly reachPoolSize?: number;
  readonly applicationName?: string;
  readonly preparedStatements: boolean;
  readonly logger: Logger;
}

/**
 * The databases of one process: ONE pool per database (ADR 32), shared by every module of the
 * process that lives in it, and one `ModuleDatabase` per module schema: the hosted modules', and
 * those of every other module this process writes messages to (a relay inserts into the
 * consumer's inbox, a launcher holds the consumer's lease), which may live in another database.
 * Pools open their first connection on first use: a database nothing is written to costs nothing.
 */
export class ModuleDatabases {
  private constructor(
    private readonly bySchema: ReadonlyMap<string, ModuleDatabase>,
    private readonly pools: readonly PostgresDatabase[],
  ) {}

  static async open(options: ModuleDatabasesOptions): Promise<ModuleDatabases> {
    const groups = new Map<string, { entities: EntitySchema[]; hosted: boolean }>();
    // The platform's schemas are hosted in the default database: it gets a full pool.
    if ((options.platform ?? []).length > 0) groups.set(options.defaultUrl, { entities: [], hosted: true });
    const hostedModules = new Set(options.hosted.map((h) => h.module));
    for (const m of [...options.hosted, ...options.reached.filter((r) => !hostedModules.has(r.module))]) {
      const url = options.urlOf(m.module);
      const group = groups.get(url) ?? { entities: [], hosted: false };
      if (isHosted(m)) {
        group.entities.push(...m.entities);
        group.hosted = true;
      }
      groups.set(url, group);
    }
    const pools = new Map<string, PostgresDatabase>();
    for (const [url, group] of groups) {
      pools.set(
        url,
        await PostgresDatabase.connect({
          databaseUrl: url,
          poolSize: group.hosted ? options.poolSize : (options.reachPoolSize ?? 1),
          entities: group.entities,
          logger: options.logger,
          ...(options.applicationName ? { applicationName: options.applicationName } : {}),
        }),
      );
    }
    const bySchema = new Map<string, ModuleDatabase>();
    const hostedBySchema = new Map(options.hosted.map((h) => [h.schema, h]));
    for (const m of [...options.hosted, ...options.reached]) {
      if (bySchema.has(m.schema)) continue;
      const hosted = hostedBySchema.get(m.schema);
      bySchema.set(
        m.schema,
        new ModuleDatabase(pools.get(options.urlOf(m.module))!, {
          schema: m.schema,
          entities: hosted?.entities ?? [],
          migrations: hosted?.migrations ?? (async () => []),
          logger: options.logger,
          preparedStatements: options.preparedStatements,
        }),
      );
    }
    for (const p of options.platform ?? []) {
      bySchema.set(
        p.schema,
        new ModuleDatabase(pools.get(options.defaultUrl)!, {
          schema: p.schema,
          migrations: p.migrations,
          logger: options.logger,
          preparedStatements: options.preparedStatements,
        }),
      );
    }
    return new ModuleDatabases(bySchema, [...pools.values()]);
  }

  /** The database handle of a module's schema (hosted or reached), or of one of the platform's own. */
  of(schema: string): ModuleDatabase {
    const db = this.bySchema.get(schema);
    if (!db) throw new Error(`no module of this system has the schema ${schema}`);
    return db;
  }

  /** The distinct databases (pools) of this process. */
  databases(): readonly PostgresDatabase[] {
    return this.pools;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.pools.map((p) => p.close()));
  }
}

function isHosted(m: HostedSchema | ReachedSchema): m is HostedSchema {
  return 'entities' in m;
}
