import { ConcurrencyError } from '../../../src/shared/kernel/index.js';
import type { IdempotencyRecord, IdempotencyStorePort } from '../../../src/modules/order/application/ports/idempotency.port.js';
import type { OrderPage, OrderRepositoryPort } from '../../../src/modules/order/application/ports/order.repository.port.js';
import type { SagaLogPort, SagaStep } from '../../../src/modules/order/application/ports/saga-log.port.js';
import type { PlaceOrderSagaRepositoryPort } from '../../../src/modules/order/application/ports/saga.repository.port.js';
import { Order, type OrderSnapshot } from '../../../src/modules/order/domain/order.aggregate.js';
import { PlaceOrderSaga, type PlaceOrderSagaSnapshot } from '../../../src/modules/order/domain/place-order-saga.js';
import { CheckViolation, InMemoryTable, UniqueViolation, type InMemoryDatabase } from './in-memory-database.js';

/** The orders table's CHECK constraints. */
function checked(row: OrderSnapshot): OrderSnapshot {
  if (!row.total.isPositive()) throw new CheckViolation('orders', 'orders_total_amount_check');
  if ((row.status === 'REJECTED') !== (row.rejectionReason !== null)) throw new CheckViolation('orders', 'rejected_has_reason');
  return row;
}

/** Same contract as PgOrderRepository (test/integration/persistence proves it): version 1 on insert, +1 per save of the whole state, stale saves refused, keyset pages newest first. */
export class InMemoryOrderRepository extends InMemoryTable<string, OrderSnapshot> implements OrderRepositoryPort {
  constructor(db: InMemoryDatabase) {
    super(db);
  }

  /** Like PgOrderRepository: in a transaction, written just before the commit, so that transaction cannot read it back. */
  async add(order: Order): Promise<void> {
    await this.fault('add');
    const row = checked({ ...order.snapshot(), version: 1 });
    this.db.beforeCommit(() => {
      if (this.rows.has(row.id)) throw new UniqueViolation('orders', row.id);
      this.rows.set(row.id, row);
    });
    order.markPersisted(1);
  }

  async findById(id: string): Promise<Order | null> {
    const row = this.rows.get(id);
    return row ? Order.rehydrate(row) : null;
  }

  async findByIdForUpdate(id: string): Promise<Order | null> {
    this.db.assertInTransaction('OrderRepository.findByIdForUpdate');
    return this.findById(id);
  }

  async save(order: Order): Promise<void> {
    await this.fault('save');
    const stored = this.rows.get(order.id);
    if (!stored || stored.version !== order.version) throw new ConcurrencyError('order', order.id);
    const next = order.version + 1;
    this.rows.set(order.id, checked({ ...order.snapshot(), version: next }));
    order.markPersisted(next);
  }

  async findOverdue(now: Date, limit: number): Promise<string[]> {
    return [...this.rows.values()]
      .filter((o) => o.status === 'PENDING' && o.sagaStyle === 'choreography' && o.deadlineAt.getTime() <= now.getTime())
      .sort((a, b) => a.deadlineAt.getTime() - b.deadlineAt.getTime())
      .slice(0, limit)
      .map((o) => o.id);
  }

  async list(filter: { customerId?: string; beforeId?: string; limit: number }): Promise<OrderPage> {
    const rows = [...this.rows.values()]
      .filter(
        (o) =>
          (filter.customerId === undefined || o.customerId === filter.customerId) &&
          (filter.beforeId === undefined || o.id < filter.beforeId),
      )
      .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
      .slice(0, filter.limit + 1);
    return { orders: rows.slice(0, filter.limit).map((r) => Order.rehydrate(r)), hasMore: rows.length > filter.limit };
  }

  stored(id: string): OrderSnapshot | undefined {
    return this.rows.get(id);
  }

  all(): OrderSnapshot[] {
    return [...this.rows.values()];
  }
}

