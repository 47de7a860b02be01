import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DomainError, Money, ValidationError } from '../../../../src/shared/kernel/index.js';

/** Runs `fn`, which must throw, and returns what it threw. */
function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

function expectValidationError(fn: () => unknown, code: string): ValidationError {
  const error = thrownBy(fn);
  expect(error).toBeInstanceOf(ValidationError);
  expect(error).toBeInstanceOf(DomainError);
  expect(error).toMatchObject({ code, kind: 'validation', name: 'ValidationError' });
  return error as ValidationError;
}

const MAX = Number.MAX_SAFE_INTEGER;

describe('Money.of', () => {
  it('keeps integer minor units and the currency', () => {
    const m = Money.of(1999, 'USD');
    expect(m.amount).toBe(1999);
    expect(m.currency).toBe('USD');
    expect(m.toJSON()).toEqual({ amount: 1999, currency: 'USD' });
    expect(JSON.stringify(m)).toBe('{"amount":1999,"currency":"USD"}');
    expect(m.toString()).toBe('1999 USD (minor units)');
  });

  it('accepts zero, negative amounts and the safe-integer bounds', () => {
    expect(Money.of(0, 'EUR').amount).toBe(0);
    expect(Money.of(-5, 'EUR').amount).toBe(-5);
    expect(Money.of(MAX, 'EUR').amount).toBe(MAX);
    expect(Money.of(-MAX, 'EUR').amount).toBe(-MAX);
  });

  it.each([
    ['fractional', 10.5],
    ['tiny fraction', 0.1],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['2**53', 2 ** 53],
    ['-(2**53)', -(2 ** 53)],
    ['MAX_SAFE_INTEGER + 2', MAX + 2],
    ['1e300 (an "integer" per Number.isInteger)', 1e300],
  ])('refuses a %s amount with INVALID_AMOUNT', (_label, amount) => {
    const error = expectValidationError(() => Money.of(amount, 'USD'), 'INVALID_AMOUNT');
    expect(error.message).toContain(String(amount));
  });

  it.each([
    ['a string', '100'],
    ['a bigint', 100n],
    ['null', null],
    ['undefined', undefined],
    ['an object', { valueOf: (): number => 100 }],
  ])('refuses %s as the amount with INVALID_AMOUNT', (_label, amount) => {
    expectValidationError(() => Money.of(amount as unknown as number, 'USD'), 'INVALID_AMOUNT');
  });

  it.each(['usd', 'Usd', 'US', 'USDX', '', ' USD', 'USD ', 'USD\n', 'U$D', '123', 'ÉUR', 'XYZ', 'SSO', 'ABC'])(
    'refuses the currency %j with INVALID_CURRENCY',
    (currency) => {
      expectValidationError(() => Money.of(100, currency), 'INVALID_CURRENCY');
    },
  );

  it.each(['USD', 'EUR', 'JPY', 'GBP', 'CHF', 'BRL'])('accepts the ISO 4217 currency %s', (currency) => {
    expect(Money.of(1, currency).currency).toBe(currency);
  });

  it('refuses a non-string currency with INVALID_CURRENCY', () => {
    expectValidationError(() => Money.of(100, undefined as unknown as string), 'INVALID_CURRENCY');
    expectValidationError(() => Money.of(100, null as unknown as string), 'INVALID_CURRENCY');
    expectValidationError(() => Money.of(100, 840 as unknown as string), 'INVALID_CURRENCY');
  });

  it('checks the currency before the amount', () => {
    expectValidationError(() => Money.of(Number.NaN, 'usd'), 'INVALID_CURRENCY');
  });
});

describe('Money.zero and Money.fromJson', () => {
  it('zero is zero in the currency', () => {
    const z = Money.zero('JPY');
    expect(z.amount).toBe(0);
    expect(z.currency).toBe('JPY');
    expect(z.isPositive()).toBe(false);
    expect(z.isNegative()).toBe(false);
    expectValidationError(() => Money.zero('jpy'), 'INVALID_CURRENCY');
  });

  it('round-trips through JSON', () => {
    const m = Money.of(-42, 'GBP');
    expect(Money.fromJson(JSON.parse(JSON.stringify(m)) as { amount: number; currency: string }).equals(m)).toBe(true);
  });

  it('validates what it is given like Money.of', () => {
    expectValidationError(() => Money.fromJson({ amount: 1.25, currency: 'USD' }), 'INVALID_AMOUNT');
    expectValidationError(() => Money.fromJson({ amount: 1e300, currency: 'USD' }), 'INVALID_AMOUNT');
    expectValidationError(() => Money.fromJson({ amount: 1, currency: 'usd' }), 'INVALID_CURRENCY');
    expectValidationError(
      () => Money.fromJson({ amount: '1', currency: 'USD' } as unknown as { amount: number; currency: string }),
      'INVALID_AMOUNT',
    );
  });
});

