import type { Container } from 'inversify';
import { describe, expect, it } from 'vitest';
import { CUSTOMER, customerModule } from '../../../src/modules/customer/customer.module.js';
import { ORDER, orderModule } from '../../../src/modules/order/order.module.js';
import { InMemoryEventBus } from '../../support/fakes/in-memory-event-bus.js';
import { SAGA_STYLES, type SagaStyle } from '../../../src/shared/contract/routing.js';
import { FixedClock, InMemoryDatabase, serveSubscriptions } from '../../support/fakes/index.js';
import { customerContainer, orderContainer, testConfig } from '../../support/fakes/module-containers.js';

const DEADLINE_MS = 30_000;

/**
 * Both modules composed by their own module files, over fakes, each with its own "schema",
 * meeting only through contract messages on one in-memory bus.
 */
function monolith(style: SagaStyle, bus: InMemoryEventBus, inbox: { skipDoneCheck?: boolean } = {}) {
  const clock = new FixedClock();
  const config = testConfig(style, { ORDER_DEADLINE_MS: String(DEADLINE_MS) });
  const customerDb = new InMemoryDatabase(bus);
  const orderDb = new InMemoryDatabase(bus);
  const customers = customerContainer(config, customerDb, clock);
  const orders = orderContainer(config, orderDb, clock);
  serveSubscriptions(bus, orderDb, orderModule.subscriptions(orders), style, inbox);
  return {
    bus,
    clock,
    customers,
    orders,
    startCustomerModule: () => serveSubscriptions(bus, customerDb, customerModule.subscriptions(customers), style, inbox),
  };
}

async function available(customers: Container, id: string): Promise<number> {
  return (await customers.get(CUSTOMER.GetCustomer).execute(id)).availableCredit.amount;
}

async function placeAndSettle(bus: InMemoryEventBus, orders: Container, customerId: string, amount: number) {
  const { order } = await orders.get(ORDER.PlaceOrder).execute({ customerId, total: { amount, currency: 'USD' } });
  await bus.drain();
  return orders.get(ORDER.GetOrder).execute(order.id);
}

const PUBLISHED: Record<SagaStyle, string[]> = {
  choreography: [
    'customer.credit-released.v1',
    'customer.credit-reservation-failed.v1',
    'customer.credit-reserved.v1',
    'order.approved.v1',
    'order.cancelled.v1',
    'order.created.v1',
    'order.created.v1',
    'order.rejected.v1',
  ],
  orchestration: [
    'customer.credit-released.v1',
    'customer.credit-reservation-failed.v1',
    'customer.credit-reserved.v1',
    'customer.release-credit.v1',
    'customer.reserve-credit.v1',
    'customer.reserve-credit.v1',
    'order.approved.v1',
    'order.cancelled.v1',
    'order.created.v1',
    'order.created.v1',
    'order.rejected.v1',
  ],
};

const DELIVERY_MODES = [
  ['each message delivered once', 1, false],
  ['each message delivered twice, the inbox acknowledging the second', 2, false],
  ['each message handled twice by its use case', 2, true],
] as const;

describe.each(
  SAGA_STYLES.flatMap((style) =>
    DELIVERY_MODES.map(([label, deliveries, skipDoneCheck]) => [style, label, deliveries, skipDoneCheck] as const),
  ),
)('the order/credit saga in memory (%s, %s)', (style, _label, deliveries, skipDoneCheck) => {
  it('approves within the limit, rejects over it, and gives the credit back on cancel', async () => {
    const m = monolith(style, new InMemoryEventBus({ deliveriesPerMessage: deliveries }), { skipDoneCheck });
    m.startCustomerModule();
    const customer = await m.customers
      .get(CUSTOMER.RegisterCustomer)
      .execute({ name: 'Ada', creditLimit: { amount: 10_000, currency: 'USD' } });

    const first = await placeAndSettle(m.bus, m.orders, customer.id, 6_000);
    expect(first.status).toBe('APPROVED');
    const second = await placeAndSettle(m.bus, m.orders, customer.id, 6_000);
    expect(second).toMatchObject({ status: 'REJECTED', rejectionReason: 'CREDIT_LIMIT_EXCEEDED' });
    expect(await available(m.customers, customer.id)).toBe(4_000);

    await m.orders.get(ORDER.CancelOrder).execute(first.id);
    await m.bus.drain();

    const cancelled = await m.orders.get(ORDER.GetOrder).execute(first.id);
    expect(cancelled.status).toBe('CANCELLED');
    expect(cancelled.saga?.state).toBe('CANCELLED');
    expect(cancelled.saga?.steps).toContainEqual(expect.objectContaining({ name: 'credit-released', outcome: 'received' }));
    expect(await available(m.customers, customer.id)).toBe(10_000);
    expect(m.bus.deadLetters).toEqual([]);
    const types = m.bus.published.map((msg) => msg.type);
    // Credit is never reserved or released twice, however often a message is handled.
    expect(types.filter((t) => t === 'customer.credit-reserved.v1')).toHaveLength(1);
    expect(types.filter((t) => t === 'customer.credit-released.v1')).toHaveLength(1);
    if (skipDoneCheck) {
      // A refusal leaves no trace, so a use case run twice refuses twice; the order ignores the second decision.
      expect([...new Set(types)].sort()).toEqual([...new Set(PUBLISHED[style])]);
    } else {
      expect(types.sort()).toEqual(PUBLISHED[style]);
    }
    // Every message of a saga carries its order's id.
    const sagaIds = new Set([first.id, second.id]);
    expect(m.bus.published.every((msg) => sagaIds.has(msg.correlationId))).toBe(true);
  });
});

