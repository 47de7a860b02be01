import type { Envelope, MessageHandler } from '../../../../shared/kernel/index.js';
import type { CreditReleasedV1 } from '../../../customer/contract/index.js';
import type { OrderChanges } from '../order-changes.js';

/** Choreography: records in the order's saga history that its credit was given back. */
export class RecordCreditReleaseOnCreditReleased implements MessageHandler<CreditReleasedV1> {
  constructor(private readonly changes: OrderChanges) {}

  async handle(message: Envelope<CreditReleasedV1>): Promise<void> {
    await this.changes.commitSteps(message.payload.orderId, [this.changes.step('credit-released', 'received')]);
  }
}
