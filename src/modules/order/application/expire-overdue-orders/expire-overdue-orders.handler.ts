import { traceparent, type Clock, type TransactionPort } from '../../../../shared/kernel/index.js';
import type { OrderChanges } from '../order-changes.js';
import type { PlaceOrderSagaOrchestrator } from '../place-order-saga/place-order-saga.orchestrator.js';
import type { OrderRepositoryPort } from '../ports/order.repository.port.js';
import type { PlaceOrderSagaRepositoryPort } from '../ports/saga.repository.port.js';

export interface ExpiryFailure {
  readonly id: string;
  readonly error: unknown;
}

/**
 * Every order ends: a PENDING order past its deadline is rejected with TIMEOUT (choreography),
 * and an orchestrated saga still awaiting its reply past its deadline rejects its order. The
 * deadlines are rows in PostgreSQL; any process that runs this job (the dev server's scheduler,
 * the sweeper task) finds them. Each order expires in its own transaction, so one that fails
 * (and is retried on the next run) never holds back the others.
 */
export class ExpireOverdueOrdersHandler {
  constructor(
    private readonly tx: TransactionPort,
    private readonly orders: OrderRepositoryPort,
    private readonly sagas: PlaceOrderSagaRepositoryPort,
    private readonly changes: OrderChanges,
    private readonly orchestrator: PlaceOrderSagaOrchestrator,
    private readonly clock: Clock,
    private readonly onFailure: (failure: ExpiryFailure) => void = () => undefined,
    private readonly batchSize = 100,
  ) {}

  async execute(): Promise<number> {
    let expired = 0;
    for (;;) {
      const now = this.clock.now();
      const [orderIds, sagaIds] = await Promise.all([this.orders.findOverdue(now, this.batchSize), this.sagas.findOverdue(now, this.batchSize)]);
      let round = 0;
      for (const id of orderIds) {
        if (await this.attempt(id, () => this.expireOrder(id))) round += 1;
      }
      for (const id of sagaIds) {
        if (await this.attempt(id, () => this.orchestrator.handle(id, { kind: 'deadline' }, this.context(id)).then((a) => a.kind !== 'none'))) round += 1;
      }
      expired += round;
      // Another full batch may wait; stop when the backlog is gone or nothing moved (failures retry next run).
      if ((orderIds.length < this.batchSize && sagaIds.length < this.batchSize) || round === 0) return expired;
    }
  }

  private async attempt(id: string, work: () => Promise<boolean>): Promise<boolean> {
    try {
      return await this.tx.run(work);
    } catch (error) {
      this.onFailure({ id, error });
      return false;
    }
  }

  private async expireOrder(id: string): Promise<boolean> {
    // Locked and checked again: another process may have decided or expired it meanwhile.
    const order = await this.orders.findByIdForUpdate(id);
    if (!order || !order.isOverdue(this.clock.now()) || !order.reject('TIMEOUT', this.clock.now())) return false;
    await this.changes.commit(order, this.context(id), { stepsBefore: [this.changes.step('deadline-passed', 'received')] });
    return true;
  }

  private context(id: string) {
    return { correlationId: id, causationId: null, traceparent: traceparent() };
  }
}
