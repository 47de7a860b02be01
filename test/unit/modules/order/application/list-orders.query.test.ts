import { describe, expect, it } from 'vitest';
import { MAX_PAGE_SIZE } from '../../../../../src/modules/order/application/list-orders/list-orders.query.js';
import { uuidv7, ValidationError } from '../../../../../src/shared/kernel/index.js';
import { orderTestbed, type OrderTestbed } from '../../../../support/fakes/index.js';

async function placeMany(tb: OrderTestbed, n: number, customerId = uuidv7()): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    ids.push((await tb.order({ customerId })).id);
    tb.clock.advance(10);
  }
  return ids;
}

describe('ListOrdersQuery', () => {
  it('pages newest first with an opaque cursor until the last page', async () => {
    const tb = orderTestbed();
    const ids = await placeMany(tb, 5);
    const newestFirst = [...ids].reverse();

    const p1 = await tb.listOrders.execute({ limit: 2 });
    expect(p1.items.map((o) => o.id)).toEqual(newestFirst.slice(0, 2));
    expect(p1.nextCursor).not.toBeNull();
    expect(p1.nextCursor).not.toContain(newestFirst[1]!);

    const p2 = await tb.listOrders.execute({ limit: 2, cursor: p1.nextCursor! });
    expect(p2.items.map((o) => o.id)).toEqual(newestFirst.slice(2, 4));
    const p3 = await tb.listOrders.execute({ limit: 2, cursor: p2.nextCursor! });
    expect(p3.items.map((o) => o.id)).toEqual(newestFirst.slice(4));
    expect(p3.nextCursor).toBeNull();
  });

  it('has no next page when the page is exactly full', async () => {
    const tb = orderTestbed();
    await placeMany(tb, 3);
    expect((await tb.listOrders.execute({ limit: 3 })).nextCursor).toBeNull();
  });

  it('filters by customer', async () => {
    const tb = orderTestbed();
    const customer = uuidv7();
    const mine = await placeMany(tb, 2, customer);
    await placeMany(tb, 3);
    const page = await tb.listOrders.execute({ limit: 10, customerId: customer });
    expect(page.items.map((o) => o.id)).toEqual([...mine].reverse());
    expect(page.items.every((o) => o.customerId === customer)).toBe(true);
  });

  it.each([0, -1, MAX_PAGE_SIZE + 1, 2.5, Number.NaN])('refuses a limit of %s with INVALID_LIMIT', async (limit) => {
    const tb = orderTestbed();
    await expect(tb.listOrders.execute({ limit })).rejects.toMatchObject({ code: 'INVALID_LIMIT', kind: 'validation' });
  });

  it('accepts the largest page size', async () => {
    const tb = orderTestbed();
    await placeMany(tb, 1);
    expect((await tb.listOrders.execute({ limit: MAX_PAGE_SIZE })).items).toHaveLength(1);
  });

  it.each([
    ['garbage', 'not a cursor!'],
    ['empty', ''],
    ['a raw order id', '01900000-0000-7000-8000-00000000000a'],
    ['an encoded non-id', Buffer.from('DROP TABLE orders', 'utf8').toString('base64url')],
  ])('refuses a cursor that is %s with INVALID_CURSOR', async (_label, cursor) => {
    const tb = orderTestbed();
    const attempt = tb.listOrders.execute({ limit: 10, cursor });
    await expect(attempt).rejects.toBeInstanceOf(ValidationError);
    await expect(attempt).rejects.toMatchObject({ code: 'INVALID_CURSOR' });
  });
});
