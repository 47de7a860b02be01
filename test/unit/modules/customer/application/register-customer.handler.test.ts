import { describe, expect, it } from 'vitest';
import { isUuidV7, NotFoundError } from '../../../../../src/shared/kernel/index.js';
import { customerTestbed } from '../../../../support/fakes/index.js';

describe('RegisterCustomerHandler', () => {
  it('stores the customer with all its credit available and returns its view', async () => {
    const tb = customerTestbed();
    const view = await tb.registerCustomer.execute({ name: ' Grace Hopper ', creditLimit: { amount: 10_000, currency: 'USD' } });

    expect(isUuidV7(view.id)).toBe(true);
    expect(view).toEqual({
      id: view.id,
      name: 'Grace Hopper',
      creditLimit: { amount: 10_000, currency: 'USD' },
      availableCredit: { amount: 10_000, currency: 'USD' },
    });
    expect(tb.customers.stored(view.id)).toMatchObject({
      name: 'Grace Hopper',
      creditLimit: { amount: 10_000 },
      availableCredit: { amount: 10_000 },
      version: 1,
    });
    expect(tb.db.commits).toBe(1);
    // Registration is not part of any saga: nothing to tell other modules.
    expect(tb.bus.published).toEqual([]);
  });

  it('gives every customer its own id', async () => {
    const tb = customerTestbed();
    const a = await tb.customer();
    const b = await tb.customer();
    expect(a.id).not.toBe(b.id);
    expect(tb.customers.size).toBe(2);
  });

  it.each([
    ['a blank name', { name: '  ', creditLimit: { amount: 1, currency: 'USD' } }, 'INVALID_CUSTOMER_NAME'],
    ['a negative limit', { name: 'Ada', creditLimit: { amount: -1, currency: 'USD' } }, 'INVALID_CREDIT_LIMIT'],
    ['a fractional limit', { name: 'Ada', creditLimit: { amount: 1.5, currency: 'USD' } }, 'INVALID_AMOUNT'],
    ['a bad currency', { name: 'Ada', creditLimit: { amount: 1, currency: 'usd' } }, 'INVALID_CURRENCY'],
  ])('refuses %s and stores nothing', async (_label, command, code) => {
    const tb = customerTestbed();
    await expect(tb.registerCustomer.execute(command)).rejects.toMatchObject({ code, kind: 'validation' });
    expect(tb.customers.size).toBe(0);
  });

  it('is found by GetCustomerQuery, and an unknown id is CUSTOMER_NOT_FOUND', async () => {
    const tb = customerTestbed();
    const view = await tb.customer(500, 'EUR');
    expect(await tb.getCustomer.execute(view.id)).toEqual(view);
    const missing = tb.getCustomer.execute('01900000-0000-7000-8000-000000000000');
    await expect(missing).rejects.toBeInstanceOf(NotFoundError);
    await expect(missing).rejects.toMatchObject({ code: 'CUSTOMER_NOT_FOUND' });
  });
});
