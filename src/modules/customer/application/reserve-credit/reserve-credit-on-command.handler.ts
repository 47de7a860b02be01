import { contextOf, type Envelope, type MessageHandler } from '../../../../shared/kernel/index.js';
import type { ReserveCreditV1 } from '../../contract/customer.messages.js';
import type { ReserveCreditHandler } from './reserve-credit.handler.js';

/** Orchestration: the order saga asks for the credit; the reply carries the saga's correlationId. */
export class ReserveCreditOnCommand implements MessageHandler<ReserveCreditV1> {
  constructor(private readonly reserveCredit: ReserveCreditHandler) {}

  async handle(message: Envelope<ReserveCreditV1>): Promise<void> {
    const { orderId, customerId, amount } = message.payload;
    await this.reserveCredit.execute({ orderId, customerId, amount }, contextOf(message));
  }
}