describe('Money arithmetic', () => {
  const usd = (n: number) => Money.of(n, 'USD');
  const eur = (n: number) => Money.of(n, 'EUR');

  it('adds and subtracts in the same currency without mutating the operands', () => {
    const a = usd(1000);
    const b = usd(250);
    expect(a.add(b).equals(usd(1250))).toBe(true);
    expect(a.subtract(b).equals(usd(750))).toBe(true);
    expect(b.subtract(a).equals(usd(-750))).toBe(true);
    expect(b.subtract(a).isNegative()).toBe(true);
    expect(a.amount).toBe(1000);
    expect(b.amount).toBe(250);
  });

  it.each([
    ['add', (a: Money, b: Money) => a.add(b)],
    ['subtract', (a: Money, b: Money) => a.subtract(b)],
    ['greaterThan', (a: Money, b: Money) => a.greaterThan(b)],
    ['greaterThanOrEqual', (a: Money, b: Money) => a.greaterThanOrEqual(b)],
  ])('%s across currencies throws CURRENCY_MISMATCH with both currencies in details', (_op, op) => {
    const error = expectValidationError(() => op(usd(1), eur(1)), 'CURRENCY_MISMATCH');
    expect(error.details).toEqual({ left: 'USD', right: 'EUR' });
    expect(error.message).toContain('USD');
    expect(error.message).toContain('EUR');
  });

  it('mixed currencies throw even when the amounts are zero', () => {
    expectValidationError(() => Money.zero('USD').add(Money.zero('EUR')), 'CURRENCY_MISMATCH');
  });

  it('equals and sameCurrency compare without throwing', () => {
    expect(usd(1).equals(eur(1))).toBe(false);
    expect(usd(1).sameCurrency(eur(1))).toBe(false);
    expect(usd(1).sameCurrency(usd(2))).toBe(true);
    expect(usd(1).equals(usd(1))).toBe(true);
    expect(usd(1).equals(usd(2))).toBe(false);
  });

  it('compares amounts', () => {
    expect(usd(2).greaterThan(usd(1))).toBe(true);
    expect(usd(1).greaterThan(usd(1))).toBe(false);
    expect(usd(1).greaterThanOrEqual(usd(1))).toBe(true);
    expect(usd(0).greaterThanOrEqual(usd(1))).toBe(false);
    expect(usd(-1).greaterThan(usd(-2))).toBe(true);
  });

  it('refuses results that leave the safe-integer range', () => {
    expectValidationError(() => usd(MAX).add(usd(1)), 'INVALID_AMOUNT');
    expectValidationError(() => usd(MAX).add(usd(MAX)), 'INVALID_AMOUNT');
    expectValidationError(() => usd(-MAX).subtract(usd(1)), 'INVALID_AMOUNT');
    expectValidationError(() => usd(MAX).subtract(usd(-1)), 'INVALID_AMOUNT');
    expect(usd(MAX - 1).add(usd(1)).amount).toBe(MAX);
  });

  it('is exact in minor units (no float drift)', () => {
    let total = Money.zero('USD');
    for (let i = 0; i < 10; i++) total = total.add(usd(10)); // ten times 0.10 USD
    expect(total.equals(usd(100))).toBe(true);
  });

  it('add is commutative and subtract undoes add (property)', () => {
    const amount = fc.integer({ min: -(2 ** 40), max: 2 ** 40 });
    fc.assert(
      fc.property(amount, amount, (a, b) => {
        expect(
          usd(a)
            .add(usd(b))
            .equals(usd(b).add(usd(a))),
        ).toBe(true);
        expect(usd(a).add(usd(b)).subtract(usd(b)).equals(usd(a))).toBe(true);
        expect(usd(a).greaterThanOrEqual(usd(b))).toBe(a >= b);
        expect(usd(a).greaterThan(usd(b))).toBe(a > b);
      }),
    );
  });

  it('any result of add/subtract is a safe integer or an INVALID_AMOUNT error (property)', () => {
    const amount = fc.integer({ min: -MAX, max: MAX });
    fc.assert(
      fc.property(amount, amount, fc.boolean(), (a, b, adding) => {
        let result: Money | undefined;
        try {
          result = adding ? usd(a).add(usd(b)) : usd(a).subtract(usd(b));
        } catch (error) {
          expect(error).toMatchObject({ code: 'INVALID_AMOUNT' });
          return;
        }
        expect(Number.isSafeInteger(result.amount)).toBe(true);
      }),
    );
  });
});
