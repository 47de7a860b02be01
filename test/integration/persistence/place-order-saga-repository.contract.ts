import { beforeEach, expect, it } from 'vitest';
import type { PlaceOrderSagaRepositoryPort } from '../../../src/modules/order/application/ports/saga.repository.port.js';
import { PlaceOrderSaga } from '../../../src/modules/order/domain/place-order-saga.js';
import { ConcurrencyError, uuidv7 } from '../../../src/shared/kernel/index.js';
import type { OpenStore, Store } from './store.js';

const T0 = new Date('2026-12-01T10:00:00.000Z');
const at = (ms: number): Date => new Date(T0.getTime() + ms);
const start = (deadlineAt: Date = at(60_000)): PlaceOrderSaga => PlaceOrderSaga.start(uuidv7(), deadlineAt).saga;

/** What every PlaceOrderSagaRepositoryPort does: the in-memory fake and PostgreSQL alike. */
export function placeOrderSagaRepositoryContract(open: OpenStore<Store<PlaceOrderSagaRepositoryPort>>): void {
  let sagas: PlaceOrderSagaRepositoryPort;
  let tx: Store<PlaceOrderSagaRepositoryPort>['transaction'];
  const add = async (...added: PlaceOrderSaga[]): Promise<void> => {
    for (const saga of added) await tx.run(() => sagas.add(saga));
  };

  beforeEach(async () => {
    ({ port: sagas, transaction: tx } = await open());
  });

  it('stores a new saga at version 1 and reads it back', async () => {
    const saga = start();
    await add(saga);
    expect((await sagas.findById(saga.id))?.snapshot()).toEqual({
      id: saga.id,
      state: 'AWAITING_CREDIT',
      deadlineAt: at(60_000),
      version: 1,
      definitionVersion: 1,
    });
  });

  it('finds nothing for an unknown id', async () => {
    expect(await sagas.findById(uuidv7())).toBeNull();
  });

  it('writes a saga added in a transaction when it commits: that transaction cannot read it back', async () => {
    const saga = start();
    expect(await tx.run(async () => (await sagas.add(saga), sagas.findById(saga.id)))).toBeNull();
    expect(await sagas.findById(saga.id)).not.toBeNull();
  });

  it('keeps nothing of a transaction that failed', async () => {
    const saga = start();
    await expect(
      tx.run(async () => {
        await sagas.add(saga);
        throw new Error('a later step failed');
      }),
    ).rejects.toThrow('a later step failed');
    expect(await sagas.findById(saga.id)).toBeNull();
  });

  it('saves a transition and moves the version on', async () => {
    const saga = start();
    await add(saga);
    const loaded = (await sagas.findById(saga.id))!;
    expect(loaded.onCreditReserved()).toEqual({ kind: 'approve-order' });
    await tx.run(() => sagas.save(loaded));
    expect((await sagas.findById(saga.id))?.snapshot()).toMatchObject({ state: 'APPROVED', version: 2 });
  });

  it('saves the whole state: no field of the snapshot is dropped', async () => {
    const saga = start();
    await add(saga);
    const changed = PlaceOrderSaga.rehydrate({
      id: saga.id,
      state: 'COMPENSATING',
      deadlineAt: at(90_000),
      version: 1,
      definitionVersion: 1,
    });
    await tx.run(() => sagas.save(changed));
    expect((await sagas.findById(saga.id))?.snapshot()).toEqual({ ...changed.snapshot(), version: 2 });
  });

  it('refuses a save over a version that moved on, and keeps the first change', async () => {
    const saga = start();
    await add(saga);
    const first = (await sagas.findById(saga.id))!;
    const second = (await sagas.findById(saga.id))!;
    first.onCreditReserved();
    await tx.run(() => sagas.save(first));
    second.onCreditReservationFailed('CREDIT_LIMIT_EXCEEDED');
    await expect(tx.run(() => sagas.save(second))).rejects.toBeInstanceOf(ConcurrencyError);
    expect((await sagas.findById(saga.id))?.snapshot()).toMatchObject({ state: 'APPROVED', version: 2 });
  });

  it('refuses to save a saga that was never added', async () => {
    const saga = PlaceOrderSaga.rehydrate({ id: uuidv7(), state: 'APPROVED', deadlineAt: at(0), version: 1, definitionVersion: 1 });
    await expect(tx.run(() => sagas.save(saga))).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await sagas.findById(saga.id)).toBeNull();
  });

  it('finds sagas still awaiting credit past their deadline, oldest deadline first, up to the limit', async () => {
    const now = at(60_000);
    const later = start(at(50_000));
    const oldest = start(at(10_000));
    const middle = start(at(30_000));
    const dueNow = start(now);
    const notYet = start(at(60_001));
    const answered = start(at(1_000));
    await add(later, oldest, middle, dueNow, notYet, answered);
    const loaded = (await sagas.findById(answered.id))!;
    loaded.onCreditReservationFailed('CREDIT_LIMIT_EXCEEDED');
    await tx.run(() => sagas.save(loaded));

    expect(await sagas.findOverdue(now, 10)).toEqual([oldest.id, middle.id, later.id, dueNow.id]);
    expect(await sagas.findOverdue(now, 2)).toEqual([oldest.id, middle.id]);
    expect(await sagas.findOverdue(at(0), 10)).toEqual([]);
  });
}
