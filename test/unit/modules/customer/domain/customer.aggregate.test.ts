import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CreditReservation } from '../../../../../src/modules/customer/domain/credit-reservation.entity.js';
import { Customer } from '../../../../../src/modules/customer/domain/customer.aggregate.js';
import { Money, ValidationError } from '../../../../../src/shared/kernel/index.js';

const AT = new Date('2026-03-01T09:00:00.000Z');
const usd = (amount: number) => Money.of(amount, 'USD');
const CUSTOMER_ID = '01900000-0000-7000-8000-000000000001';
const ORDER_A = '01900000-0000-7000-8000-00000000000a';
const ORDER_B = '01900000-0000-7000-8000-00000000000b';

/** A customer with the given limit, as loaded from storage (no events pending). */
function customerWith(limit: number, available = limit): Customer {
  return Customer.rehydrate({ id: CUSTOMER_ID, name: 'Ada', creditLimit: usd(limit), availableCredit: usd(available), version: 3 });
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

describe('Customer.register', () => {
  it('starts with all its credit available and records CustomerRegistered', () => {
    const c = Customer.register(CUSTOMER_ID, '  Ada Lovelace ', usd(10_000), AT);
    expect(c.name).toBe('Ada Lovelace');
    expect(c.creditLimit.equals(usd(10_000))).toBe(true);
    expect(c.availableCredit.equals(usd(10_000))).toBe(true);
    expect(c.version).toBe(0);
    expect(c.pullEvents()).toEqual([{ name: 'CustomerRegistered', occurredAt: AT, customerId: CUSTOMER_ID, creditLimit: usd(10_000) }]);
  });

  it('accepts a zero limit', () => {
    expect(Customer.register(CUSTOMER_ID, 'Zed', usd(0), AT).availableCredit.amount).toBe(0);
  });

  it.each([
    ['empty', ''],
    ['only spaces', '   '],
    ['longer than 200 characters', 'x'.repeat(201)],
  ])('refuses a name that is %s with INVALID_CUSTOMER_NAME', (_label, name) => {
    const error = thrown(() => Customer.register(CUSTOMER_ID, name, usd(1), AT));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ code: 'INVALID_CUSTOMER_NAME' });
  });

  it('accepts a name of exactly 200 characters', () => {
    expect(Customer.register(CUSTOMER_ID, 'y'.repeat(200), usd(1), AT).name).toHaveLength(200);
  });

  it('refuses a negative limit with INVALID_CREDIT_LIMIT', () => {
    expect(thrown(() => Customer.register(CUSTOMER_ID, 'Ada', usd(-1), AT))).toMatchObject({
      code: 'INVALID_CREDIT_LIMIT',
      kind: 'validation',
    });
  });

  it('rehydrates without events and with the stored version', () => {
    const c = customerWith(10_000, 4_000);
    expect(c.peekEvents()).toEqual([]);
    expect(c.version).toBe(3);
    expect(c.snapshot()).toEqual({ id: CUSTOMER_ID, name: 'Ada', creditLimit: usd(10_000), availableCredit: usd(4_000), version: 3 });
  });
});

describe('Customer.reserveCredit', () => {
  it('reserves within the limit: less credit available, CreditReserved, a RESERVED reservation', () => {
    const c = customerWith(10_000);
    const outcome = c.reserveCredit(ORDER_A, usd(6_000), AT);
    expect(outcome.reserved).toBe(true);
    if (!outcome.reserved) return;
    expect(outcome.reservation).toMatchObject({ orderId: ORDER_A, customerId: CUSTOMER_ID, status: 'RESERVED', isNew: true });
    expect(outcome.reservation.amount.equals(usd(6_000))).toBe(true);
    expect(c.availableCredit.equals(usd(4_000))).toBe(true);
    expect(c.pullEvents()).toEqual([
      { name: 'CreditReserved', occurredAt: AT, customerId: CUSTOMER_ID, orderId: ORDER_A, amount: usd(6_000) },
    ]);
  });

  it('reserves exactly the available credit, leaving zero', () => {
    const c = customerWith(10_000, 2_500);
    expect(c.reserveCredit(ORDER_A, usd(2_500), AT).reserved).toBe(true);
    expect(c.availableCredit.amount).toBe(0);
  });

  it('refuses one minor unit over the available credit with CREDIT_LIMIT_EXCEEDED, changing nothing', () => {
    const c = customerWith(10_000, 4_000);
    expect(c.reserveCredit(ORDER_B, usd(4_001), AT)).toEqual({ reserved: false, reason: 'CREDIT_LIMIT_EXCEEDED' });
    expect(c.availableCredit.equals(usd(4_000))).toBe(true);
    expect(c.pullEvents()).toEqual([
      { name: 'CreditReservationRefused', occurredAt: AT, customerId: CUSTOMER_ID, orderId: ORDER_B, reason: 'CREDIT_LIMIT_EXCEEDED' },
    ]);
  });

  it('refuses another currency with CURRENCY_MISMATCH, even for an amount that fits', () => {
    const c = customerWith(10_000);
    expect(c.reserveCredit(ORDER_A, Money.of(1, 'EUR'), AT)).toEqual({ reserved: false, reason: 'CURRENCY_MISMATCH' });
    expect(c.availableCredit.equals(usd(10_000))).toBe(true);
    expect(c.pullEvents().map((e) => e.name)).toEqual(['CreditReservationRefused']);
  });

  it.each([0, -1, -10_000])('refuses a reservation of %i with INVALID_AMOUNT and records nothing', (amount) => {
    const c = customerWith(10_000);
    expect(thrown(() => c.reserveCredit(ORDER_A, usd(amount), AT))).toMatchObject({ code: 'INVALID_AMOUNT', kind: 'validation' });
    expect(c.availableCredit.amount).toBe(10_000);
    expect(c.peekEvents()).toEqual([]);
  });
});

