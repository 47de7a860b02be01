import { describe, expect, it } from 'vitest';
import { Order, type OrderStatus } from '../../../../../src/modules/order/domain/order.aggregate.js';
import { ConflictError, Money } from '../../../../../src/shared/kernel/index.js';

const ORDER = '01900000-0000-7000-8000-00000000000a';
const CUSTOMER = '01900000-0000-7000-8000-000000000001';
const PLACED = new Date('2026-03-01T09:00:00.000Z');
const DEADLINE = new Date('2026-03-01T09:01:00.000Z');
const LATER = new Date('2026-03-01T09:00:05.000Z');
const usd = (n: number) => Money.of(n, 'USD');

function pending(): Order {
  const order = Order.place(ORDER, CUSTOMER, usd(6_000), 'choreography', DEADLINE, PLACED);
  order.pullEvents();
  return order;
}

function inStatus(status: OrderStatus): Order {
  const order = pending();
  if (status === 'APPROVED' || status === 'CANCELLED') order.approve(LATER);
  if (status === 'REJECTED') order.reject('CREDIT_LIMIT_EXCEEDED', LATER);
  if (status === 'CANCELLED') order.cancel(LATER);
  order.pullEvents();
  return order;
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

describe('Order.place', () => {
  it('is PENDING, undecided, and records OrderPlaced', () => {
    const order = Order.place(ORDER, CUSTOMER, usd(6_000), 'orchestration', DEADLINE, PLACED);
    expect(order.snapshot()).toEqual({
      id: ORDER,
      customerId: CUSTOMER,
      total: usd(6_000),
      status: 'PENDING',
      rejectionReason: null,
      sagaStyle: 'orchestration',
      deadlineAt: DEADLINE,
      createdAt: PLACED,
      decidedAt: null,
      version: 0,
    });
    expect(order.pullEvents()).toEqual([
      { name: 'OrderPlaced', occurredAt: PLACED, orderId: ORDER, customerId: CUSTOMER, total: usd(6_000) },
    ]);
  });

  it.each([0, -5])('refuses a total of %i with INVALID_AMOUNT', (amount) => {
    expect(thrown(() => Order.place(ORDER, CUSTOMER, usd(amount), 'choreography', DEADLINE, PLACED))).toMatchObject({
      code: 'INVALID_AMOUNT',
      kind: 'validation',
    });
  });
});

describe('Order decisions', () => {
  it('approves a PENDING order and records OrderApproved', () => {
    const order = pending();
    expect(order.approve(LATER)).toBe(true);
    expect(order.status).toBe('APPROVED');
    expect(order.decidedAt).toEqual(LATER);
    expect(order.pullEvents()).toEqual([
      { name: 'OrderApproved', occurredAt: LATER, orderId: ORDER, customerId: CUSTOMER, total: usd(6_000) },
    ]);
  });

  it('rejects a PENDING order with its reason and records OrderRejected', () => {
    const order = pending();
    expect(order.reject('CURRENCY_MISMATCH', LATER)).toBe(true);
    expect(order.status).toBe('REJECTED');
    expect(order.rejectionReason).toBe('CURRENCY_MISMATCH');
    expect(order.decidedAt).toEqual(LATER);
    expect(order.pullEvents()).toEqual([
      { name: 'OrderRejected', occurredAt: LATER, orderId: ORDER, customerId: CUSTOMER, reason: 'CURRENCY_MISMATCH' },
    ]);
  });

  it.each<OrderStatus>(['APPROVED', 'REJECTED', 'CANCELLED'])('ignores a late approval or rejection of a %s order', (status) => {
    const order = inStatus(status);
    const before = order.snapshot();
    expect(order.approve(new Date('2026-03-01T10:00:00Z'))).toBe(false);
    expect(order.reject('TIMEOUT', new Date('2026-03-01T10:00:00Z'))).toBe(false);
    expect(order.snapshot()).toEqual(before);
    expect(order.peekEvents()).toEqual([]);
  });

  it('cancels an APPROVED order and records OrderCancelled', () => {
    const order = inStatus('APPROVED');
    order.cancel(DEADLINE);
    expect(order.status).toBe('CANCELLED');
    expect(order.pullEvents()).toEqual([
      { name: 'OrderCancelled', occurredAt: DEADLINE, orderId: ORDER, customerId: CUSTOMER, total: usd(6_000) },
    ]);
  });

  it.each<OrderStatus>(['PENDING', 'REJECTED', 'CANCELLED'])('refuses to cancel a %s order with ORDER_NOT_CANCELLABLE', (status) => {
    const order = inStatus(status);
    const error = thrown(() => order.cancel(DEADLINE));
    expect(error).toBeInstanceOf(ConflictError);
    expect(error).toMatchObject({ code: 'ORDER_NOT_CANCELLABLE', details: { orderId: ORDER, status } });
    expect(order.status).toBe(status);
    expect(order.peekEvents()).toEqual([]);
  });
});

describe('Order.isOverdue', () => {
  it('is overdue from its deadline on while PENDING', () => {
    const order = pending();
    expect(order.isOverdue(new Date(DEADLINE.getTime() - 1))).toBe(false);
    expect(order.isOverdue(DEADLINE)).toBe(true);
    expect(order.isOverdue(new Date(DEADLINE.getTime() + 60_000))).toBe(true);
  });

  it.each<OrderStatus>(['APPROVED', 'REJECTED', 'CANCELLED'])('is never overdue once %s', (status) => {
    expect(inStatus(status).isOverdue(new Date(DEADLINE.getTime() + 60_000))).toBe(false);
  });
});

describe('Order.rehydrate', () => {
  it('restores every field without events', () => {
    const original = inStatus('REJECTED');
    const copy = Order.rehydrate({ ...original.snapshot(), version: 4 });
    expect(copy.snapshot()).toEqual({ ...original.snapshot(), version: 4 });
    expect(copy.peekEvents()).toEqual([]);
  });
});
