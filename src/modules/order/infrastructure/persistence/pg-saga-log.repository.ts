import type { ModuleDatabase } from '../../../../shared/infrastructure/persistence/module-database.js';
import { quoteIdent } from '../../../../shared/infrastructure/persistence/sql-identifier.js';
import type { SagaLogPort, SagaStep, SagaStepOutcome } from '../../application/ports/saga-log.port.js';
import { SagaStepSchema } from './order.entity-schema.js';

interface StepRow {
  readonly order_id: string;
  readonly name: string;
  readonly outcome: SagaStepOutcome;
  readonly detail: string | null;
  readonly at: string;
}

/**
 * The saga history: appended with hand-written SQL on the saga's path, read (a user asking how an
 * order got where it is) through MikroORM's mapping (ADR 20).
 */
export class PgSagaLog implements SagaLogPort {
  /** One statement text whatever the number of steps, so it is prepared once per connection. */
  private readonly insertSql: string;

  constructor(private readonly db: ModuleDatabase) {
    this.insertSql = `insert into ${quoteIdent(db.schema)}."saga_steps" (order_id, name, outcome, detail, at)
  select r.order_id, r.name, r.outcome, r.detail, r.at from json_to_recordset(?::json) as r(order_id uuid, name text, outcome text, detail text, at timestamptz)`;
  }

  /**
   * In a transaction, the steps are written with its other buffered rows just before it commits
   * (one statement for every order of a batch); outside one, at once.
   */
  async append(orderId: string, steps: readonly SagaStep[]): Promise<void> {
    if (steps.length === 0) return;
    const rows = steps.map((s) => ({
      order_id: orderId,
      name: s.name,
      outcome: s.outcome,
      detail: s.detail ?? null,
      at: s.at.toISOString(),
    }));
    const sql = this.insertSql;
    if (!this.db.inTransaction()) {
      await this.db.exec(sql, [JSON.stringify(rows)]);
      return;
    }
    const pending = this.db.transactionBuffer<StepRow[]>(
      this,
      () => [],
      (buffered) => (buffered.length > 0 ? { sql, params: [JSON.stringify(buffered)] } : null),
    );
    pending.push(...rows);
  }

  async list(orderId: string): Promise<SagaStep[]> {
    const rows = await this.db.em().find(SagaStepSchema, { orderId }, { orderBy: { seq: 'asc' }, disableIdentityMap: true });
    return rows.map((r) => ({ name: r.name, outcome: r.outcome as SagaStepOutcome, at: r.at, ...(r.detail ? { detail: r.detail } : {}) }));
  }
}
