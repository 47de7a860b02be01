import { z } from 'zod';
import { defineMessage } from '../../../shared/kernel/index.js';
import { positiveMoneySchema } from '../../../shared/contract/money.schema.js';

/**
 * Messages the Customer module publishes, and the commands it accepts. Payload objects accept
 * added fields (they are dropped), so a newer producer never breaks an older consumer.
 */
export const CREDIT_RESERVATION_FAILURE_REASONS = ['CREDIT_LIMIT_EXCEEDED', 'CUSTOMER_NOT_FOUND', 'CURRENCY_MISMATCH'] as const;
export type CreditReservationFailureReason = (typeof CREDIT_RESERVATION_FAILURE_REASONS)[number];

const creditReserved = z.object({
  orderId: z.uuid(),
  customerId: z.uuid(),
  amount: positiveMoneySchema,
});
export const CreditReservedV1 = defineMessage('customer.credit-reserved.v1', 'event', creditReserved);
export type CreditReservedV1 = z.infer<typeof creditReserved>;

const creditReservationFailed = z.object({
  orderId: z.uuid(),
  customerId: z.uuid(),
  reason: z.enum(CREDIT_RESERVATION_FAILURE_REASONS),
});
export const CreditReservationFailedV1 = defineMessage('customer.credit-reservation-failed.v1', 'event', creditReservationFailed);
export type CreditReservationFailedV1 = z.infer<typeof creditReservationFailed>;

const creditReleased = z.object({
  orderId: z.uuid(),
  customerId: z.uuid(),
  amount: positiveMoneySchema,
});
export const CreditReleasedV1 = defineMessage('customer.credit-released.v1', 'event', creditReleased);
export type CreditReleasedV1 = z.infer<typeof creditReleased>;

/** Command (orchestration): reserve credit for an order; the reply names the saga (correlationId). */
const reserveCredit = z.object({
  orderId: z.uuid(),
  customerId: z.uuid(),
  amount: positiveMoneySchema,
});
export const ReserveCreditV1 = defineMessage('customer.reserve-credit.v1', 'command', reserveCredit);
export type ReserveCreditV1 = z.infer<typeof reserveCredit>;

/** Command (orchestration): give back the credit reserved for an order, if any. */
const releaseCredit = z.object({
  orderId: z.uuid(),
  customerId: z.uuid(),
});
export const ReleaseCreditV1 = defineMessage('customer.release-credit.v1', 'command', releaseCredit);
export type ReleaseCreditV1 = z.infer<typeof releaseCredit>;
