import { contextOf, Money, type Clock, type Envelope, type MessageHandler } from '../../../../shared/kernel/index.js';
import type { OrderCreatedV1 } from '../../../order/contract/index.js';
import type { ReserveCreditV1 } from '../../contract/customer.messages.js';
import type { CustomerChanges } from '../customer-changes.js';
import type { CreditReservationRepositoryPort } from '../ports/credit-reservation.repository.port.js';
import type { CustomerRepositoryPort } from '../ports/customer.repository.port.js';

/**
 * Reserves an order's credit and replies with customer.credit-reserved.v1 or
 * customer.credit-reservation-failed.v1. The same use case serves both saga styles: choreography
 * asks with order.created.v1, orchestration with customer.reserve-credit.v1. Like every message
 * handler, it runs in the inbox's transaction, which also marks the delivery done.
 */
export class ReserveCreditHandler implements MessageHandler<OrderCreatedV1 | ReserveCreditV1> {
  constructor(
    private readonly customers: CustomerRepositoryPort,
    private readonly reservations: CreditReservationRepositoryPort,
    private readonly changes: CustomerChanges,
    private readonly clock: Clock,
  ) {}

  async handle(message: Envelope<OrderCreatedV1 | ReserveCreditV1>): Promise<void> {
    const request = message.payload;
    const { orderId, customerId } = request;
    const context = contextOf(message);
    const now = this.clock.now();
    const customer = await this.customers.findByIdForUpdate(customerId);
    if (!customer) {
      await this.changes.refuseForUnknownCustomer(orderId, customerId, context, now);
      return;
    }
    // Under the customer's lock: the order's earlier reservation (or its release marker) is stable.
    if (await this.reservations.findByOrderIdForUpdate(orderId)) return;
    const outcome = customer.reserveCredit(orderId, Money.fromJson('total' in request ? request.total : request.amount), now);
    await this.changes.commit(customer, context, outcome.reserved ? { reservation: outcome.reservation } : {});
  }
}
