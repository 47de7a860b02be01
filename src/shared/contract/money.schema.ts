import { z } from 'zod';

/* Wire vocabulary shared by every module contract (imports only zod). */

/** Money on the wire: integer minor units (bounded to JavaScript's safe integers) and an ISO-4217 code. */
export const moneySchema = z.object({
  amount: z.number().int().min(-Number.MAX_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER),
  currency: z.string().regex(/^[A-Z]{3}$/),
});

export type MoneyPayload = z.infer<typeof moneySchema>;

/** An amount that must be positive: order totals, reservations, releases. */
export const positiveMoneySchema = moneySchema.extend({ amount: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER) });
