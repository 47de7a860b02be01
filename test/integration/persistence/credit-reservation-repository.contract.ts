import { beforeEach, expect, it } from 'vitest';
import type { CreditReservationRepositoryPort } from '../../../src/modules/customer/application/ports/credit-reservation.repository.port.js';
import type { CustomerRepositoryPort } from '../../../src/modules/customer/application/ports/customer.repository.port.js';
import { CreditReservation } from '../../../src/modules/customer/domain/credit-reservation.entity.js';
import { Customer } from '../../../src/modules/customer/domain/customer.aggregate.js';
import { Money, uuidv7 } from '../../../src/shared/kernel/index.js';
import type { OpenStore, Store } from './store.js';

const T0 = new Date('2026-12-01T10:00:00.000Z');

/** Reservations belong to a customer: the store comes with the customers it may reference. */
export interface CreditReservationStore extends Store<CreditReservationRepositoryPort> {
  readonly customers: CustomerRepositoryPort;
}

const stored = (r: CreditReservation | null) =>
  r && { orderId: r.orderId, customerId: r.customerId, amount: r.amount, status: r.status, isNew: r.isNew };

/** What every CreditReservationRepositoryPort does: the in-memory fake and PostgreSQL alike. */
export function creditReservationRepositoryContract(open: OpenStore<CreditReservationStore>): void {
  let reservations: CreditReservationRepositoryPort;
  let tx: CreditReservationStore['transaction'];
  let customerId: string;
  const find = (orderId: string) => tx.run(() => reservations.findByOrderIdForUpdate(orderId));

  beforeEach(async () => {
    const store = await open();
    ({ port: reservations, transaction: tx } = store);
    const customer = Customer.register(uuidv7(), 'Ada Lovelace', Money.of(10_000, 'EUR'), T0);
    await tx.run(() => store.customers.add(customer));
    customerId = customer.id;
  });

  it('stores a new reservation and reads it back, no longer new', async () => {
    const orderId = uuidv7();
    await tx.run(() => reservations.save(CreditReservation.reserved(orderId, customerId, Money.of(2_500, 'EUR'))));
    expect(stored(await find(orderId))).toEqual({ orderId, customerId, amount: Money.of(2_500, 'EUR'), status: 'RESERVED', isNew: false });
  });

  it('finds nothing for an order without a reservation', async () => {
    expect(await find(uuidv7())).toBeNull();
  });

  it('saves a release of a loaded reservation', async () => {
    const orderId = uuidv7();
    await tx.run(() => reservations.save(CreditReservation.reserved(orderId, customerId, Money.of(2_500, 'EUR'))));
    await tx.run(async () => {
      const loaded = (await reservations.findByOrderIdForUpdate(orderId))!;
      loaded.markReleased();
      await reservations.save(loaded);
    });
    expect(stored(await find(orderId))).toMatchObject({ amount: Money.of(2_500, 'EUR'), status: 'RELEASED' });
  });

  it('stores the marker of a release that came before any reservation', async () => {
    const orderId = uuidv7();
    await tx.run(() => reservations.save(CreditReservation.releasedBeforeReservation(orderId, customerId, 'EUR')));
    expect(stored(await find(orderId))).toEqual({ orderId, customerId, amount: Money.zero('EUR'), status: 'RELEASED', isNew: false });
  });

  it('refuses a second new reservation for the same order', async () => {
    const orderId = uuidv7();
    await tx.run(() => reservations.save(CreditReservation.reserved(orderId, customerId, Money.of(2_500, 'EUR'))));
    await expect(
      tx.run(() => reservations.save(CreditReservation.reserved(orderId, customerId, Money.of(100, 'EUR')))),
    ).rejects.toMatchObject({ code: '23505' });
    expect(stored(await find(orderId))).toMatchObject({ amount: Money.of(2_500, 'EUR'), status: 'RESERVED' });
  });

  it('keeps nothing of a transaction that failed', async () => {
    const orderId = uuidv7();
    await expect(
      tx.run(async () => {
        await reservations.save(CreditReservation.reserved(orderId, customerId, Money.of(2_500, 'EUR')));
        throw new Error('a later step failed');
      }),
    ).rejects.toThrow('a later step failed');
    expect(await find(orderId)).toBeNull();
  });
}
