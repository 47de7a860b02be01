import { contextOf, type Envelope, type MessageHandler } from '../../../../shared/kernel/index.js';
import type { OrderCancelledV1, OrderRejectedV1 } from '../../../order/contract/index.js';
import type { ReleaseCreditV1 } from '../../contract/customer.messages.js';
import type { ReleaseCreditHandler } from './release-credit.handler.js';

/**
 * Releases an order's credit when the order closed without keeping it: cancelled after approval,
 * or rejected (a TIMEOUT may come after a reservation) in choreography; on the saga's
 * customer.release-credit.v1 command in orchestration.
 */
export class ReleaseCreditOnOrderClosed implements MessageHandler<OrderCancelledV1 | OrderRejectedV1 | ReleaseCreditV1> {
  constructor(private readonly releaseCredit: ReleaseCreditHandler) {}

  async handle(message: Envelope<OrderCancelledV1 | OrderRejectedV1 | ReleaseCreditV1>): Promise<void> {
    const { orderId, customerId } = message.payload;
    await this.releaseCredit.execute({ orderId, customerId }, contextOf(message));
  }
}