/** An order that timed out while the Customer module was not consuming; then the Customer module starts. */
async function timedOutOrder(style: SagaStyle) {
  const m = monolith(style, new InMemoryEventBus());
  const customer = await m.customers
    .get(CUSTOMER.RegisterCustomer)
    .execute({ name: 'Ada', creditLimit: { amount: 10_000, currency: 'USD' } });
  const { order } = await m.orders.get(ORDER.PlaceOrder).execute({ customerId: customer.id, total: { amount: 6_000, currency: 'USD' } });
  await m.bus.drain();
  m.clock.advance(DEADLINE_MS);
  expect(await m.orders.get(ORDER.ExpireOverdueOrders).execute()).toBe(1);
  await m.bus.drain();
  expect(await m.orders.get(ORDER.GetOrder).execute(order.id)).toMatchObject({ status: 'REJECTED', rejectionReason: 'TIMEOUT' });
  m.startCustomerModule();
  /** Carries, late, what the Order module published of `type` for this order. */
  const carryLate = async (type: string) => {
    const message = m.bus.published.find((x) => x.type === type && x.correlationId === order.id);
    if (!message) throw new Error(`order ${order.id} published no ${type}`);
    m.bus.redeliver(message.id);
    await m.bus.drain();
  };
  return { m, customerId: customer.id, orderId: order.id, carryLate };
}

describe('a credit request that arrives after the order timed out', () => {
  it('choreography, release first: the late reservation is refused', async () => {
    const { m, customerId, orderId, carryLate } = await timedOutOrder('choreography');
    await carryLate('order.rejected.v1');
    await carryLate('order.created.v1');
    expect(await available(m.customers, customerId)).toBe(10_000);
    expect(m.bus.published.map((x) => x.type).filter((t) => t.startsWith('customer.'))).toEqual([]);
    expect((await m.orders.get(ORDER.GetOrder).execute(orderId)).status).toBe('REJECTED');
  });

  it('choreography, reservation first: the release that follows gives it back', async () => {
    const { m, customerId, orderId, carryLate } = await timedOutOrder('choreography');
    await carryLate('order.created.v1');
    expect(await available(m.customers, customerId)).toBe(4_000);
    await carryLate('order.rejected.v1');
    expect(await available(m.customers, customerId)).toBe(10_000);
    const order = await m.orders.get(ORDER.GetOrder).execute(orderId);
    expect(order.status).toBe('REJECTED');
    expect(order.saga?.steps.map((s) => `${s.name}:${s.outcome}`).slice(-2)).toEqual([
      'credit-reserved:ignored',
      'credit-released:received',
    ]);
  });

  it('orchestration: the saga compensates the late reservation', async () => {
    const { m, customerId, orderId, carryLate } = await timedOutOrder('orchestration');
    await carryLate('customer.reserve-credit.v1');
    expect(await available(m.customers, customerId)).toBe(10_000);
    const order = await m.orders.get(ORDER.GetOrder).execute(orderId);
    expect(order).toMatchObject({ status: 'REJECTED', rejectionReason: 'TIMEOUT', saga: { state: 'COMPENSATED' } });
    expect(m.bus.published.map((x) => x.type).filter((t) => t.startsWith('customer.'))).toEqual([
      'customer.reserve-credit.v1',
      'customer.credit-reserved.v1',
      'customer.release-credit.v1',
      'customer.credit-released.v1',
    ]);
  });
});
