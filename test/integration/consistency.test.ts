import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  checkConsistency,
  checkedModulesOf,
  inOneDatabase,
  type ConsistencyReport,
} from '../../src/dev/cli/consistency/consistency-checks.js';
import { ALL_INBOXES, ALL_MODULES } from '../../src/entrypoints/composition/all-modules.js';
import { customerModule } from '../../src/modules/customer/customer.module.js';
import { orderModule } from '../../src/modules/order/order.module.js';
import { cloneDatabase, cloneRunDatabase } from '../support/databases.js';
import { availableCredit, eventually, placeOrder, registerCustomer, startTestSystem, waitForStatus } from '../support/system.js';

/**
 * `npm run check:consistency` (and the reliability suite's settled check): every invariant holds
 * after real sagas, and each one, the platform's and each module's, fails on a database broken in
 * the one way it looks for (principle 4). Each module's checks read its own schema only: the run
 * where the two modules' schemas are read from two databases proves it.
 */
const O = `"${orderModule.inbox.schema}"`;
const C = `"${customerModule.inbox.schema}"`;
const USD = (amount: number) => ({ amount, currency: 'USD' });

/** A database where sagas of both styles ran to their end: approved, rejected, cancelled. */
let settled: string;

async function runSagas(databaseUrl: string, style: 'choreography' | 'orchestration'): Promise<void> {
  const system = await startTestSystem({ databaseUrl, env: { EVENT_BUS: 'memory', SAGA_STYLE: style } });
  try {
    const customer = await registerCustomer(system.app, USD(1_000));
    const approved = await placeOrder(system.app, customer, USD(600));
    await waitForStatus(system.app, approved, ['APPROVED']);
    const rejected = await placeOrder(system.app, customer, USD(600));
    await waitForStatus(system.app, rejected, ['REJECTED']);
    const cancelled = await placeOrder(system.app, customer, USD(300));
    await waitForStatus(system.app, cancelled, ['APPROVED']);
    expect((await system.app.inject({ method: 'POST', url: `/orders/${cancelled}/cancel` })).statusCode).toBe(202);
    await eventually(async () => ((await availableCredit(system.app, customer)) === 400 ? true : undefined), { what: 'the credit back' });
    // The last release is recorded after the credit comes back: wait for every delivery and outbox row.
    await eventually(
      async () => {
        const report = await withClient(databaseUrl, (c) => checkConsistency(inOneDatabase(c, ALL_MODULES), { mode: 'settled' }));
        return report.checks.every((c) => c.kind !== 'progress' || c.ok) ? true : undefined;
      },
      { what: 'the system to settle' },
    );
  } finally {
    await system.close();
  }
}

