import type { ModuleInbox } from '../../../shared/contract/routing.js';

/** The use cases the Customer module runs for incoming messages, and where their deliveries wait. */
export const CUSTOMER_USE_CASES = {
  reserveCredit: 'customer.reserve-credit',
  releaseCredit: 'customer.release-credit',
} as const;

/** Declared `as const`: the module's subscriptions are checked against these routes by the compiler. */
export const customerInbox = {
  module: 'customer',
  schema: 'customers',
  routes: [
    { useCase: CUSTOMER_USE_CASES.reserveCredit, messageType: 'order.created.v1', styles: ['choreography'], key: 'customerId' },
    { useCase: CUSTOMER_USE_CASES.reserveCredit, messageType: 'customer.reserve-credit.v1', styles: ['orchestration'], key: 'customerId' },
    {
      useCase: CUSTOMER_USE_CASES.releaseCredit,
      messageType: 'order.rejected.v1',
      styles: ['choreography'],
      key: 'customerId',
      unblocksSaga: true,
    },
    {
      useCase: CUSTOMER_USE_CASES.releaseCredit,
      messageType: 'order.cancelled.v1',
      styles: ['choreography'],
      key: 'customerId',
      unblocksSaga: true,
    },
    {
      useCase: CUSTOMER_USE_CASES.releaseCredit,
      messageType: 'customer.release-credit.v1',
      styles: ['orchestration'],
      key: 'customerId',
      unblocksSaga: true,
    },
  ],
  publishes: ['customer.credit-reserved.v1', 'customer.credit-reservation-failed.v1', 'customer.credit-released.v1'],
} as const satisfies ModuleInbox;
