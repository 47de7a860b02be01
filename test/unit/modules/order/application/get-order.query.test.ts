import { describe, expect, it } from 'vitest';
import { CreditReservationFailedV1, CreditReservedV1 } from '../../../../../src/modules/customer/contract/index.js';
import { NotFoundError, uuidv7 } from '../../../../../src/shared/kernel/index.js';
import { orderTestbed } from '../../../../support/fakes/index.js';

describe('GetOrderQuery', () => {
  it('shows a choreographed order with its saga state and steps', async () => {
    const tb = orderTestbed({ style: 'choreography' });
    const order = await tb.order();
    const placedAt = tb.clock.now().toISOString();

    expect(await tb.getOrder.execute(order.id)).toEqual({
      ...order,
      saga: { style: 'choreography', state: 'AWAITING_CREDIT', steps: [{ name: 'order-placed', at: placedAt, outcome: 'done' }] },
    });

    tb.clock.advance(500);
    await tb.deliver(
      'order.reject-order',
      tb.replyTo(tb.creditRequestOf(order.id), CreditReservationFailedV1, {
        orderId: order.id,
        customerId: order.customerId,
        reason: 'CREDIT_LIMIT_EXCEEDED',
      }),
    );
    const view = await tb.getOrder.execute(order.id);
    expect(view).toMatchObject({ status: 'REJECTED', rejectionReason: 'CREDIT_LIMIT_EXCEEDED', saga: { state: 'REJECTED' } });
    expect(view.saga?.steps.slice(1)).toEqual([
      { name: 'credit-reservation-failed', at: tb.clock.now().toISOString(), outcome: 'received', detail: 'CREDIT_LIMIT_EXCEEDED' },
      { name: 'order-rejected', at: tb.clock.now().toISOString(), outcome: 'done', detail: 'CREDIT_LIMIT_EXCEEDED' },
    ]);
  });

  it('shows an orchestrated order with the state of its saga instance', async () => {
    const tb = orderTestbed({ style: 'orchestration' });
    const order = await tb.order();
    expect((await tb.getOrder.execute(order.id)).saga).toMatchObject({ style: 'orchestration', state: 'AWAITING_CREDIT' });

    await tb.deliver(
      'order.place-order-saga',
      tb.replyTo(tb.creditRequestOf(order.id), CreditReservedV1, { orderId: order.id, customerId: order.customerId, amount: order.total }),
    );
    await tb.cancelOrder.execute(order.id);

    // The order is CANCELLED; its saga still waits for the credit to come back.
    const view = await tb.getOrder.execute(order.id);
    expect(view.status).toBe('CANCELLED');
    expect(view.saga?.state).toBe('AWAITING_CREDIT_RELEASE');
    expect(view.saga?.steps.map((s) => s.name)).toEqual([
      'order-placed',
      'reserve-credit',
      'credit-reserved',
      'order-approved',
      'order-cancelled',
      'cancel-requested',
      'release-credit',
    ]);
  });

  it('answers ORDER_NOT_FOUND for an unknown order', async () => {
    const tb = orderTestbed();
    const attempt = tb.getOrder.execute(uuidv7());
    await expect(attempt).rejects.toBeInstanceOf(NotFoundError);
    await expect(attempt).rejects.toMatchObject({ code: 'ORDER_NOT_FOUND' });
  });
});
