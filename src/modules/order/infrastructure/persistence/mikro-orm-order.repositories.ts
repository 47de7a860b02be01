import { ConcurrencyError, Money } from '../../../../shared/kernel/index.js';
import type { ModuleDatabase } from '../../../../shared/infrastructure/persistence/module-database.js';
import type { IdempotencyRecord, IdempotencyStorePort } from '../../application/ports/idempotency.port.js';
import type { OrderPage, OrderRepositoryPort } from '../../application/ports/order.repository.port.js';
import type { SagaLogPort, SagaStep, SagaStepOutcome } from '../../application/ports/saga-log.port.js';
import type { PlaceOrderSagaRepositoryPort } from '../../application/ports/saga.repository.port.js';
import { Order, type RejectionReason } from '../../domain/order.aggregate.js';
import { PlaceOrderSaga, type PlaceOrderSagaState } from '../../domain/place-order-saga.js';
import { OrderSchema, SagaStepSchema, type OrderRow } from './order.entity-schema.js';

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

/**
 * Saga steps run through here several times per order, so reads, inserts and conditional
 * updates are single parameterised statements in the caller's transaction: no query building,
 * no unit of work, one round trip each. `list` (not on a saga's path) keeps MikroORM's builder.
 */
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

const INSERT_ORDERS = `insert into "ordering"."orders"
    (id, customer_id, total_amount, currency, status, rejection_reason, saga_style, deadline_at, created_at, decided_at, updated_at, version)
  select r.id, r.customer_id, r.total_amount, r.currency, r.status, r.rejection_reason, r.saga_style, r.deadline_at, r.created_at, r.decided_at, r.created_at, 1
  from json_to_recordset(?::json) as r(id uuid, customer_id uuid, total_amount bigint, currency text, status text, rejection_reason text,
    saga_style text, deadline_at timestamptz, created_at timestamptz, decided_at timestamptz)`;

export class MikroOrmOrderRepository implements OrderRepositoryPort {
  constructor(private readonly db: ModuleDatabase) {}

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
    if (this.db.inTransaction()) this.db.transactionBuffer<NewOrderRow[]>(this, () => [], (rows) => (rows.length > 0 ? { sql: INSERT_ORDERS, params: [JSON.stringify(rows)] } : null)).push(row);
    else await this.db.exec(INSERT_ORDERS, [JSON.stringify([row])]);
    order.markPersisted(1);
  }

  async findById(id: string): Promise<Order | null> {
    const [row] = await this.db.query<OrderRecord>(`select ${ORDER_COLUMNS} from "ordering"."orders" where id = ?`, [id]);
    return row ? toOrder(row) : null;
  }

  async findByIdForUpdate(id: string): Promise<Order | null> {
    const [row] = await this.db.query<OrderRecord>(`select ${ORDER_COLUMNS} from "ordering"."orders" where id = ? for update`, [id]);
    return row ? toOrder(row) : null;
  }

  async save(order: Order): Promise<void> {
    const next = order.version + 1;
    const updated = await this.db.exec(
      `update "ordering"."orders" set status = ?, rejection_reason = ?, decided_at = ?, updated_at = ?, version = ? where id = ? and version = ?`,
      [order.status, order.rejectionReason, order.decidedAt, new Date(), next, order.id, order.version],
    );
    if (updated !== 1) throw new ConcurrencyError('order', order.id);
    order.markPersisted(next);
  }

  async findOverdue(now: Date, limit: number): Promise<string[]> {
    const rows = await this.db.query<{ id: string }>(
      `select id from "ordering"."orders"
       where status = 'PENDING' and saga_style = 'choreography' and deadline_at <= ?
       order by deadline_at limit ?`,
      [now, limit],
    );
    return rows.map((r) => r.id);
  }

  async list(filter: { customerId?: string; beforeId?: string; limit: number }): Promise<OrderPage> {
    const where: Record<string, unknown> = {};
    if (filter.customerId) where['customerId'] = filter.customerId;
    if (filter.beforeId) where['id'] = { $lt: filter.beforeId };
    const rows = await this.db.em().find(OrderSchema, where, { orderBy: { id: 'desc' }, limit: filter.limit + 1, disableIdentityMap: true });
    return { orders: rows.slice(0, filter.limit).map(toOrder), hasMore: rows.length > filter.limit };
  }
}

interface NewSagaRow {
  readonly id: string;
  readonly state: string;
  readonly deadline_at: string;
  readonly at: string;
}

const INSERT_SAGAS = `insert into "ordering"."saga_instances" (id, type, state, deadline_at, version, created_at, updated_at)
  select r.id, 'place-order', r.state, r.deadline_at, 1, r.at, r.at from json_to_recordset(?::json) as r(id uuid, state text, deadline_at timestamptz, at timestamptz)`;

export class MikroOrmPlaceOrderSagaRepository implements PlaceOrderSagaRepositoryPort {
  constructor(private readonly db: ModuleDatabase) {}

