import { createMessage, Money, type Clock, type EventBusPort, type MessageContext, type MoneyJson, type TransactionPort } from '../../../../shared/kernel/index.js';
import { CreditReservationFailedV1, CreditReservedV1, type CreditReservationFailureReason } from '../../contract/customer.messages.js';
import type { CreditReservationRepositoryPort } from '../ports/credit-reservation.repository.port.js';
import type { CustomerRepositoryPort } from '../ports/customer.repository.port.js';

export interface ReserveCreditCommand {
  readonly orderId: string;
  readonly customerId: string;
  readonly amount: MoneyJson;
}

export type ReserveCreditResult = 'reserved' | CreditReservationFailureReason | 'already-handled';

/**
 * Reserves an order's credit and replies with customer.credit-reserved.v1 or
 * customer.credit-reservation-failed.v1. The same application service serves both saga styles:
 * choreography triggers it on order.created.v1, orchestration on customer.reserve-credit.v1.
 */
export class ReserveCreditHandler {
  constructor(
    private readonly tx: TransactionPort,
    private readonly customers: CustomerRepositoryPort,
    private readonly reservations: CreditReservationRepositoryPort,
    private readonly bus: EventBusPort,
    private readonly clock: Clock,
  ) {}

  execute(command: ReserveCreditCommand, context: MessageContext): Promise<ReserveCreditResult> {
    return this.tx.run(async () => {
      const now = this.clock.now();
      const fail = async (reason: CreditReservationFailureReason) => {
        await this.bus.publish([createMessage(CreditReservationFailedV1, { orderId: command.orderId, customerId: command.customerId, reason }, context, now)]);
        return reason;
      };
      const customer = await this.customers.findByIdForUpdate(command.customerId);
      if (!customer) return fail('CUSTOMER_NOT_FOUND');
      // Under the customer's lock: the order's earlier reservation (or its release marker) is stable.
      const existing = await this.reservations.findByOrderIdForUpdate(command.orderId);
      if (existing) return 'already-handled';
      const amount = Money.fromJson(command.amount);
      const outcome = customer.reserveCredit(command.orderId, amount, now);
      customer.pullEvents();
      if (!outcome.reserved) return fail(outcome.reason);
      await this.customers.save(customer);
      await this.reservations.save(outcome.reservation);
      await this.bus.publish([createMessage(CreditReservedV1, { orderId: command.orderId, customerId: customer.id, amount: amount.toJSON() }, context, now)]);
      return 'reserved';
    });
  }
}
