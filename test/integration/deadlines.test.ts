import { afterEach, describe, expect, it } from 'vitest';
import { customerModule } from '../../src/modules/customer/customer.module.js';
import { orderModule } from '../../src/modules/order/order.module.js';
import { uniquePrefix } from '../support/databases.js';
import {
  availableCredit,
  eventually,
  getOrder,
  placeOrder,
  registerCustomer,
  waitForStatus,
  type OrderJson,
  type TestSystem,
  sql,
  systemsClosedAfterEach,
} from '../support/system.js';

/**
 * Every order ends: with the Customer side silent, the order is rejected with TIMEOUT at its
 * deadline (a row in PostgreSQL, found by the Order side's periodic job). When the Customer side
 * comes back and reserves the credit late, that credit is given back. An order decided in time
 * is never timed out.
 */

const USD = (amount: number) => ({ amount, currency: 'USD' });
const LIMIT = USD(10_000);
const DEADLINE_MS = 500;

const start = systemsClosedAfterEach(afterEach);

async function messages(system: TestSystem, schema: 'ordering' | 'customers', correlationId: string): Promise<string[]> {
  const rows = await sql<{ type: string }>(system, `select type from "${schema}".outbox where correlation_id = ? order by seq`, [
    correlationId,
  ]);
  return rows.map((r) => r.type);
}

async function reservation(system: TestSystem, orderId: string): Promise<{ status: string; amount: string } | undefined> {
  const [row] = await sql<{ status: string; amount: string }>(
    system,
    'select status, amount from customers.credit_reservations where order_id = ?',
    [orderId],
  );
  return row;
}

const step = (order: OrderJson, name: string) => order.saga?.steps.filter((s) => s.name === name) ?? [];

/**
 * An HTTP front for both modules that runs nothing, and an Order side that runs its use cases
 * and its deadline job: the Customer side is not consuming. All share one database and one
 * BullMQ prefix, so a Customer side started later finds the jobs signalled for it.
 */
async function withCustomerSideDown(style: 'choreography' | 'orchestration') {
  const env = { SAGA_STYLE: style, ORDER_DEADLINE_MS: String(DEADLINE_MS), EVENT_BUS: 'bullmq', BULLMQ_PREFIX: uniquePrefix() };
  const api = await start({ consume: false, jobs: false, env });
  const databaseUrl = api.config.DATABASE_URL!;
  await start({ databaseUrl, modules: [orderModule], env });
  const startCustomerSide = () => start({ databaseUrl, modules: [customerModule], env });
  return { api, startCustomerSide };
}

async function placeAndTimeOut(api: TestSystem, style: string): Promise<{ customerId: string; orderId: string }> {
  const customerId = await registerCustomer(api.app, LIMIT);
  const orderId = await placeOrder(api.app, customerId, USD(6_000));
  const order = await waitForStatus(api.app, orderId, ['REJECTED', 'APPROVED'], 10_000);
  expect(order.status).toBe('REJECTED');
  expect(order.rejectionReason).toBe('TIMEOUT');
  expect(order.saga).toMatchObject({ style, state: 'REJECTED' });
  expect(step(order, 'deadline-passed')).toHaveLength(1);
  expect(step(order, 'order-rejected')).toEqual([expect.objectContaining({ outcome: 'done', detail: 'TIMEOUT' })]);
  expect(await availableCredit(api.app, customerId)).toBe(10_000);
  return { customerId, orderId };
}

