import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Customer } from '../../../src/modules/customer/domain/customer.aggregate.js';
import { Order } from '../../../src/modules/order/domain/order.aggregate.js';
import { PlaceOrderSaga } from '../../../src/modules/order/domain/place-order-saga.js';
import {
  ConcurrencyError,
  createMessage,
  defineMessage,
  Money,
  traceparent,
  uuidv7,
  type Envelope,
} from '../../../src/shared/kernel/index.js';
import {
  FixedClock,
  InMemoryCustomerRepository,
  InMemoryDatabase,
  InMemoryIdempotencyStore,
  InMemoryOrderRepository,
  InMemoryPlaceOrderSagaRepository,
} from '../../support/fakes/index.js';

const Noted = defineMessage('test.noted.v1', 'event', z.object({ n: z.number() }));
const AT = new Date('2026-03-01T09:00:00.000Z');

function noted(n: number): Envelope {
  return createMessage(Noted, { n }, { correlationId: uuidv7(), causationId: null, traceparent: traceparent() });
}

function newCustomer(): Customer {
  return Customer.register(uuidv7(), 'Ada', Money.of(10_000, 'USD'), AT);
}

describe('InMemoryDatabase (the TransactionPort fake)', () => {
  it('publishes a transaction’s messages only once it commits, outside the transaction', async () => {
    const db = new InMemoryDatabase();
    const seenInside: boolean[] = [];
    db.messages.subscribe(Noted, async () => void seenInside.push(db.inTransaction()));

    await db.run(async () => {
      await db.eventBus.publish([noted(1)]);
      expect(db.messages.published).toEqual([]);
    });
    expect(db.messages.published).toHaveLength(1);
    await db.messages.drain();
    expect(seenInside).toEqual([false]);
  });

  it('puts every table back and drops the messages when the work throws', async () => {
    const db = new InMemoryDatabase();
    const customers = new InMemoryCustomerRepository(db);
    const orders = new InMemoryOrderRepository(db);
    const kept = newCustomer();
    await customers.add(kept);

    await expect(
      db.run(async () => {
        await customers.add(newCustomer());
        const loaded = (await customers.findByIdForUpdate(kept.id))!;
        loaded.reserveCredit(uuidv7(), Money.of(100, 'USD'), AT);
        await customers.save(loaded);
        await orders.add(Order.place(uuidv7(), kept.id, Money.of(100, 'USD'), 'choreography', AT, AT));
        await db.eventBus.publish([noted(1)]);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');

    expect(customers.size).toBe(1);
    expect(customers.stored(kept.id)).toMatchObject({ availableCredit: { amount: 10_000 }, version: 1 });
    expect(orders.size).toBe(0);
    expect(db.messages.published).toEqual([]);
    expect([db.commits, db.rollbacks]).toEqual([0, 1]);
  });

  it('joins the transaction in progress on a nested run', async () => {
    const db = new InMemoryDatabase();
    const customers = new InMemoryCustomerRepository(db);
    await expect(
      db.run(async () => {
        await db.run(() => customers.add(newCustomer()));
        throw new Error('outer fails');
      }),
    ).rejects.toThrow('outer fails');
    expect(customers.size).toBe(0);
    expect(db.commits).toBe(0);
  });

  it('refuses to publish outside a transaction, as the outbox does', async () => {
    await expect(new InMemoryDatabase().eventBus.publish([noted(1)])).rejects.toThrow(/must run inside a transaction/);
  });

  it('runs transactions one at a time', async () => {
    const db = new InMemoryDatabase();
    const log: string[] = [];
    const work = (name: string) =>
      db.run(async () => {
        log.push(`${name} begin`);
        await new Promise((r) => setTimeout(r, 5));
        log.push(`${name} end`);
      });
    await Promise.all([work('a'), work('b')]);
    expect(log).toEqual(['a begin', 'a end', 'b begin', 'b end']);
  });
});

describe('the in-memory repositories keep the MikroORM repositories’ contract', () => {
  it('stores a customer at version 1, moves it on each save and refuses a stale save', async () => {
    const db = new InMemoryDatabase();
    const customers = new InMemoryCustomerRepository(db);
    const customer = newCustomer();
    await customers.add(customer);
    expect(customer.version).toBe(1);

    const a = (await customers.findById(customer.id))!;
    const b = (await customers.findById(customer.id))!;
    a.reserveCredit(uuidv7(), Money.of(100, 'USD'), AT);
    await customers.save(a);
    expect(a.version).toBe(2);
    b.reserveCredit(uuidv7(), Money.of(200, 'USD'), AT);
    await expect(customers.save(b)).rejects.toBeInstanceOf(ConcurrencyError);
    expect(customers.stored(customer.id)).toMatchObject({ availableCredit: { amount: 9_900 }, version: 2 });
  });

  it('hands out copies: a change is stored only by save', async () => {
    const customers = new InMemoryCustomerRepository(new InMemoryDatabase());
    const customer = newCustomer();
    await customers.add(customer);
    (await customers.findById(customer.id))!.reserveCredit(uuidv7(), Money.of(100, 'USD'), AT);
    expect((await customers.findById(customer.id))!.availableCredit.amount).toBe(10_000);
  });

  it('refuses a second insert of the same id like a primary key', async () => {
    const customers = new InMemoryCustomerRepository(new InMemoryDatabase());
    const customer = newCustomer();
    await customers.add(customer);
    await expect(customers.add(customer)).rejects.toMatchObject({ code: '23505' });
  });

  it('locks only inside a transaction', async () => {
    const db = new InMemoryDatabase();
    const customers = new InMemoryCustomerRepository(db);
    await expect(customers.findByIdForUpdate(uuidv7())).rejects.toThrow(/open transaction is required/);
    expect(await db.run(() => customers.findByIdForUpdate(uuidv7()))).toBeNull();
  });

  it('refuses a stale order save and lists only overdue choreographed PENDING orders, oldest deadline first', async () => {
    const db = new InMemoryDatabase();
    const orders = new InMemoryOrderRepository(db);
    const at = (ms: number) => new Date(AT.getTime() + ms);
    const late = Order.place(uuidv7(), uuidv7(), Money.of(1, 'USD'), 'choreography', at(2_000), AT);
    const later = Order.place(uuidv7(), uuidv7(), Money.of(1, 'USD'), 'choreography', at(1_000), AT);
    const orchestrated = Order.place(uuidv7(), uuidv7(), Money.of(1, 'USD'), 'orchestration', at(0), AT);
    const notYet = Order.place(uuidv7(), uuidv7(), Money.of(1, 'USD'), 'choreography', at(9_000), AT);
    for (const o of [late, later, orchestrated, notYet]) await orders.add(o);

    expect(await db.run(() => orders.findOverdue(at(5_000), 10))).toEqual([later.id, late.id]);
    expect(await db.run(() => orders.findOverdue(at(5_000), 1))).toEqual([later.id]);

    const stale = (await orders.findById(late.id))!;
    late.approve(at(1));
    await orders.save(late);
    stale.reject('TIMEOUT', at(2));
    await expect(orders.save(stale)).rejects.toBeInstanceOf(ConcurrencyError);
    expect(orders.stored(late.id)).toMatchObject({ status: 'APPROVED', version: 2 });
  });

  it('stores a saga at version 1 and applies a save only to the version it loaded', async () => {
    const db = new InMemoryDatabase();
    const sagas = new InMemoryPlaceOrderSagaRepository(db);
    const { saga } = PlaceOrderSaga.start(uuidv7(), AT);
    await sagas.add(saga);
    const a = (await sagas.findById(saga.id))!;
    const b = (await sagas.findById(saga.id))!;
    a.onCreditReserved();
    await sagas.save(a);
    b.onCreditReservationFailed('CREDIT_LIMIT_EXCEEDED');
    await expect(sagas.save(b)).rejects.toBeInstanceOf(ConcurrencyError);
    expect(sagas.stored(saga.id)).toMatchObject({ state: 'APPROVED', version: 2 });
  });

  it('keeps the first idempotency record of a key', async () => {
    const store = new InMemoryIdempotencyStore(new InMemoryDatabase());
    expect(await store.save({ key: 'k', requestHash: 'a', orderId: 'o-1' })).toBe(true);
    expect(await store.save({ key: 'k', requestHash: 'b', orderId: 'o-2' })).toBe(false);
    expect(await store.find('k')).toEqual({ key: 'k', requestHash: 'a', orderId: 'o-1' });
  });

  it('moves only when the test says so (FixedClock)', () => {
    const clock = new FixedClock('2026-01-01T00:00:00Z');
    const t = clock.now();
    t.setFullYear(1999);
    expect(clock.now().toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(clock.advance(1_500).toISOString()).toBe('2026-01-01T00:00:01.500Z');
  });
});
