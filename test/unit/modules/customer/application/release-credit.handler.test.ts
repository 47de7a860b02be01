import { describe, expect, it } from 'vitest';
import { CreditReleasedV1, ReleaseCreditV1 } from '../../../../../src/modules/customer/contract/index.js';
import { OrderCancelledV1, OrderRejectedV1 } from '../../../../../src/modules/order/contract/index.js';
import { createMessage, traceparent, uuidv7, type MessageContext } from '../../../../../src/shared/kernel/index.js';
import { customerTestbed, type CustomerTestbed } from '../../../../support/fakes/index.js';

const context = (orderId: string): MessageContext => ({ correlationId: orderId, causationId: null, traceparent: traceparent() });

async function withReservation(tb: CustomerTestbed, amount = 6_000): Promise<{ customerId: string; orderId: string }> {
  const customer = await tb.customer(10_000);
  const orderId = uuidv7();
  await tb.reserve(orderId, customer.id, { amount, currency: 'USD' });
  expect(tb.reservations.stored(orderId)?.status).toBe('RESERVED');
  return { customerId: customer.id, orderId };
}

describe('ReleaseCreditHandler', () => {
  it('gives the reserved credit back and publishes customer.credit-released.v1', async () => {
    const tb = customerTestbed();
    const { customerId, orderId } = await withReservation(tb);
    const ctx = { correlationId: orderId, causationId: uuidv7(), traceparent: traceparent() };

    const cause = await tb.release(orderId, customerId, ctx);

    expect(tb.customers.stored(customerId)).toMatchObject({ availableCredit: { amount: 10_000 }, version: 3 });
    expect(tb.reservations.stored(orderId)?.status).toBe('RELEASED');
    expect(tb.bus.publishedOf(CreditReleasedV1)).toEqual([
      expect.objectContaining({
        correlationId: orderId,
        causationId: cause.id,
        payload: { orderId, customerId, amount: { amount: 6_000, currency: 'USD' } },
      }),
    ]);
  });

  it('gives back once when asked twice', async () => {
    const tb = customerTestbed();
    const { customerId, orderId } = await withReservation(tb);
    await tb.release(orderId, customerId);
    await tb.release(orderId, customerId);
    expect(tb.customers.stored(customerId)?.availableCredit.amount).toBe(10_000);
    expect(tb.bus.publishedOf(CreditReleasedV1)).toHaveLength(1);
  });

  it('leaves a RELEASED marker when nothing was reserved, and publishes nothing', async () => {
    const tb = customerTestbed();
    const customer = await tb.customer(10_000);
    const orderId = uuidv7();

    await tb.release(orderId, customer.id);

    expect(tb.reservations.stored(orderId)).toMatchObject({
      customerId: customer.id,
      status: 'RELEASED',
      amount: { amount: 0, currency: 'USD' },
    });
    expect(tb.customers.stored(customer.id)).toMatchObject({ availableCredit: { amount: 10_000 }, version: 1 });
    expect(tb.bus.published).toEqual([]);
    // The marker is a release: a second one finds it and changes nothing.
    await tb.release(orderId, customer.id);
    expect(tb.reservations.stored(orderId)).toMatchObject({ status: 'RELEASED', amount: { amount: 0 } });
    expect(tb.customers.stored(customer.id)?.version).toBe(1);
    expect(tb.bus.published).toEqual([]);
  });

  it('ignores a customer that does not exist', async () => {
    const tb = customerTestbed();
    const orderId = uuidv7();
    await tb.release(orderId, uuidv7());
    expect(tb.reservations.size).toBe(0);
    expect(tb.bus.published).toEqual([]);
  });

  it('leaves the credit held when storing the release fails', async () => {
    const tb = customerTestbed();
    const { customerId, orderId } = await withReservation(tb);
    const before = tb.bus.published.length;
    tb.reservations.failNext('save');

    await expect(tb.release(orderId, customerId)).rejects.toThrow(/save failed/);

    expect(tb.customers.stored(customerId)).toMatchObject({ availableCredit: { amount: 4_000 }, version: 2 });
    expect(tb.reservations.stored(orderId)?.status).toBe('RESERVED');
    expect(tb.bus.published).toHaveLength(before);
  });

  it.each([
    ['order.cancelled.v1 (choreography)', 'cancelled'],
    ['order.rejected.v1 (choreography)', 'rejected'],
    ['customer.release-credit.v1 (orchestration)', 'command'],
  ] as const)('runs on %s, correlated with and caused by it', async (_label, kind) => {
    const tb = customerTestbed();
    const { customerId, orderId } = await withReservation(tb);
    const ctx = context(orderId);
    const cause =
      kind === 'cancelled'
        ? createMessage(OrderCancelledV1, { orderId, customerId, total: { amount: 6_000, currency: 'USD' } }, ctx)
        : kind === 'rejected'
          ? createMessage(OrderRejectedV1, { orderId, customerId, reason: 'TIMEOUT' }, ctx)
          : createMessage(ReleaseCreditV1, { orderId, customerId }, ctx);

    await tb.deliver('customer.release-credit', cause);

    expect(tb.customers.stored(customerId)?.availableCredit.amount).toBe(10_000);
    expect(tb.bus.publishedOf(CreditReleasedV1)).toEqual([expect.objectContaining({ correlationId: orderId, causationId: cause.id })]);
  });
});
