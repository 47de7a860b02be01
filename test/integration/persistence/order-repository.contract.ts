import { beforeEach, expect, it } from 'vitest';
import type { OrderRepositoryPort } from '../../../src/modules/order/application/ports/order.repository.port.js';
import { Order } from '../../../src/modules/order/domain/order.aggregate.js';
import type { SagaStyle } from '../../../src/shared/contract/routing.js';
import { ConcurrencyError, Money, uuidv7 } from '../../../src/shared/kernel/index.js';
import type { OpenStore, Store } from './store.js';

const T0 = new Date('2026-12-01T10:00:00.000Z');
const at = (ms: number): Date => new Date(T0.getTime() + ms);

function place(options: { customerId?: string; style?: SagaStyle; deadlineAt?: Date; amount?: number } = {}): Order {
  return Order.place(
    uuidv7(),
    options.customerId ?? uuidv7(),
    Money.of(options.amount ?? 1_250, 'EUR'),
    options.style ?? 'choreography',
    options.deadlineAt ?? at(60_000),
    T0,
  );
}

/** What every OrderRepositoryPort does, whatever stores it: the in-memory fake and PostgreSQL alike. */
export function orderRepositoryContract(open: OpenStore<Store<OrderRepositoryPort>>): void {
  let orders: OrderRepositoryPort;
  let tx: Store<OrderRepositoryPort>['transaction'];
  const add = async (...added: Order[]): Promise<void> => {
    for (const order of added) await tx.run(() => orders.add(order));
  };

  beforeEach(async () => {
    ({ port: orders, transaction: tx } = await open());
  });

  it('stores a new order at version 1 and reads every field back', async () => {
    const order = place({ amount: 9_007_199_254_740_991 });
    await add(order);
    expect(order.version).toBe(1);
    expect((await orders.findById(order.id))?.snapshot()).toEqual({ ...order.snapshot(), version: 1 });
    expect((await tx.run(() => orders.findByIdForUpdate(order.id)))?.snapshot()).toEqual({ ...order.snapshot(), version: 1 });
  });

  it('finds nothing for an unknown id', async () => {
    expect(await orders.findById(uuidv7())).toBeNull();
    expect(await tx.run(() => orders.findByIdForUpdate(uuidv7()))).toBeNull();
  });

  it('refuses a second order with the same id', async () => {
    const order = place();
    await add(order);
    await expect(add(Order.rehydrate({ ...order.snapshot(), version: 0 }))).rejects.toMatchObject({ code: '23505' });
  });

  it('writes an order added in a transaction when it commits: that transaction cannot read it back', async () => {
    const order = place();
    expect(await tx.run(async () => (await orders.add(order), orders.findById(order.id)))).toBeNull();
    expect(await orders.findById(order.id)).not.toBeNull();
  });

  it('keeps nothing of a transaction that failed', async () => {
    const order = place();
    await expect(
      tx.run(async () => {
        await orders.add(order);
        throw new Error('a later step failed');
      }),
    ).rejects.toThrow('a later step failed');
    expect(await orders.findById(order.id)).toBeNull();
  });

  it('saves a decision and moves the version on', async () => {
    const order = place();
    await add(order);
    await tx.run(async () => {
      const loaded = (await orders.findByIdForUpdate(order.id))!;
      loaded.reject('CREDIT_LIMIT_EXCEEDED', at(5_000));
      await orders.save(loaded);
      expect(loaded.version).toBe(2);
    });
    const stored = (await orders.findById(order.id))!.snapshot();
    expect(stored).toMatchObject({ status: 'REJECTED', rejectionReason: 'CREDIT_LIMIT_EXCEEDED', decidedAt: at(5_000), version: 2 });
  });

  it('saves the whole state: no field of the snapshot is dropped', async () => {
    const order = place();
    await add(order);
    const changed = Order.rehydrate({
      ...order.snapshot(),
      customerId: uuidv7(),
      total: Money.of(777, 'USD'),
      status: 'REJECTED',
      rejectionReason: 'TIMEOUT',
      sagaStyle: 'orchestration',
      deadlineAt: at(120_000),
      createdAt: at(1_000),
      decidedAt: at(90_000),
    });
    await tx.run(() => orders.save(changed));
    expect((await orders.findById(order.id))?.snapshot()).toEqual({ ...changed.snapshot(), version: 2 });
  });

  it('refuses a save over a version that moved on, and keeps the first change', async () => {
    const order = place();
    await add(order);
    const first = (await orders.findById(order.id))!;
    const second = (await orders.findById(order.id))!;
    first.approve(at(1_000));
    await tx.run(() => orders.save(first));
    second.reject('TIMEOUT', at(2_000));
    await expect(tx.run(() => orders.save(second))).rejects.toBeInstanceOf(ConcurrencyError);
    expect(second.version).toBe(1);
    expect((await orders.findById(order.id))?.snapshot()).toMatchObject({ status: 'APPROVED', version: 2 });
  });

  it('refuses a rejection without a reason, and a reason without a rejection', async () => {
    const order = place();
    await add(order);
    const noReason = Order.rehydrate({ ...order.snapshot(), status: 'REJECTED', rejectionReason: null });
    await expect(tx.run(() => orders.save(noReason))).rejects.toMatchObject({ code: '23514' });
    const strayReason = Order.rehydrate({ ...order.snapshot(), status: 'APPROVED', rejectionReason: 'TIMEOUT' });
    await expect(tx.run(() => orders.save(strayReason))).rejects.toMatchObject({ code: '23514' });
    expect((await orders.findById(order.id))?.snapshot()).toEqual({ ...order.snapshot(), version: 1 });
  });

  it('refuses to save an order that was never added', async () => {
    const order = place();
    order.markPersisted(1);
    await expect(tx.run(() => orders.save(order))).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await orders.findById(order.id)).toBeNull();
  });

  it('finds overdue choreography orders still PENDING, oldest deadline first, up to the limit', async () => {
    const now = at(60_000);
    const later = place({ deadlineAt: at(50_000) });
    const oldest = place({ deadlineAt: at(10_000) });
    const middle = place({ deadlineAt: at(30_000) });
    const dueNow = place({ deadlineAt: now });
    const notYet = place({ deadlineAt: at(60_001) });
    const orchestrated = place({ style: 'orchestration', deadlineAt: at(5_000) });
    const decided = place({ deadlineAt: at(1_000) });
    await add(later, oldest, middle, dueNow, notYet, orchestrated, decided);
    const loaded = (await orders.findById(decided.id))!;
    loaded.approve(at(2_000));
    await tx.run(() => orders.save(loaded));

    expect(await orders.findOverdue(now, 10)).toEqual([oldest.id, middle.id, later.id, dueNow.id]);
    expect(await orders.findOverdue(now, 2)).toEqual([oldest.id, middle.id]);
    expect(await orders.findOverdue(at(0), 10)).toEqual([]);
  });

  it('lists newest first, by customer, in keyset pages', async () => {
    const customer = uuidv7();
    const other = uuidv7();
    // Ids are time-ordered: placed in this order, added in another.
    const [m0, t0, m1, t1, m2] = [customer, other, customer, other, customer].map((customerId) => place({ customerId }));
    const mine = [m0!, m1!, m2!];
    const theirs = [t0!, t1!];
    await add(m2!, t0!, m0!, t1!, m1!);
    const ids = (page: { orders: Order[] }): string[] => page.orders.map((o) => o.id);

    const all = await orders.list({ limit: 10 });
    expect(ids(all)).toEqual([mine[2]!, theirs[1]!, mine[1]!, theirs[0]!, mine[0]!].map((o) => o.id));
    expect(all.hasMore).toBe(false);
    expect(all.orders[0]?.snapshot()).toEqual({ ...mine[2]!.snapshot(), version: 1 });

    const first = await orders.list({ customerId: customer, limit: 2 });
    expect(ids(first)).toEqual([mine[2]!.id, mine[1]!.id]);
    expect(first.hasMore).toBe(true);
    const second = await orders.list({ customerId: customer, beforeId: mine[1]!.id, limit: 2 });
    expect(ids(second)).toEqual([mine[0]!.id]);
    expect(second.hasMore).toBe(false);
    const exact = await orders.list({ customerId: other, limit: 2 });
    expect(ids(exact)).toEqual([theirs[1]!.id, theirs[0]!.id]);
    expect(exact.hasMore).toBe(false);
    expect(await orders.list({ customerId: uuidv7(), limit: 5 })).toEqual({ orders: [], hasMore: false });
  });
}
