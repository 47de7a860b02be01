import { createMessage, NotFoundError, type Clock, type MessageContext } from '../../../../shared/kernel/index.js';
import { ReleaseCreditV1, ReserveCreditV1 } from '../../../customer/contract/index.js';
import type { Order, RejectionReason } from '../../domain/order.aggregate.js';
import { PlaceOrderSaga, type SagaAction } from '../../domain/place-order-saga.js';
import type { OrderChanges } from '../order-changes.js';
import type { OrderRepositoryPort } from '../ports/order.repository.port.js';
import type { PlaceOrderSagaRepositoryPort } from '../ports/saga.repository.port.js';
import type { SagaStep } from '../ports/saga-log.port.js';

export type SagaInput =
  | { readonly kind: 'credit-reserved' }
  | { readonly kind: 'credit-reservation-failed'; readonly reason: RejectionReason }
  | { readonly kind: 'credit-released' }
  | { readonly kind: 'deadline' }
  | { readonly kind: 'order-cancelled' };

const STEP_OF_INPUT: Record<SagaInput['kind'], string> = {
  'credit-reserved': 'credit-reserved',
  'credit-reservation-failed': 'credit-reservation-failed',
  'credit-released': 'credit-released',
  deadline: 'deadline-passed',
  'order-cancelled': 'cancel-requested',
};

/**
 * The orchestrator (orchestration style): drives an order's saga by commands to the Customer
 * module and reacts to its replies. Its state lives in the Order schema and changes in the same
 * transaction as the order and the commands it sends; the optimistic version makes concurrent
 * replies for one saga serialise (the loser is retried by the inbox).
 */
export class PlaceOrderSagaOrchestrator {
  constructor(
    private readonly sagas: PlaceOrderSagaRepositoryPort,
    private readonly orders: OrderRepositoryPort,
    private readonly changes: OrderChanges,
    private readonly clock: Clock,
  ) {}

  /** Called in the transaction that places the order. */
  async start(order: Order, context: MessageContext): Promise<void> {
    const { saga } = PlaceOrderSaga.start(order.id, order.deadlineAt);
    await this.sagas.add(saga);
    await this.changes.commit(order, context, {
      isNew: true,
      extraMessages: [this.reserveCommand(order, context)],
      stepsAfter: [this.changes.step('reserve-credit', 'sent')],
    });
  }

  /** Applies one input to the saga named by `orderId`; the caller provides the transaction. */
  async handle(orderId: string, input: SagaInput, context: MessageContext): Promise<SagaAction> {
    const saga = await this.sagas.findById(orderId);
    if (!saga) throw new NotFoundError('SAGA_NOT_FOUND', `no place-order saga ${orderId}`, { sagaId: orderId });
    const now = this.clock.now();
    const stateBefore = saga.state;
    const action = this.apply(saga, input, now);
    // Some transitions end the saga without an action (credit released): they must still be saved.
    const moved = saga.state !== stateBefore;
    const received: SagaStep = this.changes.step(
      STEP_OF_INPUT[input.kind],
      moved ? 'received' : 'ignored',
      input.kind === 'credit-reservation-failed' ? input.reason : undefined,
    );
    if (moved) await this.sagas.save(saga);
    if (action.kind === 'none') {
      await this.changes.commitSteps(orderId, [received]);
      return action;
    }
    const order = await this.orders.findByIdForUpdate(orderId);
    if (!order) throw new NotFoundError('ORDER_NOT_FOUND', `order ${orderId} of saga ${orderId} does not exist`, { orderId });
    switch (action.kind) {
      case 'approve-order':
        order.approve(now);
        await this.changes.commit(order, context, { stepsBefore: [received] });
        break;
      case 'reject-order':
        order.reject(action.reason, now);
        await this.changes.commit(order, context, { stepsBefore: [received] });
        break;
      case 'release-credit':
        await this.changes.commit(order, context, {
          stepsBefore: [received],
          extraMessages: [createMessage(ReleaseCreditV1, { orderId, customerId: order.customerId }, context, now)],
          stepsAfter: [this.changes.step('release-credit', 'sent')],
        });
        break;
      case 'reserve-credit':
        await this.changes.commit(order, context, { stepsBefore: [received], extraMessages: [this.reserveCommand(order, context)] });
        break;
    }
    return action;
  }

  private apply(saga: PlaceOrderSaga, input: SagaInput, now: Date): SagaAction {
    switch (input.kind) {
      case 'credit-reserved':
        return saga.onCreditReserved();
      case 'credit-reservation-failed':
        return saga.onCreditReservationFailed(input.reason);
      case 'credit-released':
        return saga.onCreditReleased();
      case 'deadline':
        return saga.onDeadline(now);
      case 'order-cancelled':
        return saga.onOrderCancelled();
    }
  }

  private reserveCommand(order: Order, context: MessageContext) {
    return createMessage(
      ReserveCreditV1,
      { orderId: order.id, customerId: order.customerId, amount: order.total.toJSON() },
      context,
      this.clock.now(),
    );
  }
}
