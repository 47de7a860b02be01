import { describe, expect, it } from 'vitest';
import { CreditReservedV1, ReleaseCreditV1 } from '../../../../../src/modules/customer/contract/index.js';
import { CancelOrderHandler } from '../../../../../src/modules/order/application/cancel-order/cancel-order.handler.js';
import { ExpireOverdueOrdersHandler } from '../../../../../src/modules/order/application/expire-overdue-orders/expire-overdue-orders.handler.js';
import { GetOrderQuery } from '../../../../../src/modules/order/application/get-order/get-order.query.js';
import { SagaCoordinators } from '../../../../../src/modules/order/application/saga-coordination/saga-coordinators.js';
import { DEFAULT_DEADLINE_MS, orderTestbed } from '../../../../support/fakes/index.js';

/** The same stored orders, served after a deploy that configured the other saga style. */
function redeployedAs(tb: ReturnType<typeof orderTestbed>, style: string) {
  const sagas = new SagaCoordinators(tb.sagaCoordinators.all, style);
  return {
    cancelOrder: new CancelOrderHandler(tb.db, tb.orders, sagas, tb.clock),
    getOrder: new GetOrderQuery(tb.orders, sagas, tb.sagaLog),
    expireOverdueOrders: new ExpireOverdueOrdersHandler(tb.db, sagas, tb.clock),
  };
}

describe('SagaCoordinators', () => {
  it('keeps an orchestrated order on its orchestrator after the configured style became choreography', async () => {
    const tb = orderTestbed({ style: 'orchestration' });
    const order = await tb.order();
    await tb.deliver(
      'order.place-order-saga',
      tb.replyTo(tb.creditRequestOf(order.id), CreditReservedV1, { orderId: order.id, customerId: order.customerId, amount: order.total }),
    );
    const later = redeployedAs(tb, 'choreography');

    await later.cancelOrder.execute(order.id);

    expect(tb.bus.publishedOf(ReleaseCreditV1)).toHaveLength(1);
    expect((await later.getOrder.execute(order.id)).saga).toMatchObject({ style: 'orchestration', state: 'AWAITING_CREDIT_RELEASE' });
  });

  it('still expires the overdue orders of the style no longer configured', async () => {
    const tb = orderTestbed({ style: 'choreography' });
    const order = await tb.order();
    tb.clock.advance(DEFAULT_DEADLINE_MS + 1);

    expect(await redeployedAs(tb, 'orchestration').expireOverdueOrders.execute()).toBe(1);
    expect(tb.orders.stored(order.id)).toMatchObject({ status: 'REJECTED', rejectionReason: 'TIMEOUT' });
  });

  it('refuses a configured style that no coordinator runs', () => {
    const tb = orderTestbed();
    expect(() => new SagaCoordinators(tb.sagaCoordinators.all, 'telepathy')).toThrow(/telepathy/);
  });
});