  /** Like `MikroOrmOrderRepository.add`: in a transaction, written with its other buffered rows just before the commit. */
  async add(saga: PlaceOrderSaga): Promise<void> {
    const row: NewSagaRow = { id: saga.id, state: saga.state, deadline_at: saga.deadlineAt.toISOString(), at: new Date().toISOString() };
    if (this.db.inTransaction()) this.db.transactionBuffer<NewSagaRow[]>(this, () => [], (rows) => (rows.length > 0 ? { sql: INSERT_SAGAS, params: [JSON.stringify(rows)] } : null)).push(row);
    else await this.db.exec(INSERT_SAGAS, [JSON.stringify([row])]);
  }

  async findById(id: string): Promise<PlaceOrderSaga | null> {
    const [row] = await this.db.query<{ id: string; state: string; deadlineAt: string; version: number }>(
      `select id, state, deadline_at as "deadlineAt", version from "ordering"."saga_instances" where id = ?`,
      [id],
    );
    return row ? PlaceOrderSaga.rehydrate({ id: row.id, state: row.state as PlaceOrderSagaState, deadlineAt: new Date(row.deadlineAt), version: row.version }) : null;
  }

  async save(saga: PlaceOrderSaga): Promise<void> {
    const updated = await this.db.exec(`update "ordering"."saga_instances" set state = ?, version = ?, updated_at = ? where id = ? and version = ?`, [
      saga.state,
      saga.version + 1,
      new Date(),
      saga.id,
      saga.version,
    ]);
    if (updated !== 1) throw new ConcurrencyError('place-order saga', saga.id);
  }

  async findOverdue(now: Date, limit: number): Promise<string[]> {
    const rows = await this.db.query<{ id: string }>(
      `select id from "ordering"."saga_instances"
       where state = 'AWAITING_CREDIT' and deadline_at <= ?
       order by deadline_at limit ?`,
      [now, limit],
    );
    return rows.map((r) => r.id);
  }
}

interface StepRow {
  readonly order_id: string;
  readonly name: string;
  readonly outcome: SagaStepOutcome;
  readonly detail: string | null;
  readonly at: string;
}

/** One statement text whatever the number of steps, so it is prepared once per connection. */
const INSERT_STEPS = `insert into "ordering"."saga_steps" (order_id, name, outcome, detail, at)
  select r.order_id, r.name, r.outcome, r.detail, r.at from json_to_recordset(?::json) as r(order_id uuid, name text, outcome text, detail text, at timestamptz)`;

export class MikroOrmSagaLog implements SagaLogPort {
  constructor(private readonly db: ModuleDatabase) {}

  /**
   * In a transaction, the steps are written with its other buffered rows just before it commits
   * (one statement for every order of a batch); outside one, at once.
   */
  async append(orderId: string, steps: readonly SagaStep[]): Promise<void> {
    if (steps.length === 0) return;
    const rows = steps.map((s) => ({ order_id: orderId, name: s.name, outcome: s.outcome, detail: s.detail ?? null, at: s.at.toISOString() }));
    if (!this.db.inTransaction()) {
      await this.db.exec(INSERT_STEPS, [JSON.stringify(rows)]);
      return;
    }
    const pending = this.db.transactionBuffer<StepRow[]>(this, () => [], (buffered) => (buffered.length > 0 ? { sql: INSERT_STEPS, params: [JSON.stringify(buffered)] } : null));
    pending.push(...rows);
  }

  async list(orderId: string): Promise<SagaStep[]> {
    const rows = await this.db.em().find(SagaStepSchema, { orderId }, { orderBy: { seq: 'asc' }, disableIdentityMap: true });
    return rows.map((r) => ({ name: r.name, outcome: r.outcome as SagaStepOutcome, at: r.at, ...(r.detail ? { detail: r.detail } : {}) }));
  }
}

export class MikroOrmIdempotencyStore implements IdempotencyStorePort {
  constructor(private readonly db: ModuleDatabase) {}

  async find(key: string): Promise<IdempotencyRecord | null> {
    const [row] = await this.db.query<IdempotencyRecord>(
      `select key, request_hash as "requestHash", order_id as "orderId" from "ordering"."idempotency_keys" where key = ?`,
      [key],
    );
    return row ? { key: row.key, requestHash: row.requestHash, orderId: row.orderId } : null;
  }

  async save(record: IdempotencyRecord): Promise<boolean> {
    const rows = await this.db.query(
      `insert into "ordering"."idempotency_keys" (key, request_hash, order_id, created_at) values (?, ?, ?, now())
       on conflict (key) do nothing returning key`,
      [record.key, record.requestHash, record.orderId],
    );
    return rows.length === 1;
  }

  async purgeOlderThan(olderThanMs: number): Promise<number> {
    return this.db.exec(`delete from "ordering"."idempotency_keys" where created_at < now() - (? * interval '1 millisecond')`, [olderThanMs]);
  }
}
