import { describe, expect, it } from 'vitest';
import { ReserveCreditV1 } from '../../../../../src/modules/customer/contract/index.js';
import { OrderCreatedV1 } from '../../../../../src/modules/order/contract/index.js';
import { ConflictError, isUuidV7, uuidv7 } from '../../../../../src/shared/kernel/index.js';
import { DEFAULT_DEADLINE_MS, orderTestbed } from '../../../../support/fakes/index.js';

const TRACE = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const usd = (amount: number) => ({ amount, currency: 'USD' });

describe('PlaceOrderHandler (choreography)', () => {
  it('stores a PENDING order and publishes order.created.v1 as the saga’s first message', async () => {
    const tb = orderTestbed({ style: 'choreography' });
    const customerId = uuidv7();

    const { order, replayed } = await tb.placeOrder.execute({ customerId, total: usd(6_000), traceparent: TRACE });

    expect(replayed).toBe(false);
    expect(isUuidV7(order.id)).toBe(true);
    expect(order).toEqual({ id: order.id, customerId, total: usd(6_000), status: 'PENDING' });
    expect(tb.orders.stored(order.id)).toMatchObject({
      status: 'PENDING',
      sagaStyle: 'choreography',
      deadlineAt: new Date(tb.clock.now().getTime() + DEFAULT_DEADLINE_MS),
      createdAt: tb.clock.now(),
      version: 1,
    });
    const [created, ...rest] = tb.bus.published;
    expect(rest).toEqual([]);
    expect(created).toMatchObject({
      type: OrderCreatedV1.type,
      correlationId: order.id,
      causationId: null,
      occurredAt: tb.clock.now().toISOString(),
      payload: { orderId: order.id, customerId, total: usd(6_000) },
    });
    expect(created!.traceparent.slice(3, 35)).toBe(TRACE.slice(3, 35));
    expect(tb.sagaLog.names(order.id)).toEqual(['order-placed:done']);
    expect(tb.sagas.stored(order.id)).toBeUndefined();
  });

  it('refuses a non-positive total with INVALID_AMOUNT and stores nothing', async () => {
    const tb = orderTestbed();
    await expect(tb.placeOrder.execute({ customerId: uuidv7(), total: usd(0) })).rejects.toMatchObject({ code: 'INVALID_AMOUNT' });
    expect(tb.orders.size).toBe(0);
    expect(tb.bus.published).toEqual([]);
  });
});

describe('PlaceOrderHandler (orchestration)', () => {
  it('starts the saga and sends customer.reserve-credit.v1 in the same transaction', async () => {
    const tb = orderTestbed({ style: 'orchestration', deadlineMs: 5_000 });
    const customerId = uuidv7();

    const { order } = await tb.placeOrder.execute({ customerId, total: usd(6_000) });

    expect(tb.orders.stored(order.id)).toMatchObject({ status: 'PENDING', sagaStyle: 'orchestration' });
    expect(tb.sagas.stored(order.id)).toEqual({
      id: order.id,
      state: 'AWAITING_CREDIT',
      deadlineAt: new Date(tb.clock.now().getTime() + 5_000),
      version: 1,
      definitionVersion: 1,
    });
    expect(tb.bus.published.map((m) => m.type)).toEqual([OrderCreatedV1.type, ReserveCreditV1.type]);
    expect(tb.bus.publishedOf(ReserveCreditV1)).toEqual([
      expect.objectContaining({
        correlationId: order.id,
        causationId: null,
        payload: { orderId: order.id, customerId, amount: usd(6_000) },
      }),
    ]);
    expect(tb.sagaLog.names(order.id)).toEqual(['order-placed:done', 'reserve-credit:sent']);
    expect(tb.db.commits).toBe(1);
  });

  it('leaves no order, no message and no saga when starting the saga fails', async () => {
    const tb = orderTestbed({ style: 'orchestration' });
    tb.sagaLog.failNext('append');
    await expect(
      tb.placeOrder.execute({
        customerId: uuidv7(),
        total: usd(6_000),
        idempotency: { principal: 'caller-a', key: 'k-1', requestHash: 'h' },
      }),
    ).rejects.toThrow(/append failed/);
    expect(tb.orders.size).toBe(0);
    expect(tb.sagas.size).toBe(0);
    expect(tb.idempotency.size).toBe(0);
    expect(tb.bus.published).toEqual([]);
  });
});

