import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteKeysWithPrefix } from '../../src/dev/provisioning/redis.js';
import {
  availableCredit,
  eventually,
  getOrder,
  placeOrder,
  registerCustomer,
  startTestSystem,
  TERMINAL,
  type OrderJson,
  type TestSystem,
} from '../support/system.js';

/**
 * Many orders of one customer at once, over BullMQ workers running concurrently: the credit
 * check must serialise on the customer, so exactly as many orders as the limit covers are
 * approved, the rest rejected, and the available credit never goes below zero.
 */

const ORDERS = 50;
const AMOUNT = 1_000;
const COVERED = 17;
// Covers COVERED orders, and almost one more: an off-by-one in the check would approve it.
const LIMIT = COVERED * AMOUNT + AMOUNT - 1;

describe.each(['choreography', 'orchestration'] as const)(`${ORDERS} concurrent orders on one customer (%s over bullmq)`, (style) => {
  let system: TestSystem;

  beforeAll(async () => {
    system = await startTestSystem({ env: { EVENT_BUS: 'bullmq', SAGA_STYLE: style, WORKER_CONCURRENCY: '8' } });
  });

  afterAll(async () => {
    await system?.close();
    if (system?.config.REDIS_URL) await deleteKeysWithPrefix(system.config.REDIS_URL, system.config.BULLMQ_PREFIX);
  });

  it(`approves exactly the ${COVERED} the limit covers and rejects the others`, { timeout: 60_000 }, async () => {
    const customerId = await registerCustomer(system.app, { amount: LIMIT, currency: 'USD' });
    const ids = await Promise.all(
      Array.from({ length: ORDERS }, () => placeOrder(system.app, customerId, { amount: AMOUNT, currency: 'USD' })),
    );
    expect(new Set(ids).size).toBe(ORDERS);

    const customers = system.runtime.module('customer').db;
    const ordering = system.runtime.module('order').db;
    let lowest = LIMIT;
    await eventually(
      async () => {
        const [row] = await customers.query<{ available: string }>(
          'select available_credit as available from customers.customers where id = ?',
          [customerId],
        );
        lowest = Math.min(lowest, Number(row?.available));
        const [open] = await ordering.query<{ n: number }>(
          `select count(*)::int as n from ordering.orders where customer_id = ? and status = 'PENDING'`,
          [customerId],
        );
        return open?.n === 0 ? true : undefined;
      },
      { timeoutMs: 40_000, intervalMs: 50, what: 'every order to end' },
    );
    const orders = await Promise.all(ids.map((id) => getOrder(system.app, id)));
    expect(orders.every((o) => TERMINAL.includes(o.status))).toBe(true);

    const byStatus = (status: OrderJson['status']) => orders.filter((o) => o.status === status);
    expect(byStatus('APPROVED')).toHaveLength(COVERED);
    expect(byStatus('REJECTED')).toHaveLength(ORDERS - COVERED);
    expect(new Set(byStatus('REJECTED').map((o) => o.rejectionReason))).toEqual(new Set(['CREDIT_LIMIT_EXCEEDED']));
    expect(await availableCredit(system.app, customerId)).toBe(LIMIT - COVERED * AMOUNT);
    expect(lowest).toBeGreaterThanOrEqual(0);

    // Every delivery is handled (the releases of rejected orders come last) and none is dead.
    await eventually(
      async () => {
        const stats = await system.app.inject({ method: 'GET', url: '/admin/deliveries/stats' });
        const useCases = (
          stats.json() as { schemas: Array<{ useCases: Array<{ counts: { pending: number; dead: number } }> }> }
        ).schemas.flatMap((s) => s.useCases);
        if (useCases.some((u) => u.counts.dead > 0)) throw new Error(`dead deliveries: ${stats.body}`);
        return useCases.every((u) => u.counts.pending === 0) ? true : undefined;
      },
      { timeoutMs: 20_000, what: 'no pending delivery' },
    );

    // The reservations agree with the orders: one per approved order; a rejected order leaves at
    // most a RELEASED marker that holds no credit.
    const reservations = await customers.query<{ order_id: string; amount: string; status: string }>(
      'select order_id, amount, status from customers.credit_reservations where customer_id = ?',
      [customerId],
    );
    const reserved = reservations.filter((r) => r.status === 'RESERVED');
    expect(reserved.map((r) => r.order_id).sort()).toEqual(
      byStatus('APPROVED')
        .map((o) => o.id)
        .sort(),
    );
    expect(reserved.every((r) => Number(r.amount) === AMOUNT)).toBe(true);
    const rejectedIds = new Set(byStatus('REJECTED').map((o) => o.id));
    expect(reservations.filter((r) => r.status !== 'RESERVED').every((r) => r.status === 'RELEASED' && rejectedIds.has(r.order_id))).toBe(
      true,
    );
    expect(await availableCredit(system.app, customerId)).toBe(LIMIT - COVERED * AMOUNT);
  });

  it('the database refuses a negative available credit on its own', async () => {
    const customerId = await registerCustomer(system.app, { amount: 10, currency: 'USD' });
    const customers = system.runtime.module('customer').db;
    await expect(customers.exec('update customers.customers set available_credit = -1 where id = ?', [customerId])).rejects.toMatchObject({
      code: '23514',
    });
    await expect(customers.exec('update customers.customers set available_credit = 11 where id = ?', [customerId])).rejects.toMatchObject({
      code: '23514',
    });
    expect(await availableCredit(system.app, customerId)).toBe(10);
  });
});
