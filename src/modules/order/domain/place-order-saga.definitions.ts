import type { SagaDefinition } from '../../../shared/kernel/index.js';

export type PlaceOrderSagaState =
  'AWAITING_CREDIT' | 'APPROVED' | 'REJECTED' | 'AWAITING_CREDIT_RELEASE' | 'CANCELLED' | 'COMPENSATING' | 'COMPENSATED';

/** What can happen to the saga: the Customer module's replies, its deadline, the order's cancellation. */
export type PlaceOrderSagaInput = 'credit-reserved' | 'credit-reservation-failed' | 'credit-released' | 'deadline' | 'order-cancelled';

/** What the orchestrator does after a step (starting sends `reserve-credit`, outside the table). */
export type PlaceOrderSagaActionKind = 'approve-order' | 'reject-order' | 'release-credit' | 'none';

export type PlaceOrderSagaDefinition = SagaDefinition<PlaceOrderSagaState, PlaceOrderSagaInput, PlaceOrderSagaActionKind>;

/**
 * Version 1 of the place-order saga. Never edit a released version (`npm run contracts:check`
 * refuses it): instances started under it may be waiting for a reply. Add a version beside it.
 */
export const PLACE_ORDER_SAGA_V1: PlaceOrderSagaDefinition = {
  saga: 'place-order',
  version: 1,
  initial: 'AWAITING_CREDIT',
  states: ['AWAITING_CREDIT', 'APPROVED', 'REJECTED', 'AWAITING_CREDIT_RELEASE', 'CANCELLED', 'COMPENSATING', 'COMPENSATED'],
  transitions: [
    { from: 'AWAITING_CREDIT', on: 'credit-reserved', to: 'APPROVED', action: 'approve-order' },
    { from: 'AWAITING_CREDIT', on: 'credit-reservation-failed', to: 'REJECTED', action: 'reject-order' },
    { from: 'AWAITING_CREDIT', on: 'deadline', to: 'REJECTED', action: 'reject-order' },
    // A reservation that arrives after the saga gave up is compensated.
    { from: 'REJECTED', on: 'credit-reserved', to: 'COMPENSATING', action: 'release-credit' },
    { from: 'COMPENSATING', on: 'credit-released', to: 'COMPENSATED', action: 'none' },
    { from: 'APPROVED', on: 'order-cancelled', to: 'AWAITING_CREDIT_RELEASE', action: 'release-credit' },
    { from: 'AWAITING_CREDIT_RELEASE', on: 'credit-released', to: 'CANCELLED', action: 'none' },
  ],
};

/**
 * Every version this release handles, oldest first; new instances start under the last one. A
 * version leaves this list only when `GET /admin/saga-versions` shows none of its instances can
 * still move, else the processes refuse to start, naming it (ADR 37).
 */
export const PLACE_ORDER_SAGA_DEFINITIONS: readonly PlaceOrderSagaDefinition[] = [PLACE_ORDER_SAGA_V1];