describe('Customer.releaseCredit', () => {
  it('gives a reservation back: credit restored, reservation RELEASED, CreditReleased', () => {
    const c = customerWith(10_000);
    const outcome = c.reserveCredit(ORDER_A, usd(6_000), AT);
    if (!outcome.reserved) throw new Error('expected a reservation');
    c.pullEvents();
    expect(c.releaseCredit(outcome.reservation, AT)).toBe(true);
    expect(c.availableCredit.equals(usd(10_000))).toBe(true);
    expect(outcome.reservation.status).toBe('RELEASED');
    expect(c.pullEvents()).toEqual([
      { name: 'CreditReleased', occurredAt: AT, customerId: CUSTOMER_ID, orderId: ORDER_A, amount: usd(6_000) },
    ]);
  });

  it('gives back once when released twice', () => {
    const c = customerWith(10_000);
    const a = c.reserveCredit(ORDER_A, usd(6_000), AT);
    const b = c.reserveCredit(ORDER_B, usd(3_000), AT);
    if (!a.reserved || !b.reserved) throw new Error('expected reservations');
    c.pullEvents();
    expect(c.releaseCredit(a.reservation, AT)).toBe(true);
    expect(c.releaseCredit(a.reservation, AT)).toBe(false);
    expect(c.availableCredit.equals(usd(7_000))).toBe(true);
    expect(c.pullEvents().map((e) => e.name)).toEqual(['CreditReleased']);
  });

  it('never goes above the limit, whatever the stored history says', () => {
    const c = customerWith(10_000, 9_000);
    const stale = CreditReservation.rehydrate(ORDER_A, CUSTOMER_ID, usd(6_000), 'RESERVED');
    expect(c.releaseCredit(stale, AT)).toBe(true);
    expect(c.availableCredit.equals(usd(10_000))).toBe(true);
  });

  it('does not release a RELEASED marker or another customer’s reservation', () => {
    const c = customerWith(10_000, 4_000);
    const marker = CreditReservation.releasedBeforeReservation(ORDER_A, CUSTOMER_ID, 'USD');
    const foreign = CreditReservation.rehydrate(ORDER_B, '01900000-0000-7000-8000-0000000000ff', usd(6_000), 'RESERVED');
    expect(c.releaseCredit(marker, AT)).toBe(false);
    expect(c.releaseCredit(foreign, AT)).toBe(false);
    expect(foreign.status).toBe('RESERVED');
    expect(c.availableCredit.equals(usd(4_000))).toBe(true);
    expect(c.peekEvents()).toEqual([]);
  });
});

describe('Customer credit invariant', () => {
  type Step = { kind: 'reserve'; amount: number; currency: 'USD' | 'EUR' } | { kind: 'release'; pick: number };

  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({
      kind: fc.constant('reserve' as const),
      amount: fc.integer({ min: 1, max: 12_000 }),
      currency: fc.constantFrom('USD' as const, 'USD' as const, 'EUR' as const),
    }),
    fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
  );

  it('keeps 0 <= available <= limit, and available = limit - what is still reserved, under any sequence', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), fc.array(step, { maxLength: 40 }), (limit, steps) => {
        const c = customerWith(limit);
        const reservations: CreditReservation[] = [];
        steps.forEach((s, i) => {
          if (s.kind === 'reserve') {
            const outcome = c.reserveCredit(`order-${i}`, Money.of(s.amount, s.currency), AT);
            if (outcome.reserved) reservations.push(outcome.reservation);
          } else if (reservations.length > 0) {
            c.releaseCredit(reservations[s.pick % reservations.length]!, AT);
          }
          const held = reservations.filter((r) => r.isReserved()).reduce((sum, r) => sum + r.amount.amount, 0);
          expect(c.availableCredit.currency).toBe('USD');
          expect(c.availableCredit.amount).toBeGreaterThanOrEqual(0);
          expect(c.availableCredit.amount).toBeLessThanOrEqual(limit);
          expect(c.availableCredit.amount).toBe(limit - held);
        });
      }),
      { numRuns: 300 },
    );
  });
});
