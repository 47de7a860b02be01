import { createMessage, type Envelope, type EventBusPort, type MessageContext } from '../../../shared/kernel/index.js';
import { CreditReleasedV1, CreditReservationFailedV1, CreditReservedV1 } from '../contract/customer.messages.js';
import type { CreditReservation } from '../domain/credit-reservation.entity.js';
import type { Customer } from '../domain/customer.aggregate.js';
import type { CustomerEvent } from '../domain/customer.events.js';
import type { CreditReservationRepositoryPort } from './ports/credit-reservation.repository.port.js';
import type { CustomerRepositoryPort } from './ports/customer.repository.port.js';

/** Maps the Customer aggregate's domain events to the contract messages other modules see. */
export function toContractMessages(events: readonly CustomerEvent[], context: MessageContext): Envelope[] {
  return events.flatMap((e): Envelope[] => {
    switch (e.name) {
      case 'CustomerRegistered':
        return []; // no other module needs to know
      case 'CreditReserved':
        return [
          createMessage(
            CreditReservedV1,
            { orderId: e.orderId, customerId: e.customerId, amount: e.amount.toJSON() },
            context,
            e.occurredAt,
          ),
        ];
      case 'CreditReservationRefused':
        return [
          createMessage(
            CreditReservationFailedV1,
            { orderId: e.orderId, customerId: e.customerId, reason: e.reason },
            context,
            e.occurredAt,
          ),
        ];
      case 'CreditReleased':
        return [
          createMessage(
            CreditReleasedV1,
            { orderId: e.orderId, customerId: e.customerId, amount: e.amount.toJSON() },
            context,
            e.occurredAt,
          ),
        ];
    }
  });
}

/** Whether an event changed the customer's stored state (a refusal only answers). */
const CHANGES_STATE: Record<CustomerEvent['name'], boolean> = {
  CustomerRegistered: true,
  CreditReserved: true,
  CreditReservationRefused: false,
  CreditReleased: true,
};

/**
 * Stores a customer change the same way everywhere, as OrderChanges does for orders: the row,
 * the reservation it touched and its contract messages (outbox), inside the caller's transaction.
 */
export class CustomerChanges {
  constructor(
    private readonly customers: CustomerRepositoryPort,
    private readonly reservations: CreditReservationRepositoryPort,
    private readonly bus: EventBusPort,
  ) {}

  async commit(
    customer: Customer,
    context: MessageContext,
    options: { isNew?: boolean; reservation?: CreditReservation } = {},
  ): Promise<void> {
    const events = customer.pullEvents();
    if (options.isNew) await this.customers.add(customer);
    else if (events.some((e) => CHANGES_STATE[e.name])) await this.customers.save(customer);
    if (options.reservation) await this.reservations.save(options.reservation);
    await this.bus.publish(toContractMessages(events, context));
  }

  /** A request for a customer that does not exist is answered without an aggregate to record it. */
  async refuseForUnknownCustomer(orderId: string, customerId: string, context: MessageContext, at: Date): Promise<void> {
    await this.bus.publish([createMessage(CreditReservationFailedV1, { orderId, customerId, reason: 'CUSTOMER_NOT_FOUND' }, context, at)]);
  }
}
