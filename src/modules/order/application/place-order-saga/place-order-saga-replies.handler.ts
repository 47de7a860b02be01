import { contextOf, type Envelope, type MessageHandler } from '../../../../shared/kernel/index.js';
import type { CreditReleasedV1, CreditReservationFailedV1, CreditReservedV1 } from '../../../customer/contract/index.js';
import type { PlaceOrderSagaOrchestrator } from './place-order-saga.orchestrator.js';

type Reply = CreditReservedV1 | CreditReservationFailedV1 | CreditReleasedV1;

/** Orchestration: routes the Customer module's replies to the saga instance they name (correlationId). */
export class PlaceOrderSagaRepliesHandler implements MessageHandler<Reply> {
  constructor(private readonly orchestrator: PlaceOrderSagaOrchestrator) {}

  async handle(message: Envelope<Reply>): Promise<void> {
    const context = contextOf(message);
    const sagaId = message.correlationId;
    switch (message.type) {
      case 'customer.credit-reserved.v1':
        await this.orchestrator.handle(sagaId, { kind: 'credit-reserved' }, context);
        return;
      case 'customer.credit-reservation-failed.v1':
        await this.orchestrator.handle(
          sagaId,
          { kind: 'credit-reservation-failed', reason: (message.payload as CreditReservationFailedV1).reason },
          context,
        );
        return;
      case 'customer.credit-released.v1':
        await this.orchestrator.handle(sagaId, { kind: 'credit-released' }, context);
        return;
      default:
        throw new Error(`the place-order saga does not handle ${message.type}`);
    }
  }
}
