import type { Money } from '../../../shared/kernel/index.js';

export type CreditRefusal = 'CREDIT_LIMIT_EXCEEDED' | 'CURRENCY_MISMATCH';

/** Credit can be reserved when it is in the limit's currency and the available credit covers it. */
export function creditRefusal(available: Money, requested: Money): CreditRefusal | null {
  if (!available.sameCurrency(requested)) return 'CURRENCY_MISMATCH';
  if (!available.greaterThanOrEqual(requested)) return 'CREDIT_LIMIT_EXCEEDED';
  return null;
}
