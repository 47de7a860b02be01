import { describe, expect, it } from 'vitest';
import { CreditReservedV1, ReleaseCreditV1 } from '../../../../../src/modules/customer/contract/index.js';
import { OrderCancelledV1 } from '../../../../../src/modules/order/contract/index.js';
import type { SagaStyle } from '../../../../../src/shared/contract/routing.js';
import { ConcurrencyError, ConflictError, NotFoundError, uuidv7 } from '../../../../../src/shared/kernel/index.js';
import { orderTestbed, type OrderTestbed } from '../../../../support/fakes/index.js';

const TRACE = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

/** Places an order and approves it the way its style does. */
async function approvedOrder(tb: OrderTestbed): Promise<string> {
  const order = await tb.order();
  const reply = tb.replyTo(tb.creditRequestOf(order.id), CreditReservedV1, {
    orderId: order.id,
    customerId: order.customerId,
    amount: order.total,
  });
  await tb.deliver(tb.style === 'choreography' ? 'order.approve-order' : 'order.place-order-saga', reply);
  expect(tb.orders.stored(order.id)?.status).toBe('APPROVED');
  return order.id;
}

describe.each<SagaStyle>(['choreography', 'orchestration'])('CancelOrderHandler (%s)', (style) => {
  it('cancels an APPROVED order and publishes order.cancelled.v1 in the order’s saga and the caller’s trace', async () => {
    const tb = orderTestbed({ style });
    const id = await approvedOrder(tb);
    tb.clock.advance(1_000);

    const view = await tb.cancelOrder.execute(id, { traceparent: TRACE });

    expect(view.status).toBe('CANCELLED');
    expect(tb.orders.stored(id)?.status).toBe('CANCELLED');
    const [cancelled] = tb.bus.publishedOf(OrderCancelledV1);
    expect(cancelled).toMatchObject({
      correlationId: id,
      causationId: null,
      payload: { orderId: id, total: { amount: 6_000, currency: 'USD' } },
    });
    expect(cancelled!.traceparent.slice(3, 35)).toBe(TRACE.slice(3, 35));
  });

  it('refuses an order that is not APPROVED with ORDER_NOT_CANCELLABLE, changing nothing', async () => {
    const tb = orderTestbed({ style });
    const order = await tb.order();
    const published = tb.bus.published.length;

    const attempt = tb.cancelOrder.execute(order.id);

    await expect(attempt).rejects.toBeInstanceOf(ConflictError);
    await expect(attempt).rejects.toMatchObject({ code: 'ORDER_NOT_CANCELLABLE' });
    expect(tb.orders.stored(order.id)).toMatchObject({ status: 'PENDING', version: 1 });
    expect(tb.bus.published).toHaveLength(published);
  });

  it('refuses a second cancellation', async () => {
    const tb = orderTestbed({ style });
    const id = await approvedOrder(tb);
    await tb.cancelOrder.execute(id);
    await expect(tb.cancelOrder.execute(id)).rejects.toMatchObject({ code: 'ORDER_NOT_CANCELLABLE' });
    expect(tb.bus.publishedOf(OrderCancelledV1)).toHaveLength(1);
  });

  it('answers ORDER_NOT_FOUND for an unknown order', async () => {
    const tb = orderTestbed({ style });
    const attempt = tb.cancelOrder.execute(uuidv7());
    await expect(attempt).rejects.toBeInstanceOf(NotFoundError);
    await expect(attempt).rejects.toMatchObject({ code: 'ORDER_NOT_FOUND' });
  });
});

describe('CancelOrderHandler, style by style', () => {
  it('choreography: leaves the release to the Customer module (no command)', async () => {
    const tb = orderTestbed({ style: 'choreography' });
    const id = await approvedOrder(tb);
    await tb.cancelOrder.execute(id);
    expect(tb.bus.publishedOf(ReleaseCreditV1)).toEqual([]);
    expect(tb.sagaLog.names(id)).toEqual(['order-placed:done', 'credit-reserved:received', 'order-approved:done', 'order-cancelled:done']);
  });

  it('orchestration: the saga sends customer.release-credit.v1 and awaits the release', async () => {
    const tb = orderTestbed({ style: 'orchestration' });
    const id = await approvedOrder(tb);
    const customerId = tb.orders.stored(id)!.customerId;

    await tb.cancelOrder.execute(id);

    expect(tb.sagas.stored(id)?.state).toBe('AWAITING_CREDIT_RELEASE');
    expect(tb.bus.publishedOf(ReleaseCreditV1)).toEqual([
      expect.objectContaining({ correlationId: id, causationId: null, payload: { orderId: id, customerId } }),
    ]);
    expect(tb.sagaLog.names(id).slice(-3)).toEqual(['order-cancelled:done', 'cancel-requested:received', 'release-credit:sent']);
  });

  it('orchestration: a saga that cannot move leaves the order APPROVED and publishes nothing', async () => {
    const tb = orderTestbed({ style: 'orchestration' });
    const id = await approvedOrder(tb);
    const published = tb.bus.published.length;
    tb.sagas.failNext('save', new ConcurrencyError('place-order saga', id));

    await expect(tb.cancelOrder.execute(id)).rejects.toMatchObject({ code: 'CONCURRENT_MODIFICATION' });

    expect(tb.orders.stored(id)).toMatchObject({ status: 'APPROVED', version: 2 });
    expect(tb.sagas.stored(id)?.state).toBe('APPROVED');
    expect(tb.bus.published).toHaveLength(published);
  });
});