async function withClient<T>(databaseUrl: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

const failed = (report: ConsistencyReport) => report.checks.filter((c) => !c.ok).map((c) => c.name);

/** A copy of the settled database broken by `sql`, checked. */
async function broken(sql: string): Promise<ConsistencyReport> {
  const url = await cloneDatabase(settled);
  return withClient(url, async (client) => {
    await client.query(sql);
    return checkConsistency(inOneDatabase(client, ALL_MODULES), { mode: 'settled' });
  });
}

beforeAll(async () => {
  settled = await cloneRunDatabase();
  await runSagas(settled, 'choreography');
  await runSagas(settled, 'orchestration');
}, 120_000);

describe('the consistency checks', () => {
  it('all hold after sagas of both styles, one check per name, the modules’ and the platform’s', async () => {
    const report = await withClient(settled, (c) => checkConsistency(inOneDatabase(c, ALL_MODULES), { mode: 'settled' }));
    expect(failed(report)).toEqual([]);
    const declared = ALL_MODULES.flatMap((m) => (m.consistency?.checks ?? []).map((c) => `${m.name}:${c.name}`));
    expect(declared.length).toBeGreaterThan(0);
    expect(report.checks.filter((c) => c.owner !== 'platform').map((c) => `${c.owner}:${c.name}`)).toEqual(declared);
    expect(report.checks.filter((c) => c.owner === 'platform').map((c) => c.name)).toEqual([
      'no-message-has-two-effects',
      'deliveries-are-delivered',
      'outbox-drains',
      'no-dead-letters',
      'messages-reach-their-consumers',
    ]);
    expect(report.summary.modules[orderModule.name]).toMatchObject({ 'orders APPROVED': 2, 'orders REJECTED': 2, 'orders CANCELLED': 2 });
    expect(report.summary.modules[customerModule.name]).toEqual({ customers: 2 });
  });

  // Each case breaks one thing; the check that looks for it must fail (others may fail with it).
  it.each([
    ['orders-reach-an-end', `update ${O}.orders set status = 'PENDING', rejection_reason = null where status = 'REJECTED'`],
    ['sagas-reach-an-end', `update ${O}.saga_instances set state = 'COMPENSATING' where state = 'REJECTED'`],
    ['sagas-match-orders', `update ${O}.saga_instances set state = 'CANCELLED' where state = 'APPROVED'`],
    [
      'saga-steps-recorded-once',
      `insert into ${O}.saga_steps (order_id, name, outcome, detail, at) select order_id, name, outcome, detail, at from ${O}.saga_steps where name = 'order-approved' limit 1`,
    ],
    ['approvals-follow-credit-reservations', `update ${O}.orders set total_amount = total_amount + 1 where status = 'APPROVED'`],
    ['closed-orders-release-their-credit', `delete from ${O}.outbox where type in ('order.cancelled.v1', 'customer.release-credit.v1')`],
    ['credit-matches-reservations', `update ${C}.customers set available_credit = available_credit - 1`],
    ['reservations-follow-requests', `delete from ${C}.outbox where type = 'customer.credit-reserved.v1'`],
    ['reservations-follow-releases', `update ${C}.credit_reservations set status = 'RESERVED' where status = 'RELEASED' and amount > 0`],
    [
      'no-message-has-two-effects',
      `insert into ${C}.outbox (id, type, correlation_id, causation_id, traceparent, occurred_at, payload, produced_by, relayed_at) select gen_random_uuid(), type, correlation_id, causation_id, traceparent, occurred_at, payload, produced_by, relayed_at from ${C}.outbox limit 1`,
    ],
    [
      'deliveries-are-delivered',
      `update ${C}.inbox set status = 'pending', done_at = null where message_id = (select message_id from ${C}.inbox limit 1)`,
    ],
    ['outbox-drains', `update ${O}.outbox set relayed_at = null where id = (select id from ${O}.outbox limit 1)`],
    ['no-dead-letters', `update ${O}.inbox set status = 'dead' where message_id = (select message_id from ${O}.inbox limit 1)`],
    ['messages-reach-their-consumers', `delete from ${C}.inbox where type = 'order.created.v1'`],
  ])('%s fails on a database broken for it', async (name, sql) => {
    expect(failed(await broken(sql))).toContain(name);
  });

  it('read each module’s schema in its own database: messages are compared across databases by id', async () => {
    const [orders, customers] = [await cloneDatabase(settled), await cloneDatabase(settled)];
    // The Customer module's copy loses a delivery; the Order module's copy, read for the outboxes, still has it.
    await withClient(customers, (c) => c.query(`delete from ${C}.inbox where type = 'order.created.v1'`));
    await withClient(orders, (c) => c.query(`drop schema ${C} cascade`));
    const [ordersClient, customersClient] = [new pg.Client({ connectionString: orders }), new pg.Client({ connectionString: customers })];
    await Promise.all([ordersClient.connect(), customersClient.connect()]);
    try {
      const report = await checkConsistency(
        {
          databases: [
            { client: ordersClient, modules: checkedModulesOf([orderModule]) },
            { client: customersClient, modules: checkedModulesOf([customerModule]) },
          ],
          inboxes: ALL_INBOXES,
        },
        { mode: 'settled' },
      );
      // The Order module's checks pass on a database without the Customer schema; the flow check sees the loss across the two.
      expect(failed(report)).toContain('messages-reach-their-consumers');
      expect(report.checks.filter((c) => !c.ok && c.owner !== customerModule.name).map((c) => c.name)).toEqual([
        'messages-reach-their-consumers',
      ]);
      expect(report.checks.find((c) => c.name === 'messages-reach-their-consumers')?.sample[0]).toMatchObject({
        producer: orderModule.inbox.schema,
        type: 'order.created.v1',
      });
    } finally {
      await Promise.all([ordersClient.end(), customersClient.end()]);
    }
  });
});
