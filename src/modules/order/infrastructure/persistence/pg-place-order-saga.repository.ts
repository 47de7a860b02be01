import { ConcurrencyError } from '../../../../shared/kernel/index.js';
import type { ModuleDatabase } from '../../../../shared/infrastructure/persistence/module-database.js';
import { quoteIdent } from '../../../../shared/infrastructure/persistence/sql-identifier.js';
import type { PlaceOrderSagaRepositoryPort } from '../../application/ports/saga.repository.port.js';
import { PlaceOrderSaga, type PlaceOrderSagaState } from '../../domain/place-order-saga.js';

interface NewSagaRow {
  readonly id: string;
  readonly state: string;
  readonly deadline_at: string;
  readonly definition_version: number;
  readonly at: string;
}

/** The orchestrator's state (orchestration style), with hand-written SQL like `PgOrderRepository` (ADR 20). */
export class PgPlaceOrderSagaRepository implements PlaceOrderSagaRepositoryPort {
  private readonly insertSql: string;
  private readonly selectSql: string;
  private readonly updateSql: string;
  private readonly overdueSql: string;

  constructor(private readonly db: ModuleDatabase) {
    const sagas = `${quoteIdent(db.schema)}."saga_instances"`;
    this.insertSql = `insert into ${sagas} (id, type, state, deadline_at, version, definition_version, created_at, updated_at)
  select r.id, 'place-order', r.state, r.deadline_at, 1, r.definition_version, r.at, r.at
  from json_to_recordset(?::json) as r(id uuid, state text, deadline_at timestamptz, definition_version int, at timestamptz)`;
    this.selectSql = `select id, state, deadline_at as "deadlineAt", version, definition_version as "definitionVersion" from ${sagas} where id = ?`;
    // Every field of the snapshot, guarded by the version it was loaded at.
    this.updateSql = `update ${sagas} set state = ?, deadline_at = ?, version = ?, updated_at = ? where id = ? and version = ?`;
    this.overdueSql = `select id from ${sagas}
       where state = 'AWAITING_CREDIT' and deadline_at <= ?
       order by deadline_at limit ?`;
  }

  /** Like `PgOrderRepository.add`: in a transaction, written with its other buffered rows just before the commit. */
  async add(saga: PlaceOrderSaga): Promise<void> {
    const row: NewSagaRow = {
      id: saga.id,
      state: saga.state,
      deadline_at: saga.deadlineAt.toISOString(),
      definition_version: saga.definition.version,
      at: new Date().toISOString(),
    };
    const sql = this.insertSql;
    if (this.db.inTransaction())
      this.db
        .transactionBuffer<NewSagaRow[]>(
          this,
          () => [],
          (rows) => (rows.length > 0 ? { sql, params: [JSON.stringify(rows)] } : null),
        )
        .push(row);
    else await this.db.exec(sql, [JSON.stringify([row])]);
  }

  async findById(id: string): Promise<PlaceOrderSaga | null> {
    const [row] = await this.db.query<{ id: string; state: string; deadlineAt: string; version: number; definitionVersion: number }>(
      this.selectSql,
      [id],
    );
    return row
      ? PlaceOrderSaga.rehydrate({
          id: row.id,
          state: row.state as PlaceOrderSagaState,
          deadlineAt: new Date(row.deadlineAt),
          version: row.version,
          definitionVersion: row.definitionVersion,
        })
      : null;
  }

  async save(saga: PlaceOrderSaga): Promise<void> {
    const s = saga.snapshot();
    const updated = await this.db.exec(this.updateSql, [s.state, s.deadlineAt, s.version + 1, new Date(), s.id, s.version]);
    if (updated !== 1) throw new ConcurrencyError('place-order saga', s.id);
  }

  async findOverdue(now: Date, limit: number): Promise<string[]> {
    const rows = await this.db.query<{ id: string }>(this.overdueSql, [now, limit]);
    return rows.map((r) => r.id);
  }
}