/** Same contract as PgPlaceOrderSagaRepository: stored at version 1; a save writes the whole state, only over the version it loaded. */
export class InMemoryPlaceOrderSagaRepository
  extends InMemoryTable<string, PlaceOrderSagaSnapshot>
  implements PlaceOrderSagaRepositoryPort
{
  constructor(db: InMemoryDatabase) {
    super(db);
  }

  /** Like PgPlaceOrderSagaRepository: in a transaction, written just before the commit. */
  async add(saga: PlaceOrderSaga): Promise<void> {
    await this.fault('add');
    const row = { ...saga.snapshot(), version: 1 };
    this.db.beforeCommit(() => {
      if (this.rows.has(row.id)) throw new UniqueViolation('saga_instances', row.id);
      this.rows.set(row.id, row);
    });
  }

  async findById(id: string): Promise<PlaceOrderSaga | null> {
    const row = this.rows.get(id);
    return row ? PlaceOrderSaga.rehydrate(row) : null;
  }

  async save(saga: PlaceOrderSaga): Promise<void> {
    await this.fault('save');
    const stored = this.rows.get(saga.id);
    if (!stored || stored.version !== saga.version) throw new ConcurrencyError('place-order saga', saga.id);
    this.rows.set(saga.id, { ...saga.snapshot(), version: saga.version + 1 });
  }

  async findOverdue(now: Date, limit: number): Promise<string[]> {
    return [...this.rows.values()]
      .filter((s) => s.state === 'AWAITING_CREDIT' && s.deadlineAt.getTime() <= now.getTime())
      .sort((a, b) => a.deadlineAt.getTime() - b.deadlineAt.getTime())
      .slice(0, limit)
      .map((s) => s.id);
  }

  stored(id: string): PlaceOrderSagaSnapshot | undefined {
    return this.rows.get(id);
  }
}

/** Same contract as PgSagaLog: the saga history, in the order it was appended; an empty detail is no detail. */
export class InMemorySagaLog extends InMemoryTable<string, readonly SagaStep[]> implements SagaLogPort {
  constructor(db: InMemoryDatabase) {
    super(db);
  }

  async append(orderId: string, steps: readonly SagaStep[]): Promise<void> {
    await this.fault('append');
    if (steps.length === 0) return;
    const copies = steps.map(({ detail, ...step }) => ({ ...step, ...(detail ? { detail } : {}) }));
    // Like PgSagaLog: in a transaction, written just before the commit.
    this.db.beforeCommit(() => this.rows.set(orderId, [...(this.rows.get(orderId) ?? []), ...copies]));
  }

  async list(orderId: string): Promise<SagaStep[]> {
    return [...(this.rows.get(orderId) ?? [])];
  }

  /** `name:outcome` of each step, for compact assertions. */
  names(orderId: string): string[] {
    return (this.rows.get(orderId) ?? []).map((s) => `${s.name}:${s.outcome}${s.detail ? `:${s.detail}` : ''}`);
  }
}

/** Same contract as PgIdempotencyStore: the first save of a key wins, later ones return false. */
export class InMemoryIdempotencyStore extends InMemoryTable<string, IdempotencyRecord> implements IdempotencyStorePort {
  constructor(db: InMemoryDatabase) {
    super(db);
  }

  async find(key: string): Promise<IdempotencyRecord | null> {
    return this.rows.get(key) ?? null;
  }

  private readonly savedAt = new Map<string, number>();

  async save(record: IdempotencyRecord): Promise<boolean> {
    await this.fault('save');
    if (this.rows.has(record.key)) return false;
    this.rows.set(record.key, { ...record });
    this.savedAt.set(record.key, Date.now());
    return true;
  }

  async purgeOlderThan(ms: number): Promise<number> {
    const cutoff = Date.now() - ms;
    let purged = 0;
    for (const [key, at] of this.savedAt) {
      if (at < cutoff && this.rows.delete(key)) purged += 1;
      if (at < cutoff) this.savedAt.delete(key);
    }
    return purged;
  }
}
