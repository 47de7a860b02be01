import { describe, expect, it } from 'vitest';
import { CreditReservedV1 } from '../../../../../src/modules/customer/contract/index.js';
import { OrderApprovedV1 } from '../../../../../src/modules/order/contract/index.js';
import { createMessage, NotFoundError, traceparent, uuidv7 } from '../../../../../src/shared/kernel/index.js';
import { orderTestbed } from '../../../../support/fakes/index.js';
import { FixedClock } from '../../../../support/fakes/fixed-clock.js';

/** A clock whose every reading is a millisecond after the last: what a busy machine gives two reads in a row. */
class TickingClock extends FixedClock {
  override now(): Date {
    const reading = super.now();
    this.set(new Date(reading.getTime() + 1));
    return reading;
  }
}

const amount = { amount: 6_000, currency: 'USD' };

describe('ApproveOrderOnCreditReserved (choreography)', () => {
  it('approves the PENDING order and publishes order.approved.v1, caused by the reply', async () => {
    const tb = orderTestbed();
    const order = await tb.order();
    tb.clock.advance(250);
    const reply = tb.replyTo(tb.creditRequestOf(order.id), CreditReservedV1, { orderId: order.id, customerId: order.customerId, amount });

    await tb.deliver('order.approve-order', reply);

    expect(tb.orders.stored(order.id)).toMatchObject({ status: 'APPROVED', decidedAt: tb.clock.now(), version: 2 });
    expect(tb.bus.publishedOf(OrderApprovedV1)).toEqual([
      expect.objectContaining({
        correlationId: order.id,
        causationId: reply.id,
        payload: { orderId: order.id, customerId: order.customerId, total: amount },
      }),
    ]);
    expect(tb.sagaLog.names(order.id)).toEqual(['order-placed:done', 'credit-reserved:received', 'order-approved:done']);
  });

  it('stamps the credit-reserved step, the approval and its message with one instant, however the clock moves between reads', async () => {
    const tb = orderTestbed({ clock: new TickingClock() });
    const order = await tb.order();
    const reply = tb.replyTo(tb.creditRequestOf(order.id), CreditReservedV1, { orderId: order.id, customerId: order.customerId, amount });

    await tb.deliver('order.approve-order', reply);

    // The console attributes a step to the message published at the same instant (its use case, its trace).
    const [approved] = tb.bus.publishedOf(OrderApprovedV1);
    const steps = await tb.sagaLog.list(order.id);
    const at = (name: string) => steps.find((s) => s.name === name)?.at.getTime();
    expect(at('credit-reserved')).toBe(new Date(approved!.occurredAt).getTime());
    expect(at('order-approved')).toBe(new Date(approved!.occurredAt).getTime());
  });

  it('leaves an order that is no longer PENDING as it is (late or duplicate reply)', async () => {
    const tb = orderTestbed({ deadlineMs: 1_000 });
    const order = await tb.order();
    tb.clock.advance(1_000);
    await tb.expireOverdueOrders.execute();
    const published = tb.bus.published.length;

    await tb.deliver(
      'order.approve-order',
      tb.replyTo(tb.creditRequestOf(order.id), CreditReservedV1, { orderId: order.id, customerId: order.customerId, amount }),
    );

    expect(tb.orders.stored(order.id)).toMatchObject({ status: 'REJECTED', rejectionReason: 'TIMEOUT', version: 2 });
    expect(tb.bus.published).toHaveLength(published);
    expect(tb.sagaLog.names(order.id).at(-1)).toBe('credit-reserved:ignored');
  });

  it('fails with ORDER_NOT_FOUND for an unknown order', async () => {
    const tb = orderTestbed();
    const orderId = uuidv7();
    const reply = createMessage(
      CreditReservedV1,
      { orderId, customerId: uuidv7(), amount },
      { correlationId: orderId, causationId: null, traceparent: traceparent() },
    );
    const attempt = tb.deliver('order.approve-order', reply);
    await expect(attempt).rejects.toBeInstanceOf(NotFoundError);
    await expect(attempt).rejects.toMatchObject({ code: 'ORDER_NOT_FOUND' });
  });
});
