import { describe, expect, it } from 'vitest';
import { CreditReservationFailedV1, CreditReservedV1, ReserveCreditV1 } from '../../../../../src/modules/customer/contract/index.js';
import { OrderCreatedV1 } from '../../../../../src/modules/order/contract/index.js';
import { createMessage, traceparent, uuidv7, type Envelope, type MoneyJson } from '../../../../../src/shared/kernel/index.js';
import { customerTestbed, type CustomerTestbed } from '../../../../support/fakes/index.js';

const usd = (amount: number): MoneyJson => ({ amount, currency: 'USD' });

/** order.created.v1 as the Order module sends it: the saga's first message. */
function orderCreated(tb: CustomerTestbed, customerId: string, total: MoneyJson, orderId = uuidv7()): Envelope<OrderCreatedV1> {
  return createMessage(
    OrderCreatedV1,
    { orderId, customerId, total },
    { correlationId: orderId, causationId: null, traceparent: traceparent() },
    tb.clock.now(),
  );
}

const traceIdOf = (tp: string) => tp.slice(3, 35);

describe('ReserveCreditHandler', () => {
  it('reserves the credit and replies customer.credit-reserved.v1, correlated with and caused by the request', async () => {
    const tb = customerTestbed();
    const customer = await tb.customer(10_000);
    const cause = orderCreated(tb, customer.id, usd(6_000));

    await tb.deliver('customer.reserve-credit', cause);

    expect(tb.customers.stored(customer.id)).toMatchObject({ availableCredit: { amount: 4_000, currency: 'USD' }, version: 2 });
    expect(tb.reservations.stored(cause.payload.orderId)).toMatchObject({
      customerId: customer.id,
      status: 'RESERVED',
      amount: { amount: 6_000 },
    });
    const [reply, ...rest] = tb.bus.published;
    expect(rest).toEqual([]);
    expect(reply).toMatchObject({
      type: 'customer.credit-reserved.v1',
      correlationId: cause.correlationId,
      causationId: cause.id,
      occurredAt: tb.clock.now().toISOString(),
      payload: { orderId: cause.payload.orderId, customerId: customer.id, amount: usd(6_000) },
    });
    expect(traceIdOf(reply!.traceparent)).toBe(traceIdOf(cause.traceparent));
  });

  it('serves the orchestrator’s command the same way', async () => {
    const tb = customerTestbed();
    const customer = await tb.customer(10_000);
    const orderId = uuidv7();
    const command = createMessage(
      ReserveCreditV1,
      { orderId, customerId: customer.id, amount: usd(2_500) },
      { correlationId: orderId, causationId: uuidv7(), traceparent: traceparent() },
    );

    await tb.deliver('customer.reserve-credit', command);

    expect(tb.bus.publishedOf(CreditReservedV1)).toEqual([
      expect.objectContaining({
        correlationId: orderId,
        causationId: command.id,
        payload: { orderId, customerId: customer.id, amount: usd(2_500) },
      }),
    ]);
    expect(tb.customers.stored(customer.id)?.availableCredit.amount).toBe(7_500);
  });

  it('reserves exactly the available credit', async () => {
    const tb = customerTestbed();
    const customer = await tb.customer(10_000);
    const orderId = uuidv7();
    await tb.reserve(orderId, customer.id, usd(10_000));
    expect(tb.reservations.stored(orderId)?.status).toBe('RESERVED');
    expect(tb.customers.stored(customer.id)?.availableCredit.amount).toBe(0);
  });

  it.each([
    ['CREDIT_LIMIT_EXCEEDED', usd(10_001)],
    ['CURRENCY_MISMATCH', { amount: 100, currency: 'EUR' }],
  ] as const)('replies %s and holds nothing', async (reason, amount) => {
    const tb = customerTestbed();
    const customer = await tb.customer(10_000);
    const cause = orderCreated(tb, customer.id, amount);

    await tb.deliver('customer.reserve-credit', cause);

    expect(tb.bus.published).toEqual([
      expect.objectContaining({
        type: 'customer.credit-reservation-failed.v1',
        correlationId: cause.correlationId,
        causationId: cause.id,
        payload: { orderId: cause.payload.orderId, customerId: customer.id, reason },
      }),
    ]);
    expect(tb.customers.stored(customer.id)).toMatchObject({ availableCredit: { amount: 10_000 }, version: 1 });
    expect(tb.reservations.size).toBe(0);
  });

  it('replies CUSTOMER_NOT_FOUND for a customer that does not exist', async () => {
    const tb = customerTestbed();
    const stranger = uuidv7();
    const cause = orderCreated(tb, stranger, usd(100));

    await tb.deliver('customer.reserve-credit', cause);

    expect(tb.bus.publishedOf(CreditReservationFailedV1)).toEqual([
      expect.objectContaining({
        correlationId: cause.correlationId,
        causationId: cause.id,
        payload: { orderId: cause.payload.orderId, customerId: stranger, reason: 'CUSTOMER_NOT_FOUND' },
      }),
    ]);
    expect(tb.reservations.size).toBe(0);
  });

  it('has no second effect when the same order asks again (a redelivery or a duplicate)', async () => {
    const tb = customerTestbed();
    const customer = await tb.customer(10_000);
    const cause = orderCreated(tb, customer.id, usd(6_000));

    await tb.deliver('customer.reserve-credit', cause);
    await tb.deliver('customer.reserve-credit', cause);
    await tb.reserve(cause.payload.orderId, customer.id, usd(1_000), {
      correlationId: cause.correlationId,
      causationId: uuidv7(),
      traceparent: traceparent(),
    });

    expect(tb.customers.stored(customer.id)?.availableCredit.amount).toBe(4_000);
    expect(tb.bus.published.map((m) => m.type)).toEqual(['customer.credit-reserved.v1']);
  });

  it('refuses a reservation that arrives after the order’s credit was released', async () => {
    const tb = customerTestbed();
    const customer = await tb.customer(10_000);
    const cause = orderCreated(tb, customer.id, usd(6_000));
    const context = { correlationId: cause.correlationId, causationId: null, traceparent: traceparent() };
    await tb.release(cause.payload.orderId, customer.id, context);

    await tb.reserve(cause.payload.orderId, customer.id, usd(6_000), context);

    expect(tb.customers.stored(customer.id)?.availableCredit.amount).toBe(10_000);
    expect(tb.reservations.stored(cause.payload.orderId)?.status).toBe('RELEASED');
    expect(tb.bus.published).toEqual([]);
  });

  it('leaves nothing half-written when storing the reservation fails', async () => {
    const tb = customerTestbed();
    const customer = await tb.customer(10_000);
    const boom = new Error('connection lost');
    tb.reservations.failNext('save', boom);

    await expect(tb.deliver('customer.reserve-credit', orderCreated(tb, customer.id, usd(6_000)))).rejects.toBe(boom);

    expect(tb.customers.stored(customer.id)).toMatchObject({ availableCredit: { amount: 10_000 }, version: 1 });
    expect(tb.reservations.size).toBe(0);
    expect(tb.bus.published).toEqual([]);
    expect(tb.db.rollbacks).toBe(1);
  });

  it('fails a non-positive amount with INVALID_AMOUNT and replies nothing', async () => {
    const tb = customerTestbed();
    const customer = await tb.customer(10_000);
    const cause = orderCreated(tb, customer.id, usd(1));
    // Past the schema (which refuses it on the wire): the domain refuses it again.
    const zero = { ...cause, payload: { ...cause.payload, total: usd(0) } };
    await expect(tb.deliver('customer.reserve-credit', zero)).rejects.toMatchObject({ code: 'INVALID_AMOUNT' });
    expect(tb.bus.published).toEqual([]);
    expect(tb.reservations.size).toBe(0);
  });
});
