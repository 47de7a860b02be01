import { traceparent, type Clock, type TransactionPort } from '../../../../shared/kernel/index.js';
import type { OrderChanges } from '../order-changes.js';
import type { PlaceOrderSagaOrchestrator } from '../place-order-saga/place-order-saga.orchestrator.js';
import type { OrderRepositoryPort } from '../ports/order.repository.port.js';
import type { PlaceOrderSagaRepositoryPort } from '../ports/saga.repository.port.js';

/**
 * Every order ends: a PENDING order past its deadline is rejected with TIMEOUT (choreography),
 * and an orchestrated saga still awaiting its reply past its deadline rejects its order. The
 * deadlines are rows in PostgreSQL; any process that runs this job (the dev server's scheduler,
 * the sweeper task) finds them, and SKIP LOCKED lets several run at once.
 */
export class ExpireOverdueOrdersHandler {
  constructor(
    private readonly tx: TransactionPort,
    private readonly orders: OrderRepositoryPort,
    private readonly sagas: PlaceOrderSagaRepositoryPort,
    private readonly changes: OrderChanges,
    private readonly orchestrator: PlaceOrderSagaOrchestrator,
    private readonly clock: Clock,
    private readonly batchSize = 100,
  ) {}

  async execute(): Promise<number> {
    let expired = 0;
    for (;;) {
      const n = await this.tx.run(async () => {
        const now = this.clock.now();
        const orderIds = await this.orders.lockOverdue(now, this.batchSize);
        for (const id of orderIds) {
          const order = await this.orders.findByIdForUpdate(id);
          if (!order || !order.reject('TIMEOUT', now)) continue;
          await this.changes.commit(order, { correlationId: id, causationId: null, traceparent: traceparent() }, {
            stepsBefore: [this.changes.step('deadline-passed', 'received')],
          });
        }
        const sagaIds = await this.sagas.lockOverdue(now, this.batchSize);
        for (const id of sagaIds) {
          await this.orchestrator.handle(id, { kind: 'deadline' }, { correlationId: id, causationId: null, traceparent: traceparent() });
        }
        return orderIds.length + sagaIds.length;
      });
      expired += n;
      if (n < this.batchSize) return expired;
    }
  }
}
