import { ConcurrencyError, Money } from '../../../../shared/kernel/index.js';
import type { ModuleDatabase } from '../../../../shared/infrastructure/persistence/module-database.js';
import { quoteIdent } from '../../../../shared/infrastructure/persistence/sql-identifier.js';
import type { OrderPage, OrderRepositoryPort } from '../../application/ports/order.repository.port.js';
import { Order, type RejectionReason } from '../../domain/order.aggregate.js';
import { OrderSchema, type OrderRow } from './order.entity-schema.js';

/**
 * A row as MikroORM maps it, or as a plain statement returns it: the ORM's pg settings leave
 * timestamps as text and bigints as strings, which only the ORM's own mapping converts.
 */
type OrderRecord = Omit<OrderRow, 'totalAmount' | 'deadlineAt' | 'createdAt' | 'decidedAt' | 'updatedAt'> & {
  totalAmount: number | string;
  deadlineAt: Date | string;
  createdAt: Date | string;
  decidedAt: Date | string | null;
  updatedAt: Date | string;
};

function toOrder(row: OrderRecord): Order {
  return Order.rehydrate({
    id: row.id,
    customerId: row.customerId,
    total: Money.of(Number(row.totalAmount), row.currency),
    status: row.status,
    rejectionReason: row.rejectionReason as RejectionReason | null,
    sagaStyle: row.sagaStyle,
    deadlineAt: new Date(row.deadlineAt),
    createdAt: new Date(row.createdAt),
    decidedAt: row.decidedAt === null ? null : new Date(row.decidedAt),
    version: row.version,
  });
}

/** The orders table's columns as `OrderRow` names: hot paths read rows with one plain statement. */
const ORDER_COLUMNS = `id, customer_id as "customerId", total_amount as "totalAmount", currency, status, rejection_reason as "rejectionReason",
  saga_style as "sagaStyle", deadline_at as "deadlineAt", created_at as "createdAt", decided_at as "decidedAt", updated_at as "updatedAt", version`;

interface NewOrderRow {
  readonly id: string;
  readonly customer_id: string;
  readonly total_amount: number;
  readonly currency: string;
  readonly status: string;
  readonly rejection_reason: string | null;
  readonly saga_style: string;
  readonly deadline_at: string;
  readonly created_at: string;
  readonly decided_at: string | null;
}

/**
 * Orders in the module's schema, with hand-written SQL (ADR 20): saga steps run through here
 * several times per order, so reads, inserts and conditional updates are single parameterised
 * statements in the caller's transaction: no query building, no unit of work, one round trip
 * each. `list` (not on a saga's path) keeps MikroORM's mapped read.
 */
export class PgOrderRepository implements OrderRepositoryPort {
  private readonly insertSql: string;
  private readonly selectSql: string;
  private readonly selectForUpdateSql: string;
  private readonly updateSql: string;
  private readonly overdueSql: string;

  constructor(private readonly db: ModuleDatabase) {
    const orders = `${quoteIdent(db.schema)}."orders"`;
    this.insertSql = `insert into ${orders}
    (id, customer_id, total_amount, currency, status, rejection_reason, saga_style, deadline_at, created_at, decided_at, updated_at, version)
  select r.id, r.customer_id, r.total_amount, r.currency, r.status, r.rejection_reason, r.saga_style, r.deadline_at, r.created_at, r.decided_at, r.created_at, 1
  from json_to_recordset(?::json) as r(id uuid, customer_id uuid, total_amount bigint, currency text, status text, rejection_reason text,
    saga_style text, deadline_at timestamptz, created_at timestamptz, decided_at timestamptz)`;
    this.selectSql = `select ${ORDER_COLUMNS} from ${orders} where id = ?`;
    this.selectForUpdateSql = `select ${ORDER_COLUMNS} from ${orders} where id = ? for update`;
    // Every field of the snapshot: a column left out here would be a change silently dropped.
    this.updateSql = `update ${orders} set customer_id = ?, total_amount = ?, currency = ?, status = ?, rejection_reason = ?, saga_style = ?,
  deadline_at = ?, created_at = ?, decided_at = ?, updated_at = ?, version = ? where id = ? and version = ?`;
    this.overdueSql = `select id from ${orders}
       where status = 'PENDING' and saga_style = 'choreography' and deadline_at <= ?
       order by deadline_at limit ?`;
  }

  /**
   * In a transaction, a new order is written with the transaction's other buffered rows (its
   * outbox message, its saga step) in one statement just before the commit, so it cannot be read
   * back in the transaction that adds it; outside one, at once.
   */
  async add(order: Order): Promise<void> {
    const s = order.snapshot();
    const row: NewOrderRow = {
      id: s.id,
      customer_id: s.customerId,
      total_amount: s.total.amount,
      currency: s.total.currency,
      status: s.status,
      rejection_reason: s.rejectionReason,
      saga_style: s.sagaStyle,
      deadline_at: s.deadlineAt.toISOString(),
      created_at: s.createdAt.toISOString(),
      decided_at: s.decidedAt?.toISOString() ?? null,
    };
    const sql = this.insertSql;
    if (this.db.inTransaction())
      this.db
        .transactionBuffer<NewOrderRow[]>(
          this,
          () => [],
          (rows) => (rows.length > 0 ? { sql, params: [JSON.stringify(rows)] } : null),
        )
        .push(row);
    else await this.db.exec(sql, [JSON.stringify([row])]);
    order.markPersisted(1);
  }

  async findById(id: string): Promise<Order | null> {
    const [row] = await this.db.query<OrderRecord>(this.selectSql, [id]);
    return row ? toOrder(row) : null;
  }

  async findByIdForUpdate(id: string): Promise<Order | null> {
    const [row] = await this.db.query<OrderRecord>(this.selectForUpdateSql, [id]);
    return row ? toOrder(row) : null;
  }

  async save(order: Order): Promise<void> {
    const s = order.snapshot();
    const next = s.version + 1;
    const updated = await this.db.exec(this.updateSql, [
      s.customerId,
      s.total.amount,
      s.total.currency,
      s.status,
      s.rejectionReason,
      s.sagaStyle,
      s.deadlineAt,
      s.createdAt,
      s.decidedAt,
      new Date(),
      next,
      s.id,
      s.version,
    ]);
    if (updated !== 1) throw new ConcurrencyError('order', s.id);
    order.markPersisted(next);
  }

  async findOverdue(now: Date, limit: number): Promise<string[]> {
    const rows = await this.db.query<{ id: string }>(this.overdueSql, [now, limit]);
    return rows.map((r) => r.id);
  }

  async list(filter: { customerId?: string; beforeId?: string; limit: number }): Promise<OrderPage> {
    const where: Record<string, unknown> = {};
    if (filter.customerId) where['customerId'] = filter.customerId;
    if (filter.beforeId) where['id'] = { $lt: filter.beforeId };
    const rows = await this.db
      .em()
      .find(OrderSchema, where, { orderBy: { id: 'desc' }, limit: filter.limit + 1, disableIdentityMap: true });
    return { orders: rows.slice(0, filter.limit).map(toOrder), hasMore: rows.length > filter.limit };
  }
}
