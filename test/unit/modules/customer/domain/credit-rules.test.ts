import { describe, expect, it } from 'vitest';
import { creditRefusal } from '../../../../../src/modules/customer/domain/credit-rules.js';
import { Money } from '../../../../../src/shared/kernel/index.js';

const usd = (n: number) => Money.of(n, 'USD');

describe('creditRefusal', () => {
  it.each([
    ['less than available', 4_000, usd(3_999), null],
    ['exactly what is available', 4_000, usd(4_000), null],
    ['one minor unit more than available', 4_000, usd(4_001), 'CREDIT_LIMIT_EXCEEDED'],
    ['anything when nothing is available', 0, usd(1), 'CREDIT_LIMIT_EXCEEDED'],
    ['another currency that would fit', 4_000, Money.of(1, 'EUR'), 'CURRENCY_MISMATCH'],
    ['another currency that would not fit (currency is checked first)', 4_000, Money.of(9_000, 'EUR'), 'CURRENCY_MISMATCH'],
  ])('%s', (_label, available, requested, expected) => {
    expect(creditRefusal(usd(available), requested)).toBe(expected);
  });
});
