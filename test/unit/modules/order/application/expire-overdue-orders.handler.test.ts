import { describe, expect, it } from 'vitest';
import { CreditReservedV1 } from '../../../../../src/modules/customer/contract/index.js';
import { OrderRejectedV1 } from '../../../../../src/modules/order/contract/index.js';
import { orderTestbed } from '../../../../support/fakes/index.js';

const DEADLINE_MS = 10_000;

describe('ExpireOverdueOrdersHandler', () => {
  it('rejects PENDING orders past their deadline with TIMEOUT, each in its own saga', async () => {
    const tb = orderTestbed({ deadlineMs: DEADLINE_MS });
    const first = await tb.order();
    tb.clock.advance(1_000);
    const second = await tb.order();
    tb.clock.advance(DEADLINE_MS - 1);
    const notYet = await tb.order();

    expect(await tb.expireOverdueOrders.execute()).toBe(1);
    tb.clock.advance(1);
    expect(await tb.expireOverdueOrders.execute()).toBe(1);

    for (const o of [first, second]) {
      expect(tb.orders.stored(o.id)).toMatchObject({ status: 'REJECTED', rejectionReason: 'TIMEOUT' });
      expect(tb.sagaLog.names(o.id).slice(1)).toEqual(['deadline-passed:received', 'order-rejected:done:TIMEOUT']);
    }
    expect(tb.orders.stored(notYet.id)?.status).toBe('PENDING');
    const rejected = tb.bus.publishedOf(OrderRejectedV1);
    expect(rejected.map((m) => [m.correlationId, m.causationId, m.payload.reason])).toEqual([
      [first.id, null, 'TIMEOUT'],
      [second.id, null, 'TIMEOUT'],
    ]);
  });

  it('leaves decided orders alone', async () => {
    const tb = orderTestbed({ deadlineMs: DEADLINE_MS });
    const order = await tb.order();
    await tb.deliver(
      'order.approve-order',
      tb.replyTo(tb.creditRequestOf(order.id), CreditReservedV1, { orderId: order.id, customerId: order.customerId, amount: order.total }),
    );
    tb.clock.advance(DEADLINE_MS * 2);

    expect(await tb.expireOverdueOrders.execute()).toBe(0);
    expect(tb.orders.stored(order.id)?.status).toBe('APPROVED');
    expect(tb.bus.publishedOf(OrderRejectedV1)).toEqual([]);
  });

  it('works through more overdue orders than one batch holds', async () => {
    const tb = orderTestbed({ deadlineMs: DEADLINE_MS, expiryBatchSize: 2 });
    const orders = [];
    for (let i = 0; i < 5; i++) orders.push(await tb.order());
    tb.clock.advance(DEADLINE_MS);

    expect(await tb.expireOverdueOrders.execute()).toBe(5);
    expect(orders.map((o) => tb.orders.stored(o.id)?.status)).toEqual(Array(5).fill('REJECTED'));
    // Five placements, then one transaction per expired order.
    expect(tb.db.commits).toBe(5 + 5);
  });

  it('times out orchestrated sagas through the orchestrator', async () => {
    const tb = orderTestbed({ style: 'orchestration', deadlineMs: DEADLINE_MS });
    const order = await tb.order();
    tb.clock.advance(DEADLINE_MS);

    expect(await tb.expireOverdueOrders.execute()).toBe(1);

    expect(tb.sagas.stored(order.id)?.state).toBe('REJECTED');
    expect(tb.orders.stored(order.id)).toMatchObject({ status: 'REJECTED', rejectionReason: 'TIMEOUT' });
    expect(tb.bus.publishedOf(OrderRejectedV1)).toEqual([
      expect.objectContaining({ correlationId: order.id, payload: expect.objectContaining({ reason: 'TIMEOUT' }) }),
    ]);
    expect(await tb.expireOverdueOrders.execute()).toBe(0);
  });

  it('rolls back only the order that failed; the others expire, and the next run retries it', async () => {
    const tb = orderTestbed({ deadlineMs: DEADLINE_MS });
    const a = await tb.order();
    const b = await tb.order();
    tb.clock.advance(DEADLINE_MS);
    const published = tb.bus.published.length;
    tb.sagaLog.failNext('append');

    expect(await tb.expireOverdueOrders.execute()).toBe(1);

    expect([tb.orders.stored(a.id)?.status, tb.orders.stored(b.id)?.status]).toEqual(['PENDING', 'REJECTED']);
    expect(tb.bus.published).toHaveLength(published + 1);
    expect(await tb.expireOverdueOrders.execute()).toBe(1);
    expect(tb.orders.stored(a.id)?.status).toBe('REJECTED');
  });
});
