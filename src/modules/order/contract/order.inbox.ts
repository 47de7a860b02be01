import type { ModuleInbox } from '../../../shared/contract/routing.js';

/** The use cases the Order module runs for incoming messages, and where their deliveries wait. */
export const ORDER_USE_CASES = {
  approveOrder: 'order.approve-order',
  rejectOrder: 'order.reject-order',
  recordCreditRelease: 'order.record-credit-release',
  placeOrderSaga: 'order.place-order-saga',
} as const;

/** Declared `as const`: the module's subscriptions are checked against these routes by the compiler. */
export const orderInbox = {
  module: 'order',
  schema: 'ordering',
  routes: [
    {
      useCase: ORDER_USE_CASES.approveOrder,
      messageType: 'customer.credit-reserved.v1',
      styles: ['choreography'],
      key: 'orderId',
      unblocksSaga: true,
    },
    {
      useCase: ORDER_USE_CASES.rejectOrder,
      messageType: 'customer.credit-reservation-failed.v1',
      styles: ['choreography'],
      key: 'orderId',
      unblocksSaga: true,
    },
    {
      useCase: ORDER_USE_CASES.recordCreditRelease,
      messageType: 'customer.credit-released.v1',
      styles: ['choreography'],
      key: 'orderId',
      unblocksSaga: true,
    },
    {
      useCase: ORDER_USE_CASES.placeOrderSaga,
      messageType: 'customer.credit-reserved.v1',
      styles: ['orchestration'],
      key: 'orderId',
      unblocksSaga: true,
    },
    {
      useCase: ORDER_USE_CASES.placeOrderSaga,
      messageType: 'customer.credit-reservation-failed.v1',
      styles: ['orchestration'],
      key: 'orderId',
      unblocksSaga: true,
    },
    {
      useCase: ORDER_USE_CASES.placeOrderSaga,
      messageType: 'customer.credit-released.v1',
      styles: ['orchestration'],
      key: 'orderId',
      unblocksSaga: true,
    },
  ],
  // Its events, and the commands the orchestrator sends the Customer module.
  publishes: [
    'order.created.v1',
    'order.approved.v1',
    'order.rejected.v1',
    'order.cancelled.v1',
    'customer.reserve-credit.v1',
    'customer.release-credit.v1',
  ],
} as const satisfies ModuleInbox;
