import { NotFoundError } from '../../../../shared/kernel/index.js';
import type { Order } from '../../domain/order.aggregate.js';
import type { OrderRepositoryPort } from '../ports/order.repository.port.js';
import type { SagaLogPort } from '../ports/saga-log.port.js';
import type { PlaceOrderSagaRepositoryPort } from '../ports/saga.repository.port.js';
import { toOrderView, type OrderView } from '../order.view.js';

const CHOREOGRAPHY_STATE: Record<Order['status'], string> = {
  PENDING: 'AWAITING_CREDIT',
  APPROVED: 'APPROVED',
  REJECTED: 'REJECTED',
  CANCELLED: 'CANCELLED',
};

/** An order with the story of its saga (style, state, steps). */
export class GetOrderQuery {
  constructor(
    private readonly orders: OrderRepositoryPort,
    private readonly sagas: PlaceOrderSagaRepositoryPort,
    private readonly sagaLog: SagaLogPort,
  ) {}

  async execute(id: string): Promise<OrderView> {
    const order = await this.orders.findById(id);
    if (!order) throw new NotFoundError('ORDER_NOT_FOUND', `order ${id} does not exist`, { orderId: id });
    // Separate reads, each seeing what had committed when it ran: the saga's state goes before its
    // steps, so the steps shown always include the one that led to that state.
    const saga = order.sagaStyle === 'orchestration' ? await this.sagas.findById(id) : null;
    const steps = await this.sagaLog.list(id);
    return toOrderView(order, { state: saga ? saga.state : CHOREOGRAPHY_STATE[order.status], steps });
  }
}
