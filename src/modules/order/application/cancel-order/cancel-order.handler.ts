import { NotFoundError, traceparent, type Clock, type TransactionPort } from '../../../../shared/kernel/index.js';
import type { OrderChanges } from '../order-changes.js';
import type { PlaceOrderSagaOrchestrator } from '../place-order-saga/place-order-saga.orchestrator.js';
import type { OrderRepositoryPort } from '../ports/order.repository.port.js';
import { toOrderView, type OrderView } from '../order.view.js';

/**
 * Cancels an APPROVED order at once; its credit is released asynchronously: the Customer module
 * reacts to order.cancelled.v1 (choreography) or to the saga's customer.release-credit.v1
 * command (orchestration).
 */
export class CancelOrderHandler {
  constructor(
    private readonly tx: TransactionPort,
    private readonly orders: OrderRepositoryPort,
    private readonly changes: OrderChanges,
    private readonly orchestrator: PlaceOrderSagaOrchestrator,
    private readonly clock: Clock,
  ) {}

  execute(orderId: string, options: { traceparent?: string } = {}): Promise<OrderView> {
    return this.tx.run(async () => {
      const order = await this.orders.findByIdForUpdate(orderId);
      if (!order) throw new NotFoundError('ORDER_NOT_FOUND', `order ${orderId} does not exist`, { orderId });
      order.cancel(this.clock.now());
      const context = { correlationId: order.id, causationId: null, traceparent: traceparent(options.traceparent) };
      await this.changes.commit(order, context);
      if (order.sagaStyle === 'orchestration') await this.orchestrator.handle(order.id, { kind: 'order-cancelled' }, context);
      return toOrderView(order);
    });
  }
}
