import { NotFoundError, traceparent, type Clock, type TransactionPort } from '../../../../shared/kernel/index.js';
import type { OrderRepositoryPort } from '../ports/order.repository.port.js';
import type { SagaCoordinatorsPort } from '../ports/saga-coordinator.port.js';
import { toOrderView, type OrderView } from '../order.view.js';

/**
 * Cancels an APPROVED order at once; its credit is released asynchronously: the Customer module
 * reacts to order.cancelled.v1 (choreography) or to the saga's customer.release-credit.v1
 * command (orchestration): the saga of the style the order was placed under.
 */
export class CancelOrderHandler {
  constructor(
    private readonly tx: TransactionPort,
    private readonly orders: OrderRepositoryPort,
    private readonly sagas: SagaCoordinatorsPort,
    private readonly clock: Clock,
  ) {}

  /** `ownedBy`: a caller who may cancel only that customer's orders gets ORDER_NOT_FOUND for any other. */
  execute(orderId: string, options: { traceparent?: string; ownedBy?: string } = {}): Promise<OrderView> {
    return this.tx.run(async () => {
      const found = await this.orders.findByIdForUpdate(orderId);
      const order = found && (options.ownedBy === undefined || found.customerId === options.ownedBy) ? found : null;
      if (!order) throw new NotFoundError('ORDER_NOT_FOUND', `order ${orderId} does not exist`, { orderId });
      order.cancel(this.clock.now());
      const context = { correlationId: order.id, causationId: null, traceparent: traceparent(options.traceparent) };
      await this.sagas.of(order).cancel(order, context);
      return toOrderView(order);
    });
  }
}
