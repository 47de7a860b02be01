import { PlaceOrderSagaRepliesHandler } from '../../../../../src/modules/order/application/place-order-saga/place-order-saga-replies.handler.js';
import { describe, expect, it } from 'vitest';
import {
  CreditReleasedV1,
  CreditReservationFailedV1,
  CreditReservedV1,
  ReleaseCreditV1,
} from '../../../../../src/modules/customer/contract/index.js';
import { OrderApprovedV1, OrderRejectedV1 } from '../../../../../src/modules/order/contract/index.js';
import {
  ConcurrencyError,
  NotFoundError,
  createMessage,
  traceparent,
  uuidv7,
  type Envelope,
} from '../../../../../src/shared/kernel/index.js';
import { orderTestbed, type OrderTestbed } from '../../../../support/fakes/index.js';

const DEADLINE_MS = 5_000;

async function placed(tb: OrderTestbed): Promise<{ id: string; customerId: string; request: Envelope }> {
  const order = await tb.order();
  return { id: order.id, customerId: order.customerId, request: tb.creditRequestOf(order.id) };
}

function reserved(tb: OrderTestbed, o: { id: string; customerId: string; request: Envelope }): Envelope<CreditReservedV1> {
  return tb.replyTo(o.request, CreditReservedV1, { orderId: o.id, customerId: o.customerId, amount: { amount: 6_000, currency: 'USD' } });
}

