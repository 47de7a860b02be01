import { LockMode } from '@mikro-orm/core';
import { ConcurrencyError, Money } from '../../../../shared/kernel/index.js';
import type { ModuleDatabase } from '../../../../shared/infrastructure/persistence/module-database.js';
import type { IdempotencyRecord, IdempotencyStorePort } from '../../application/ports/idempotency.port.js';
import type { OrderPage, OrderRepositoryPort } from '../../application/ports/order.repository.port.js';
import type { SagaLogPort, SagaStep, SagaStepOutcome } from '../../application/ports/saga-log.port.js';
import type { PlaceOrderSagaRepositoryPort } from '../../application/ports/saga.repository.port.js';
import { Order, type RejectionReason } from '../../domain/order.aggregate.js';
import { PlaceOrderSaga, type PlaceOrderSagaState } from '../../domain/place-order-saga.js';
import { IdempotencyKeySchema, OrderSchema, SagaInstanceSchema, SagaStepSchema, type OrderRow } from './order.entity-schema.js';

function toOrder(row: OrderRow): Order {
  return Order.rehydrate({
    id: row.id,
    customerId: row.customerId,
    total: Money.of(Number(row.totalAmount), row.currency),
    status: row.status,
    rejectionReason: row.rejectionReason as RejectionReason | null,
    sagaStyle: row.sagaStyle,
    deadlineAt: row.deadlineAt,
    createdAt: row.createdAt,
    decidedAt: row.decidedAt,
    version: row.version,
  });
}

/** Native inserts and conditional updates (no unit-of-work flush) keep a saga step to a few round trips. */
export class MikroOrmOrderRepository implements OrderRepositoryPort {
  constructor(private readonly db: ModuleDatabase) {}

  async add(order: Order): Promise<void> {
    const s = order.snapshot();
    await this.db.em().insert(OrderSchema, {
      id: s.id,
      customerId: s.customerId,
      totalAmount: s.total.amount,
      currency: s.total.currency,
      status: s.status,
      rejectionReason: s.rejectionReason,
      sagaStyle: s.sagaStyle,
      deadlineAt: s.deadlineAt,
      createdAt: s.createdAt,
      decidedAt: s.decidedAt,
      updatedAt: s.createdAt,
      version: 1,
    });
    order.markPersisted(1);
  }

  async findById(id: string): Promise<Order | null> {
    const row = await this.db.em().findOne(OrderSchema, { id }, { disableIdentityMap: true });
    return row ? toOrder(row) : null;
  }

  async findByIdForUpdate(id: string): Promise<Order | null> {
    const row = await this.db.em().findOne(OrderSchema, { id }, { lockMode: LockMode.PESSIMISTIC_WRITE, disableIdentityMap: true });
    return row ? toOrder(row) : null;
  }

  async save(order: Order): Promise<void> {
    const next = order.version + 1;
    const updated = await this.db.em().nativeUpdate(
      OrderSchema,
      { id: order.id, version: order.version },
      { status: order.status, rejectionReason: order.rejectionReason, decidedAt: order.decidedAt, updatedAt: new Date(), version: next },
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

export class MikroOrmPlaceOrderSagaRepository implements PlaceOrderSagaRepositoryPort {
  constructor(private readonly db: ModuleDatabase) {}

  async add(saga: PlaceOrderSaga): Promise<void> {
    const now = new Date();
    await this.db.em().insert(SagaInstanceSchema, {
      id: saga.id,
      type: 'place-order',
      state: saga.state,
      deadlineAt: saga.deadlineAt,
      version: 1,
      createdAt: now,
      updatedAt: now,
    });
  }

  async findById(id: string): Promise<PlaceOrderSaga | null> {
    const row = await this.db.em().findOne(SagaInstanceSchema, { id }, { disableIdentityMap: true });
    return row ? PlaceOrderSaga.rehydrate({ id: row.id, state: row.state as PlaceOrderSagaState, deadlineAt: row.deadlineAt, version: row.version }) : null;
  }

  async save(saga: PlaceOrderSaga): Promise<void> {
    const updated = await this.db
      .em()
      .nativeUpdate(SagaInstanceSchema, { id: saga.id, version: saga.version }, { state: saga.state, version: saga.version + 1, updatedAt: new Date() });
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

export class MikroOrmSagaLog implements SagaLogPort {
  constructor(private readonly db: ModuleDatabase) {}

  async append(orderId: string, steps: readonly SagaStep[]): Promise<void> {
    if (steps.length === 0) return;
    await this.db.em().insertMany(
      SagaStepSchema,
      steps.map((s) => ({ orderId, name: s.name, outcome: s.outcome, detail: s.detail ?? null, at: s.at })),
    );
  }

  async list(orderId: string): Promise<SagaStep[]> {
    const rows = await this.db.em().find(SagaStepSchema, { orderId }, { orderBy: { seq: 'asc' }, disableIdentityMap: true });
    return rows.map((r) => ({ name: r.name, outcome: r.outcome as SagaStepOutcome, at: r.at, ...(r.detail ? { detail: r.detail } : {}) }));
  }
}

export class MikroOrmIdempotencyStore implements IdempotencyStorePort {
  constructor(private readonly db: ModuleDatabase) {}

  async find(key: string): Promise<IdempotencyRecord | null> {
    const row = await this.db.em().findOne(IdempotencyKeySchema, { key }, { disableIdentityMap: true });
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
