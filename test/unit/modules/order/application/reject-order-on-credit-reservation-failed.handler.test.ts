import { describe, expect, it } from 'vitest';
import { CreditReleasedV1, CreditReservationFailedV1, CreditReservedV1 } from '../../../../../src/modules/customer/contract/index.js';
import { OrderRejectedV1 } from '../../../../../src/modules/order/contract/index.js';
import { createMessage, NotFoundError, traceparent, uuidv7 } from '../../../../../src/shared/kernel/index.js';
import { orderTestbed } from '../../../../support/fakes/index.js';

describe('RejectOrderOnCreditReservationFailed (choreography)', () => {
  it.each(['CREDIT_LIMIT_EXCEEDED', 'CUSTOMER_NOT_FOUND', 'CURRENCY_MISMATCH'] as const)(
    'rejects the PENDING order with %s and publishes order.rejected.v1',
    async (reason) => {
      const tb = orderTestbed();
      const order = await tb.order();
      const reply = tb.replyTo(tb.creditRequestOf(order.id), CreditReservationFailedV1, {
        orderId: order.id,
        customerId: order.customerId,
        reason,
      });

      await tb.deliver('order.reject-order', reply);

      expect(tb.orders.stored(order.id)).toMatchObject({ status: 'REJECTED', rejectionReason: reason, decidedAt: tb.clock.now() });
      expect(tb.bus.publishedOf(OrderRejectedV1)).toEqual([
        expect.objectContaining({
          correlationId: order.id,
          causationId: reply.id,
          payload: { orderId: order.id, customerId: order.customerId, reason },
        }),
      ]);
      expect(tb.sagaLog.names(order.id)).toEqual([
        'order-placed:done',
        `credit-reservation-failed:received:${reason}`,
        `order-rejected:done:${reason}`,
      ]);
    },
  );

  it('leaves an APPROVED order as it is', async () => {
    const tb = orderTestbed();
    const order = await tb.order();
    const request = tb.creditRequestOf(order.id);
    await tb.deliver(
      'order.approve-order',
      tb.replyTo(request, CreditReservedV1, { orderId: order.id, customerId: order.customerId, amount: order.total }),
    );

    await tb.deliver(
      'order.reject-order',
      tb.replyTo(request, CreditReservationFailedV1, { orderId: order.id, customerId: order.customerId, reason: 'CREDIT_LIMIT_EXCEEDED' }),
    );

    expect(tb.orders.stored(order.id)).toMatchObject({ status: 'APPROVED', rejectionReason: null });
    expect(tb.bus.publishedOf(OrderRejectedV1)).toEqual([]);
    expect(tb.sagaLog.names(order.id).at(-1)).toBe('credit-reservation-failed:ignored:CREDIT_LIMIT_EXCEEDED');
  });

  it('fails with ORDER_NOT_FOUND for an unknown order', async () => {
    const tb = orderTestbed();
    const orderId = uuidv7();
    const reply = createMessage(
      CreditReservationFailedV1,
      { orderId, customerId: uuidv7(), reason: 'CUSTOMER_NOT_FOUND' },
      { correlationId: orderId, causationId: null, traceparent: traceparent() },
    );
    await expect(tb.deliver('order.reject-order', reply)).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('RecordCreditReleaseOnCreditReleased (choreography)', () => {
  it('adds the release to the order’s saga history and changes nothing else', async () => {
    const tb = orderTestbed();
    const order = await tb.order();
    const published = tb.bus.published.length;

    await tb.deliver(
      'order.record-credit-release',
      tb.replyTo(tb.creditRequestOf(order.id), CreditReleasedV1, { orderId: order.id, customerId: order.customerId, amount: order.total }),
    );

    expect(tb.sagaLog.names(order.id)).toEqual(['order-placed:done', 'credit-released:received']);
    expect(tb.orders.stored(order.id)).toMatchObject({ status: 'PENDING', version: 1 });
    expect(tb.bus.published).toHaveLength(published);
  });
});
