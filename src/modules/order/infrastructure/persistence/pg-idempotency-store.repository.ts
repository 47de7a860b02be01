import type { ModuleDatabase } from '../../../../shared/infrastructure/persistence/module-database.js';
import { quoteIdent } from '../../../../shared/infrastructure/persistence/sql-identifier.js';
import type { IdempotencyRecord, IdempotencyStorePort } from '../../application/ports/idempotency.port.js';

/** The `Idempotency-Key`s of POST /orders, with hand-written SQL (ADR 20): an upsert and a purge the ORM has no words for. */
export class PgIdempotencyStore implements IdempotencyStorePort {
  private readonly selectSql: string;
  private readonly insertSql: string;
  private readonly purgeSql: string;

  constructor(private readonly db: ModuleDatabase) {
    const keys = `${quoteIdent(db.schema)}."idempotency_keys"`;
    this.selectSql = `select key, request_hash as "requestHash", order_id as "orderId" from ${keys} where key = ?`;
    this.insertSql = `insert into ${keys} (key, request_hash, order_id, created_at) values (?, ?, ?, now())
       on conflict (key) do nothing returning key`;
    this.purgeSql = `delete from ${keys} where created_at < now() - (? * interval '1 millisecond')`;
  }

  async find(key: string): Promise<IdempotencyRecord | null> {
    const [row] = await this.db.query<IdempotencyRecord>(this.selectSql, [key]);
    return row ? { key: row.key, requestHash: row.requestHash, orderId: row.orderId } : null;
  }

  async save(record: IdempotencyRecord): Promise<boolean> {
    const rows = await this.db.query(this.insertSql, [record.key, record.requestHash, record.orderId]);
    return rows.length === 1;
  }

  async purgeOlderThan(olderThanMs: number): Promise<number> {
    return this.db.exec(this.purgeSql, [olderThanMs]);
  }
}
