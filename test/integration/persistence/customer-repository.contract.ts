import { beforeEach, expect, it } from 'vitest';
import type { CustomerRepositoryPort } from '../../../src/modules/customer/application/ports/customer.repository.port.js';
import { Customer } from '../../../src/modules/customer/domain/customer.aggregate.js';
import { ConcurrencyError, Money, uuidv7 } from '../../../src/shared/kernel/index.js';
import type { OpenStore, Store } from './store.js';

const T0 = new Date('2026-12-01T10:00:00.000Z');
const register = (limit = 10_000): Customer => Customer.register(uuidv7(), 'Ada Lovelace', Money.of(limit, 'EUR'), T0);

/** What every CustomerRepositoryPort does: the in-memory fake and PostgreSQL alike. */
export function customerRepositoryContract(open: OpenStore<Store<CustomerRepositoryPort>>): void {
  let customers: CustomerRepositoryPort;
  let tx: Store<CustomerRepositoryPort>['transaction'];
  const add = (customer: Customer): Promise<void> => tx.run(() => customers.add(customer));

  beforeEach(async () => {
    ({ port: customers, transaction: tx } = await open());
  });

  it('stores a new customer at version 1 and reads every field back', async () => {
    const customer = register(9_007_199_254_740_991);
    await add(customer);
    expect(customer.version).toBe(1);
    expect((await customers.findById(customer.id))?.snapshot()).toEqual({ ...customer.snapshot(), version: 1 });
    expect((await tx.run(() => customers.findByIdForUpdate(customer.id)))?.snapshot()).toEqual({ ...customer.snapshot(), version: 1 });
  });

  it('finds nothing for an unknown id', async () => {
    expect(await customers.findById(uuidv7())).toBeNull();
    expect(await tx.run(() => customers.findByIdForUpdate(uuidv7()))).toBeNull();
  });

  it('refuses a second customer with the same id', async () => {
    const customer = register();
    await add(customer);
    await expect(add(Customer.rehydrate({ ...customer.snapshot(), version: 0 }))).rejects.toMatchObject({ code: '23505' });
  });

  it('keeps nothing of a transaction that failed', async () => {
    const customer = register();
    await expect(
      tx.run(async () => {
        await customers.add(customer);
        throw new Error('a later step failed');
      }),
    ).rejects.toThrow('a later step failed');
    expect(await customers.findById(customer.id)).toBeNull();
  });

  it('saves a reservation’s credit and moves the version on', async () => {
    const customer = register(10_000);
    await add(customer);
    await tx.run(async () => {
      const loaded = (await customers.findByIdForUpdate(customer.id))!;
      loaded.reserveCredit(uuidv7(), Money.of(2_500, 'EUR'), T0);
      await customers.save(loaded);
      expect(loaded.version).toBe(2);
    });
    expect((await customers.findById(customer.id))?.snapshot()).toMatchObject({ availableCredit: Money.of(7_500, 'EUR'), version: 2 });
  });

  it('saves the whole state: a changed credit limit and name are not dropped', async () => {
    const customer = register(10_000);
    await add(customer);
    const changed = Customer.rehydrate({
      ...customer.snapshot(),
      name: 'Ada King',
      creditLimit: Money.of(25_000, 'USD'),
      availableCredit: Money.of(20_000, 'USD'),
    });
    await tx.run(() => customers.save(changed));
    expect((await customers.findById(customer.id))?.snapshot()).toEqual({ ...changed.snapshot(), version: 2 });
  });

  it('refuses a save over a version that moved on, and keeps the first change', async () => {
    const customer = register(10_000);
    await add(customer);
    const first = (await customers.findById(customer.id))!;
    const second = (await customers.findById(customer.id))!;
    first.reserveCredit(uuidv7(), Money.of(1_000, 'EUR'), T0);
    await tx.run(() => customers.save(first));
    second.reserveCredit(uuidv7(), Money.of(3_000, 'EUR'), T0);
    await expect(tx.run(() => customers.save(second))).rejects.toBeInstanceOf(ConcurrencyError);
    expect(second.version).toBe(1);
    expect((await customers.findById(customer.id))?.snapshot()).toMatchObject({ availableCredit: Money.of(9_000, 'EUR'), version: 2 });
  });

  it('refuses to store available credit above the limit or below zero, the last line behind the domain', async () => {
    const customer = register(10_000);
    await add(customer);
    const above = Customer.rehydrate({ ...customer.snapshot(), availableCredit: Money.of(10_001, 'EUR') });
    await expect(tx.run(() => customers.save(above))).rejects.toMatchObject({ code: '23514' });
    const below = Customer.rehydrate({ ...customer.snapshot(), availableCredit: Money.of(-1, 'EUR') });
    await expect(tx.run(() => customers.save(below))).rejects.toMatchObject({ code: '23514' });
    const fresh = Customer.rehydrate({ ...register(100).snapshot(), availableCredit: Money.of(101, 'EUR') });
    await expect(add(fresh)).rejects.toMatchObject({ code: '23514' });
    expect((await customers.findById(customer.id))?.snapshot()).toEqual({ ...customer.snapshot(), version: 1 });
    expect(await customers.findById(fresh.id)).toBeNull();
  });

  it('refuses to save a customer that was never added', async () => {
    const customer = register();
    customer.markPersisted(1);
    await expect(tx.run(() => customers.save(customer))).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await customers.findById(customer.id)).toBeNull();
  });
}
