import { describe, expect, it } from 'vitest';
import { CreditReservation } from '../../../../../src/modules/customer/domain/credit-reservation.entity.js';
import { Money } from '../../../../../src/shared/kernel/index.js';

const ORDER = '01900000-0000-7000-8000-00000000000a';
const CUSTOMER = '01900000-0000-7000-8000-000000000001';

describe('CreditReservation', () => {
  it('is RESERVED and new when credit is reserved', () => {
    const r = CreditReservation.reserved(ORDER, CUSTOMER, Money.of(600, 'USD'));
    expect(r).toMatchObject({ orderId: ORDER, customerId: CUSTOMER, status: 'RESERVED', isNew: true });
    expect(r.isReserved()).toBe(true);
    expect(r.amount.equals(Money.of(600, 'USD'))).toBe(true);
  });

  it('is a new RELEASED marker of zero in the customer’s currency when released before any reservation', () => {
    const r = CreditReservation.releasedBeforeReservation(ORDER, CUSTOMER, 'EUR');
    expect(r).toMatchObject({ orderId: ORDER, customerId: CUSTOMER, status: 'RELEASED', isNew: true });
    expect(r.isReserved()).toBe(false);
    expect(r.amount.equals(Money.zero('EUR'))).toBe(true);
  });

  it('is not new when loaded from storage, and keeps its status', () => {
    const r = CreditReservation.rehydrate(ORDER, CUSTOMER, Money.of(600, 'USD'), 'RELEASED');
    expect(r.isNew).toBe(false);
    expect(r.status).toBe('RELEASED');
  });

  it('becomes RELEASED when marked so, and stays so', () => {
    const r = CreditReservation.rehydrate(ORDER, CUSTOMER, Money.of(600, 'USD'), 'RESERVED');
    r.markReleased();
    expect(r.status).toBe('RELEASED');
    r.markReleased();
    expect(r.isReserved()).toBe(false);
  });
});
