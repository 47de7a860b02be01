import { contextOf, type Clock, type Envelope, type MessageHandler } from '../../../../shared/kernel/index.js';
import type { OrderCancelledV1, OrderRejectedV1 } from '../../../order/contract/index.js';
import type { ReleaseCreditV1 } from '../../contract/customer.messages.js';
import { CreditReservation } from '../../domain/credit-reservation.entity.js';
import type { CustomerChanges } from '../customer-changes.js';
import type { CreditReservationRepositoryPort } from '../ports/credit-reservation.repository.port.js';
import type { CustomerRepositoryPort } from '../ports/customer.repository.port.js';

/**
 * Gives back the credit reserved for an order that closed without keeping it: cancelled after
 * approval, or rejected (a TIMEOUT may come after a reservation) in choreography; on the saga's
 * customer.release-credit.v1 command in orchestration. When nothing was reserved yet, it leaves a
 * RELEASED marker so that a reservation arriving later is refused: the credit of a closed order is
 * never held. Like every message handler, it runs in the inbox's transaction.
 */
export class ReleaseCreditHandler implements MessageHandler<OrderCancelledV1 | OrderRejectedV1 | ReleaseCreditV1> {
  constructor(
    private readonly customers: CustomerRepositoryPort,
    private readonly reservations: CreditReservationRepositoryPort,
    private readonly changes: CustomerChanges,
    private readonly clock: Clock,
  ) {}

  async handle(message: Envelope<OrderCancelledV1 | OrderRejectedV1 | ReleaseCreditV1>): Promise<void> {
    const { orderId, customerId } = message.payload;
    const context = contextOf(message);
    const customer = await this.customers.findByIdForUpdate(customerId);
    if (!customer) return;
    const reservation = await this.reservations.findByOrderIdForUpdate(orderId);
    if (!reservation) {
      await this.changes.commit(customer, context, {
        reservation: CreditReservation.releasedBeforeReservation(orderId, customer.id, customer.creditLimit.currency),
      });
      return;
    }
    if (!customer.releaseCredit(reservation, this.clock.now())) return;
    await this.changes.commit(customer, context, { reservation });
    return;
  }
}
