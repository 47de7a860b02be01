import { contextOf, NotFoundError, type Clock, type Envelope, type MessageHandler } from '../../../../shared/kernel/index.js';
import type { CreditReservedV1 } from '../../../customer/contract/index.js';
import type { OrderChanges } from '../order-changes.js';
import type { OrderRepositoryPort } from '../ports/order.repository.port.js';

/**
 * Choreography: the customer's credit was reserved, so the order is approved. An order that is
 * no longer PENDING (it timed out) stays as it is: the Customer module releases that credit
 * when it sees order.rejected.v1.
 */
export class ApproveOrderOnCreditReserved implements MessageHandler<CreditReservedV1> {
  constructor(
    private readonly orders: OrderRepositoryPort,
    private readonly changes: OrderChanges,
    private readonly clock: Clock,
  ) {}

  async handle(message: Envelope<CreditReservedV1>): Promise<void> {
    const order = await this.orders.findByIdForUpdate(message.payload.orderId);
    if (!order) throw new NotFoundError('ORDER_NOT_FOUND', `order ${message.payload.orderId} does not exist`);
    // One instant for the unit of work: the step it records, the approval and its message (the
    // console attributes a step to the message published at the same instant).
    const now = this.clock.now();
    const approved = order.approve(now);
    await this.changes.commit(order, contextOf(message), {
      stepsBefore: [this.changes.step('credit-reserved', approved ? 'received' : 'ignored', undefined, now)],
    });
  }
}
