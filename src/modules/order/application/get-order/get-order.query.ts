import { NotFoundError } from '../../../../shared/kernel/index.js';
import type { OrderRepositoryPort } from '../ports/order.repository.port.js';
import type { SagaCoordinatorsPort } from '../ports/saga-coordinator.port.js';
import type { SagaLogPort } from '../ports/saga-log.port.js';
import { toOrderView, type OrderView } from '../order.view.js';

/** An order with the story of its saga (style, state, steps). */
export class GetOrderQuery {
  constructor(
    private readonly orders: OrderRepositoryPort,
    private readonly sagas: SagaCoordinatorsPort,
    private readonly sagaLog: SagaLogPort,
  ) {}

  /** `ownedBy`: a caller who may see only that customer's orders gets ORDER_NOT_FOUND for any other (no existence leak). */
  async execute(id: string, options: { ownedBy?: string } = {}): Promise<OrderView> {
    const found = await this.orders.findById(id);
    const order = found && (options.ownedBy === undefined || found.customerId === options.ownedBy) ? found : null;
    if (!order) throw new NotFoundError('ORDER_NOT_FOUND', `order ${id} does not exist`, { orderId: id });
    // Separate reads, each seeing what had committed when it ran: the saga's state goes before its
    // steps, so the steps shown always include the one that led to that state.
    const state = await this.sagas.of(order).stateOf(order);
    const steps = await this.sagaLog.list(id);
    return toOrderView(order, { state, steps });
  }
}