describe('PlaceOrderSagaOrchestrator', () => {
  it('approves the order on customer.credit-reserved.v1, in the saga and caused by the reply', async () => {
    const tb = orderTestbed({ style: 'orchestration' });
    const o = await placed(tb);
    const reply = reserved(tb, o);

    await tb.deliver('order.place-order-saga', reply);

    expect(tb.sagas.stored(o.id)).toMatchObject({ state: 'APPROVED', version: 2 });
    expect(tb.orders.stored(o.id)).toMatchObject({ status: 'APPROVED', decidedAt: tb.clock.now() });
    expect(tb.bus.publishedOf(OrderApprovedV1)).toEqual([expect.objectContaining({ correlationId: o.id, causationId: reply.id })]);
    expect(tb.sagaLog.names(o.id)).toEqual(['order-placed:done', 'reserve-credit:sent', 'credit-reserved:received', 'order-approved:done']);
  });

  it('rejects the order with the reason of customer.credit-reservation-failed.v1', async () => {
    const tb = orderTestbed({ style: 'orchestration' });
    const o = await placed(tb);
    const reply = tb.replyTo(o.request, CreditReservationFailedV1, {
      orderId: o.id,
      customerId: o.customerId,
      reason: 'CREDIT_LIMIT_EXCEEDED' as const,
    });

    await tb.deliver('order.place-order-saga', reply);

    expect(tb.sagas.stored(o.id)?.state).toBe('REJECTED');
    expect(tb.orders.stored(o.id)).toMatchObject({ status: 'REJECTED', rejectionReason: 'CREDIT_LIMIT_EXCEEDED' });
    expect(tb.bus.publishedOf(OrderRejectedV1)).toEqual([
      expect.objectContaining({
        correlationId: o.id,
        causationId: reply.id,
        payload: { orderId: o.id, customerId: o.customerId, reason: 'CREDIT_LIMIT_EXCEEDED' },
      }),
    ]);
    expect(tb.sagaLog.names(o.id).slice(2)).toEqual([
      'credit-reservation-failed:received:CREDIT_LIMIT_EXCEEDED',
      'order-rejected:done:CREDIT_LIMIT_EXCEEDED',
    ]);
  });

  it('fails a reply for an unknown saga with SAGA_NOT_FOUND', async () => {
    const tb = orderTestbed({ style: 'orchestration' });
    const orderId = uuidv7();
    const reply = createMessage(
      CreditReservedV1,
      { orderId, customerId: uuidv7(), amount: { amount: 1, currency: 'USD' } },
      { correlationId: orderId, causationId: uuidv7(), traceparent: traceparent() },
    );

    const attempt = tb.deliver('order.place-order-saga', reply);

    await expect(attempt).rejects.toBeInstanceOf(NotFoundError);
    await expect(attempt).rejects.toMatchObject({ code: 'SAGA_NOT_FOUND', details: { sagaId: orderId } });
  });

  it('has no second effect for a duplicate reply, and records that it ignored it', async () => {
    const tb = orderTestbed({ style: 'orchestration' });
    const o = await placed(tb);
    await tb.deliver('order.place-order-saga', reserved(tb, o));

    const action = await tb.db.run(() =>
      tb.orchestrator.handle(o.id, { kind: 'credit-reserved' }, { correlationId: o.id, causationId: null, traceparent: traceparent() }),
    );

    expect(action).toEqual({ kind: 'none' });
    expect(tb.orders.stored(o.id)).toMatchObject({ status: 'APPROVED', version: 2 });
    expect(tb.sagas.stored(o.id)?.version).toBe(2);
    expect(tb.bus.publishedOf(OrderApprovedV1)).toHaveLength(1);
    expect(tb.sagaLog.names(o.id).at(-1)).toBe('credit-reserved:ignored');
  });

  it('rejects with TIMEOUT at the deadline, not before', async () => {
    const tb = orderTestbed({ style: 'orchestration', deadlineMs: DEADLINE_MS });
    const o = await placed(tb);
    const context = { correlationId: o.id, causationId: null, traceparent: traceparent() };

    tb.clock.advance(DEADLINE_MS - 1);
    expect(await tb.db.run(() => tb.orchestrator.handle(o.id, { kind: 'deadline' }, context))).toEqual({ kind: 'none' });
    expect(tb.orders.stored(o.id)?.status).toBe('PENDING');

    tb.clock.advance(1);
    expect(await tb.db.run(() => tb.orchestrator.handle(o.id, { kind: 'deadline' }, context))).toEqual({
      kind: 'reject-order',
      reason: 'TIMEOUT',
    });
    expect(tb.sagas.stored(o.id)?.state).toBe('REJECTED');
    expect(tb.orders.stored(o.id)).toMatchObject({ status: 'REJECTED', rejectionReason: 'TIMEOUT' });
    expect(tb.bus.publishedOf(OrderRejectedV1).map((m) => m.payload.reason)).toEqual(['TIMEOUT']);
  });

  it('gives back a reservation that arrives after the TIMEOUT with customer.release-credit.v1, then completes', async () => {
    const tb = orderTestbed({ style: 'orchestration', deadlineMs: DEADLINE_MS });
    const o = await placed(tb);
    tb.clock.advance(DEADLINE_MS);
    await tb.db.run(() =>
      tb.orchestrator.handle(o.id, { kind: 'deadline' }, { correlationId: o.id, causationId: null, traceparent: traceparent() }),
    );

    const late = reserved(tb, o);
    await tb.deliver('order.place-order-saga', late);

    expect(tb.sagas.stored(o.id)?.state).toBe('COMPENSATING');
    expect(tb.orders.stored(o.id)).toMatchObject({ status: 'REJECTED', rejectionReason: 'TIMEOUT' });
    expect(tb.bus.publishedOf(OrderApprovedV1)).toEqual([]);
    const [release] = tb.bus.publishedOf(ReleaseCreditV1);
    expect(release).toMatchObject({ correlationId: o.id, causationId: late.id, payload: { orderId: o.id, customerId: o.customerId } });

    await tb.deliver(
      'order.place-order-saga',
      tb.replyTo(release!, CreditReleasedV1, { orderId: o.id, customerId: o.customerId, amount: { amount: 6_000, currency: 'USD' } }),
    );
    expect(tb.sagas.stored(o.id)?.state).toBe('COMPENSATED');
    expect(tb.sagaLog.names(o.id).slice(-2)).toEqual(['release-credit:sent', 'credit-released:received']);
  });

  it('fails a reply with CONCURRENT_MODIFICATION when the saga moved meanwhile, leaving the order untouched for the retry', async () => {
    const tb = orderTestbed({ style: 'orchestration' });
    const o = await placed(tb);
    tb.sagas.failNext('save', new ConcurrencyError('place-order saga', o.id));

    await expect(tb.deliver('order.place-order-saga', reserved(tb, o))).rejects.toBeInstanceOf(ConcurrencyError);

    expect(tb.orders.stored(o.id)).toMatchObject({ status: 'PENDING', version: 1 });
    expect(tb.sagaLog.names(o.id)).toEqual(['order-placed:done', 'reserve-credit:sent']);
    expect(tb.bus.publishedOf(OrderApprovedV1)).toEqual([]);

    await tb.deliver('order.place-order-saga', reserved(tb, o));
    expect(tb.orders.stored(o.id)?.status).toBe('APPROVED');
  });

  it('refuses a message type the saga does not handle', async () => {
    const tb = orderTestbed({ style: 'orchestration' });
    const o = await placed(tb);
    // No subscription routes it there: the handler itself must refuse it.
    const replies = new PlaceOrderSagaRepliesHandler(tb.orchestrator);
    await expect(tb.db.run(() => replies.handle(o.request as Envelope<never>))).rejects.toThrow(
      /does not handle customer\.reserve-credit\.v1/,
    );
  });
});
