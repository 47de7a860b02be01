import type pg from 'pg';
import type { ModuleInbox } from '../../../shared/contract/routing.js';
import type { ModuleConsistency } from '../../../shared/infrastructure/operations/consistency-check.js';
import { pgTypes } from '../../../shared/infrastructure/persistence/pg-connections.js';

/** A module as the checks see it: its schema and routes (its contract's inbox) and the invariants it declares. */
export interface CheckedModule {
  readonly name: string;
  readonly inbox: ModuleInbox;
  readonly consistency?: ModuleConsistency;
}

/** One database and the modules whose schemas it holds: read in one snapshot of its own. */
export interface CheckedDatabase {
  readonly client: pg.ClientBase;
  readonly modules: readonly CheckedModule[];
}

/** bigint columns as numbers while they are exact, as strings beyond (never silently rounded). */
const INT8_OID = 20;
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid !== INT8_OID) return pgTypes.getTypeParser(oid, format);
    return (value: string) => {
      const n = Number(value);
      return Number.isSafeInteger(n) ? n : value;
    };
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** `?` placeholders numbered for pg, as ModuleDatabase numbers them (the checks' SQL uses no `?` operator). */
function positional(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/**
 * A read-only, repeatable-read snapshot of one database, taken when it opens: every read of the
 * check sees the same moment, so a message moving from an outbox to an inbox of this database is
 * seen in exactly one place.
 */
export class Snapshot {
  private constructor(
    readonly database: CheckedDatabase,
    /** The database's clock when the snapshot was taken. */
    readonly takenAt: Date,
  ) {}

  static async open(database: CheckedDatabase): Promise<Snapshot> {
    const { client } = database;
    await client.query('begin isolation level repeatable read read only');
    try {
      // An operator tool must never hold locks or a snapshot for long on a production database.
      await client.query("set local statement_timeout = '60s'");
      // A repeatable-read snapshot is taken by the transaction's first query: this one.
      const { rows } = await client.query<{ at: Date }>('select clock_timestamp() as at');
      return new Snapshot(database, rows[0]!.at);
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      throw error;
    }
  }

  /** A read in the snapshot, `?` placeholders. */
  async query<T extends object = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    return (await this.database.client.query<T>({ text: positional(sql), values: [...params], types })).rows;
  }

  /** The offending rows of a check's query: their count, and the first `limit` of them. */
  async offending(sql: string, params: readonly unknown[], limit: number): Promise<{ count: number; sample: Record<string, unknown>[] }> {
    const rows = await this.query<Record<string, unknown>>(`select q.*, count(*) over () as "__total" from (${sql}) q limit ?`, [
      ...params,
      limit,
    ]);
    return { count: Number(rows[0]?.['__total'] ?? 0), sample: rows.map(({ __total: _total, ...row }) => row) };
  }

  async close(): Promise<void> {
    await this.database.client.query('rollback').catch(() => undefined);
  }
}
