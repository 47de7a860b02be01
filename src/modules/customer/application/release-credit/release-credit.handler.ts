import { createMessage, type Clock, type EventBusPort, type MessageContext, type TransactionPort } from '../../../../shared/kernel/index.js';
import { CreditReleasedV1 } from '../../contract/customer.messages.js';
import { CreditReservation } from '../../domain/credit-reservation.entity.js';
import type { CreditReservationRepositoryPort } from '../ports/credit-reservation.repository.port.js';
import type { CustomerRepositoryPort } from '../ports/customer.repository.port.js';

export interface ReleaseCreditCommand {
  readonly orderId: string;
  readonly customerId: string;
}

export type ReleaseCreditResult = 'released' | 'nothing-reserved' | 'already-released' | 'unknown-customer';

/**
 * Gives back the credit reserved for an order that was cancelled or rejected. When nothing was
 * reserved yet, it leaves a RELEASED marker so that a reservation arriving later is refused:
 * the credit of a closed order is never held.
 */
export class ReleaseCreditHandler {
  constructor(
    private readonly tx: TransactionPort,
    private readonly customers: CustomerRepositoryPort,
    private readonly reservations: CreditReservationRepositoryPort,
    private readonly bus: EventBusPort,
    private readonly clock: Clock,
  ) {}

  execute(command: ReleaseCreditCommand, context: MessageContext): Promise<ReleaseCreditResult> {
    return this.tx.run(async () => {
      const now = this.clock.now();
      const customer = await this.customers.findByIdForUpdate(command.customerId);
      if (!customer) return 'unknown-customer';
      const reservation = await this.reservations.findByOrderIdForUpdate(command.orderId);
      if (!reservation) {
        await this.reservations.save(CreditReservation.releasedBeforeReservation(command.orderId, customer.id, customer.creditLimit.currency));
        return 'nothing-reserved';
      }
      if (!customer.releaseCredit(reservation, now)) return 'already-released';
      customer.pullEvents();
      await this.customers.save(customer);
      await this.reservations.save(reservation);
      await this.bus.publish([
        createMessage(CreditReleasedV1, { orderId: command.orderId, customerId: customer.id, amount: reservation.amount.toJSON() }, context, now),
      ]);
      return 'released';
    });
  }
}
