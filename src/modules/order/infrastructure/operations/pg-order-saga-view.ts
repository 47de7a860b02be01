import type { ModuleDatabase } from '../../../../shared/infrastructure/persistence/module-database.js';
import { quoteIdent } from '../../../../shared/infrastructure/persistence/sql-identifier.js';
import type { SagaSummary, SagaViewPort } from '../../../../shared/infrastructure/operations/saga-view.port.js';

/** Milliseconds since the epoch: one unambiguous number whatever the driver's date parsing. */
const ms = (column: string) => `(extract(epoch from ${column}) * 1000)::float8`;
const date = (value: number | null): Date | null => (value === null ? null : new Date(value));

interface OrderRow {
  customer_id: string;
  status: string;
  rejection_reason: string | null;
  saga_style: string;
  created_ms: number;
  decided_ms: number | null;
}

interface StepRow {
  name: string;
  outcome: string;
  detail: string | null;
  at_ms: number;
}

/**
 * The operator console's view of an order's saga (its id is the order's): the order where it
 * stands and the saga log, from the Order module's own tables. The console adds what every
 * schema's messaging tables hold of it.
 */
export class PgOrderSagaView implements SagaViewPort {
  private readonly orderSql: string;
  private readonly stepsSql: string;

  constructor(private readonly db: ModuleDatabase) {
    const s = quoteIdent(db.schema);
    this.orderSql = `select customer_id::text, status, rejection_reason, saga_style, ${ms('created_at')} as created_ms, ${ms('decided_at')} as decided_ms
      from ${s}."orders" where id = ?`;
    this.stepsSql = `select name, outcome, detail, ${ms('at')} as at_ms from ${s}."saga_steps" where order_id = ? order by seq`;
  }

  async read(sagaId: string): Promise<SagaSummary | null> {
    const [[order], steps] = await Promise.all([
      this.db.query<OrderRow>(this.orderSql, [sagaId]),
      this.db.query<StepRow>(this.stepsSql, [sagaId]),
    ]);
    if (!order) return null;
    return {
      subject: 'order',
      status: order.status,
      statusDetail: order.rejection_reason,
      facts: [
        { label: 'Saga style', value: order.saga_style },
        { label: 'Customer', value: order.customer_id, code: true },
        { label: 'Placed', value: new Date(order.created_ms) },
        { label: 'Decided', value: date(order.decided_ms) },
      ],
      steps: steps.map((r) => ({ name: r.name, outcome: r.outcome, detail: r.detail, at: new Date(r.at_ms) })),
    };
  }
}
