import { contextOf, NotFoundError, type Clock, type Envelope, type MessageHandler } from '../../../../shared/kernel/index.js';
import type { CreditReservationFailedV1 } from '../../../customer/contract/index.js';
import type { OrderChanges } from '../order-changes.js';
import type { OrderRepositoryPort } from '../ports/order.repository.port.js';

/** Choreography: the credit could not be reserved, so the order is rejected with that reason. */
export class RejectOrderOnCreditReservationFailed implements MessageHandler<CreditReservationFailedV1> {
  constructor(
    private readonly orders: OrderRepositoryPort,
    private readonly changes: OrderChanges,
    private readonly clock: Clock,
  ) {}

  async handle(message: Envelope<CreditReservationFailedV1>): Promise<void> {
    const order = await this.orders.findByIdForUpdate(message.payload.orderId);
    if (!order) throw new NotFoundError('ORDER_NOT_FOUND', `order ${message.payload.orderId} does not exist`);
    // One instant for the unit of work (see ApproveOrderOnCreditReserved).
    const now = this.clock.now();
    const rejected = order.reject(message.payload.reason, now);
    await this.changes.commit(order, contextOf(message), {
      stepsBefore: [this.changes.step('credit-reservation-failed', rejected ? 'received' : 'ignored', message.payload.reason, now)],
    });
  }
}