describe('choreography: an order the Customer side never answers', () => {
  it('is rejected with TIMEOUT, and a reservation made after the deadline is released', async () => {
    const { api, startCustomerSide } = await withCustomerSideDown('choreography');
    const { customerId, orderId } = await placeAndTimeOut(api, 'choreography');

    // The Customer side wakes up and handles order.created.v1 first: the late reservation.
    const [created] = await sql<{ id: string }>(
      api,
      `select id from ordering.outbox where correlation_id = ? and type = 'order.created.v1'`,
      [orderId],
    );
    const reserve = { useCase: 'customer.reserve-credit', messageId: created!.id };
    expect(await api.runtime.inboxOf(reserve.useCase).processOne(reserve)).toBe('done');
    expect(await availableCredit(api.app, customerId)).toBe(4_000);

    await startCustomerSide();
    await eventually(async () => ((await availableCredit(api.app, customerId)) === 10_000 ? true : undefined), {
      what: 'the late reservation to be released',
    });
    expect(await reservation(api, orderId)).toEqual({ status: 'RELEASED', amount: '6000' });
    expect(await messages(api, 'customers', orderId)).toEqual(['customer.credit-reserved.v1', 'customer.credit-released.v1']);

    const order = await eventually(
      async () => {
        const o = await getOrder(api.app, orderId);
        return step(o, 'credit-released').length > 0 ? o : undefined;
      },
      { what: 'the release to reach the order' },
    );
    expect(order).toMatchObject({ status: 'REJECTED', rejectionReason: 'TIMEOUT' });
    expect(step(order, 'credit-reserved')).toEqual([expect.objectContaining({ outcome: 'ignored' })]);
    expect(await messages(api, 'ordering', orderId)).toEqual(['order.created.v1', 'order.rejected.v1']);
  });

  it('is rejected with TIMEOUT, and a release that arrives before the reservation stops it from being made', async () => {
    const { api, startCustomerSide } = await withCustomerSideDown('choreography');
    const { customerId, orderId } = await placeAndTimeOut(api, 'choreography');

    const [rejected] = await sql<{ id: string }>(
      api,
      `select id from ordering.outbox where correlation_id = ? and type = 'order.rejected.v1'`,
      [orderId],
    );
    const release = { useCase: 'customer.release-credit', messageId: rejected!.id };
    await eventually(async () => ((await api.runtime.inboxOf(release.useCase).processOne(release)) === 'done' ? true : undefined), {
      what: 'order.rejected.v1 to be relayed and handled',
    });

    await startCustomerSide();
    await eventually(
      async () => {
        const [row] = await sql<{ n: number }>(
          api,
          `select count(*)::int as n from customers.inbox where correlation_id = ? and status = 'done'`,
          [orderId],
        );
        return row?.n === 2 ? true : undefined;
      },
      { what: 'the Customer side to handle order.created.v1' },
    );
    expect(await reservation(api, orderId)).toEqual({ status: 'RELEASED', amount: '0' });
    expect(await availableCredit(api.app, customerId)).toBe(10_000);
    expect(await messages(api, 'customers', orderId)).toEqual([]);
    expect(await getOrder(api.app, orderId)).toMatchObject({ status: 'REJECTED', rejectionReason: 'TIMEOUT' });
  });
});

describe('orchestration: an order the Customer side never answers', () => {
  it('is rejected with TIMEOUT, and the saga compensates a reservation made after the deadline', async () => {
    const { api, startCustomerSide } = await withCustomerSideDown('orchestration');
    const { customerId, orderId } = await placeAndTimeOut(api, 'orchestration');

    await startCustomerSide();
    const order = await eventually(
      async () => {
        const o = await getOrder(api.app, orderId);
        return o.saga?.state === 'COMPENSATED' ? o : undefined;
      },
      { what: 'the saga to compensate the late reservation' },
    );
    expect(order).toMatchObject({ status: 'REJECTED', rejectionReason: 'TIMEOUT' });
    expect(step(order, 'credit-reserved')).toEqual([expect.objectContaining({ outcome: 'received' })]);
    expect(step(order, 'release-credit')).toEqual([expect.objectContaining({ outcome: 'sent' })]);
    expect(await messages(api, 'ordering', orderId)).toEqual([
      'order.created.v1',
      'customer.reserve-credit.v1',
      'order.rejected.v1',
      'customer.release-credit.v1',
    ]);
    expect(await messages(api, 'customers', orderId)).toEqual(['customer.credit-reserved.v1', 'customer.credit-released.v1']);
    expect(await reservation(api, orderId)).toEqual({ status: 'RELEASED', amount: '6000' });
    expect(await availableCredit(api.app, customerId)).toBe(10_000);
  });
});

describe.each(['choreography', 'orchestration'] as const)('%s: an order decided before its deadline', (style) => {
  it('is never timed out', async () => {
    const deadlineMs = 2_000;
    // Jobs run only when the test says so, after the deadline.
    const system = await start({ jobs: false, env: { SAGA_STYLE: style, ORDER_DEADLINE_MS: String(deadlineMs), EVENT_BUS: 'bullmq' } });
    const customerId = await registerCustomer(system.app, LIMIT);
    const placedAt = Date.now();
    const orderId = await placeOrder(system.app, customerId, USD(6_000));
    await waitForStatus(system.app, orderId, ['APPROVED'], deadlineMs);
    expect(Date.now() - placedAt).toBeLessThan(deadlineMs);

    await new Promise((r) => setTimeout(r, placedAt + deadlineMs + 100 - Date.now()));
    await system.runtime.runJobsOnce();

    const order = await getOrder(system.app, orderId);
    expect(order).toMatchObject({ status: 'APPROVED', saga: { state: 'APPROVED' } });
    expect(step(order, 'deadline-passed')).toEqual([]);
    expect(await messages(system, 'ordering', orderId)).not.toContain('order.rejected.v1');
    expect(await availableCredit(system.app, customerId)).toBe(4_000);
  });
});
