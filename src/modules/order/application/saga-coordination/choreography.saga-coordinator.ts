import type { MessageContext, Clock } from '../../../../shared/kernel/index.js';
import type { Order } from '../../domain/order.aggregate.js';
import type { OrderChanges } from '../order-changes.js';
import type { OrderRepositoryPort } from '../ports/order.repository.port.js';
import type { SagaCoordinatorPort } from '../ports/saga-coordinator.port.js';

/** The saga's state read from the order itself, where no orchestrator keeps one. */
export const SAGA_STATE_OF_STATUS: Record<Order['status'], string> = {
  PENDING: 'AWAITING_CREDIT',
  APPROVED: 'APPROVED',
  REJECTED: 'REJECTED',
  CANCELLED: 'CANCELLED',
};

/**
 * Choreography: the order's own events drive the saga. order.created.v1 asks Customer for the
 * credit, order.cancelled.v1 and order.rejected.v1 give it back; the order's deadline is its own.
 */
export class ChoreographySagaCoordinator implements SagaCoordinatorPort {
  readonly style = 'choreography';

  constructor(
    private readonly orders: OrderRepositoryPort,
    private readonly changes: OrderChanges,
    private readonly clock: Clock,
  ) {}

  start(order: Order, context: MessageContext): Promise<void> {
    return this.changes.commit(order, context, { isNew: true });
  }

  cancel(order: Order, context: MessageContext): Promise<void> {
    return this.changes.commit(order, context);
  }

  stateOf(order: Order): Promise<string> {
    return Promise.resolve(SAGA_STATE_OF_STATUS[order.status]);
  }

  findOverdue(now: Date, limit: number): Promise<string[]> {
    return this.orders.findOverdue(now, limit);
  }

  async expire(orderId: string, context: MessageContext): Promise<boolean> {
    // Locked and checked again: another process may have decided or expired it meanwhile.
    const order = await this.orders.findByIdForUpdate(orderId);
    const now = this.clock.now();
    if (!order || !order.isOverdue(now) || !order.reject('TIMEOUT', now)) return false;
    await this.changes.commit(order, context, { stepsBefore: [this.changes.step('deadline-passed', 'received')] });
    return true;
  }
}
