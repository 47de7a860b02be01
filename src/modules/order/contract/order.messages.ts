import { z } from 'zod';
import { defineMessage } from '../../../shared/kernel/index.js';
import { positiveMoneySchema } from '../../../shared/contract/money.schema.js';

/**
 * Messages the Order module publishes. Payload objects accept added fields (they are dropped),
 * so a newer producer never breaks an older consumer during a rolling deploy.
 */
export const ORDER_REJECTION_REASONS = ['CREDIT_LIMIT_EXCEEDED', 'CUSTOMER_NOT_FOUND', 'CURRENCY_MISMATCH', 'TIMEOUT'] as const;
export type OrderRejectionReason = (typeof ORDER_REJECTION_REASONS)[number];

const orderCreated = z.object({
  orderId: z.uuid(),
  customerId: z.uuid(),
  total: positiveMoneySchema,
});
export const OrderCreatedV1 = defineMessage('order.created.v1', 'event', orderCreated);
export type OrderCreatedV1 = z.infer<typeof orderCreated>;

const orderApproved = z.object({
  orderId: z.uuid(),
  customerId: z.uuid(),
  total: positiveMoneySchema,
});
export const OrderApprovedV1 = defineMessage('order.approved.v1', 'event', orderApproved);
export type OrderApprovedV1 = z.infer<typeof orderApproved>;

const orderRejected = z.object({
  orderId: z.uuid(),
  customerId: z.uuid(),
  // A plain string: a reason added later must not dead-letter an older consumer.
  reason: z.string().min(1).max(100),
});
export const OrderRejectedV1 = defineMessage('order.rejected.v1', 'event', orderRejected);
export type OrderRejectedV1 = z.infer<typeof orderRejected>;

const orderCancelled = z.object({
  orderId: z.uuid(),
  customerId: z.uuid(),
  total: positiveMoneySchema,
});
export const OrderCancelledV1 = defineMessage('order.cancelled.v1', 'event', orderCancelled);
export type OrderCancelledV1 = z.infer<typeof orderCancelled>;
