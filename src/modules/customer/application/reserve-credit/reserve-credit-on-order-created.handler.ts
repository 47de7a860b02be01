import { contextOf, type Envelope, type MessageHandler } from '../../../../shared/kernel/index.js';
import type { OrderCreatedV1 } from '../../../order/contract/index.js';
import type { ReserveCreditHandler } from './reserve-credit.handler.js';

/** Choreography: an order was placed, so reserve its credit. */
export class ReserveCreditOnOrderCreated implements MessageHandler<OrderCreatedV1> {
  constructor(private readonly reserveCredit: ReserveCreditHandler) {}

  async handle(message: Envelope<OrderCreatedV1>): Promise<void> {
    const { orderId, customerId, total } = message.payload;
    await this.reserveCredit.execute({ orderId, customerId, amount: total }, contextOf(message));
  }
}
