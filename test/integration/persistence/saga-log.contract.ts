import { beforeEach, expect, it } from 'vitest';
import type { SagaLogPort } from '../../../src/modules/order/application/ports/saga-log.port.js';
import { uuidv7 } from '../../../src/shared/kernel/index.js';
import type { OpenStore, Store } from './store.js';

const T0 = new Date('2026-12-01T10:00:00.000Z');
const at = (ms: number): Date => new Date(T0.getTime() + ms);

/** What every SagaLogPort does: the in-memory fake and PostgreSQL alike. */
export function sagaLogContract(open: OpenStore<Store<SagaLogPort>>): void {
  let log: SagaLogPort;
  let tx: Store<SagaLogPort>['transaction'];

  beforeEach(async () => {
    ({ port: log, transaction: tx } = await open());
  });

  it('lists an order’s steps in the order they were appended, across transactions', async () => {
    const orderId = uuidv7();
    await tx.run(() => log.append(orderId, [{ name: 'order-placed', outcome: 'done', at: at(0) }]));
    await tx.run(async () => {
      await log.append(orderId, [{ name: 'credit-reserved', outcome: 'received', at: at(2_000) }]);
      // An earlier time appended later stays later: the log is the order of appends, not of times.
      await log.append(orderId, [
        { name: 'order-approved', outcome: 'done', at: at(1_000), detail: 'within the limit' },
        { name: 'order-approved', outcome: 'ignored', at: at(3_000) },
      ]);
    });
    expect(await log.list(orderId)).toEqual([
      { name: 'order-placed', outcome: 'done', at: at(0) },
      { name: 'credit-reserved', outcome: 'received', at: at(2_000) },
      { name: 'order-approved', outcome: 'done', at: at(1_000), detail: 'within the limit' },
      { name: 'order-approved', outcome: 'ignored', at: at(3_000) },
    ]);
  });

  it('keeps each order’s steps apart', async () => {
    const [a, b] = [uuidv7(), uuidv7()];
    await tx.run(async () => {
      await log.append(a, [{ name: 'order-placed', outcome: 'done', at: at(0) }]);
      await log.append(b, [{ name: 'reserve-credit', outcome: 'sent', at: at(1) }]);
    });
    expect((await log.list(a)).map((s) => s.name)).toEqual(['order-placed']);
    expect((await log.list(b)).map((s) => s.name)).toEqual(['reserve-credit']);
  });

  it('lists nothing for an order without steps, and an empty append adds nothing', async () => {
    const orderId = uuidv7();
    await tx.run(() => log.append(orderId, []));
    expect(await log.list(orderId)).toEqual([]);
  });

  it('reads an empty detail as no detail', async () => {
    const orderId = uuidv7();
    await tx.run(() => log.append(orderId, [{ name: 'order-rejected', outcome: 'done', at: at(0), detail: '' }]));
    expect(await log.list(orderId)).toEqual([{ name: 'order-rejected', outcome: 'done', at: at(0) }]);
  });

  it('writes steps appended in a transaction when it commits: that transaction cannot read them back', async () => {
    const orderId = uuidv7();
    const step = { name: 'order-placed', outcome: 'done', at: at(0) } as const;
    expect(await tx.run(async () => (await log.append(orderId, [step]), log.list(orderId)))).toEqual([]);
    expect(await log.list(orderId)).toEqual([step]);
  });

  it('keeps nothing of a transaction that failed', async () => {
    const orderId = uuidv7();
    await expect(
      tx.run(async () => {
        await log.append(orderId, [{ name: 'order-placed', outcome: 'done', at: at(0) }]);
        throw new Error('a later step failed');
      }),
    ).rejects.toThrow('a later step failed');
    expect(await log.list(orderId)).toEqual([]);
  });
}