describe('PlaceOrderHandler idempotency', () => {
  it('returns the first order, replayed, for the same key and body, and places nothing twice', async () => {
    const tb = orderTestbed();
    const command = {
      customerId: uuidv7(),
      total: usd(6_000),
      idempotency: { principal: 'caller-a', key: 'retry-me', requestHash: 'hash-a' },
    };

    const first = await tb.placeOrder.execute(command);
    tb.clock.advance(1_000);
    const second = await tb.placeOrder.execute(command);

    expect(first.replayed).toBe(false);
    expect(second).toEqual({ order: first.order, replayed: true });
    expect(tb.orders.size).toBe(1);
    expect(tb.bus.published).toHaveLength(1);
  });

  it('refuses the same key with another body with IDEMPOTENCY_KEY_REUSED', async () => {
    const tb = orderTestbed();
    const customerId = uuidv7();
    await tb.placeOrder.execute({ customerId, total: usd(6_000), idempotency: { principal: 'caller-a', key: 'k', requestHash: 'hash-a' } });

    const reused = tb.placeOrder.execute({
      customerId,
      total: usd(7_000),
      idempotency: { principal: 'caller-a', key: 'k', requestHash: 'hash-b' },
    });

    await expect(reused).rejects.toBeInstanceOf(ConflictError);
    await expect(reused).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    expect(tb.orders.size).toBe(1);
    expect(tb.bus.published).toHaveLength(1);
  });

  it('does not keep the key of a request that failed, so a corrected retry places the order', async () => {
    const tb = orderTestbed();
    const key = { principal: 'caller-a', key: 'k', requestHash: 'hash-a' };
    await expect(tb.placeOrder.execute({ customerId: uuidv7(), total: usd(0), idempotency: key })).rejects.toMatchObject({
      code: 'INVALID_AMOUNT',
    });
    expect(await tb.idempotency.find('caller-a/k')).toBeNull();

    const retry = await tb.placeOrder.execute({ customerId: uuidv7(), total: usd(100), idempotency: key });
    expect(retry.replayed).toBe(false);
    expect(await tb.idempotency.find('caller-a/k')).toEqual({ key: 'caller-a/k', requestHash: 'hash-a', orderId: retry.order.id });
  });

  it('keeps two callers’ equal keys apart: neither replays the other’s order', async () => {
    const tb = orderTestbed();
    const body = { customerId: uuidv7(), total: usd(6_000) };
    const a = await tb.placeOrder.execute({ ...body, idempotency: { principal: 'caller-a', key: 'k', requestHash: 'h' } });
    const b = await tb.placeOrder.execute({ ...body, idempotency: { principal: 'caller-b', key: 'k', requestHash: 'h' } });

    expect(b.replayed).toBe(false);
    expect(b.order.id).not.toBe(a.order.id);
    expect(tb.orders.size).toBe(2);
  });

  it('replays in orchestration without starting a second saga', async () => {
    const tb = orderTestbed({ style: 'orchestration' });
    const command = { customerId: uuidv7(), total: usd(6_000), idempotency: { principal: 'caller-a', key: 'k', requestHash: 'h' } };
    const first = await tb.placeOrder.execute(command);
    const second = await tb.placeOrder.execute(command);
    expect(second.order.id).toBe(first.order.id);
    expect(tb.sagas.size).toBe(1);
    expect(tb.bus.publishedOf(ReserveCreditV1)).toHaveLength(1);
  });
});
