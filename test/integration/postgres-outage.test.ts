import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, placeOrder, registerCustomer, startTestSystem, type TestSystem } from '../support/system.js';

/**
 * A delivery whose transaction loses its connection (PostgreSQL restarting, failing over, or
 * ending the session) is not a failed attempt of that delivery: nothing of it committed, and an
 * outage that strikes often must never use up a message's attempts and dead-letter it.
 */
const RESERVE = 'customer.reserve-credit';

let system: TestSystem;
let admin: pg.Client;

beforeAll(async () => {
  // No workers, relay or jobs: the test moves each delivery itself.
  system = await startTestSystem({ env: { EVENT_BUS: 'memory', SAGA_STYLE: 'choreography', DELIVERY_MAX_ATTEMPTS: '1' }, consume: false });
  admin = new pg.Client({ connectionString: system.config.DATABASE_URL });
  await admin.connect();
});

afterAll(async () => {
  await admin?.end();
  await system?.close();
});

interface Row {
  status: string;
  attempts: number;
  signaled: boolean;
}

async function deliveryOf(orderId: string): Promise<Row> {
  const { rows } = await admin.query<Row>(
    `select status, attempts, signaled_at is not null as signaled from customers.inbox where use_case = $1 and correlation_id = $2`,
    [RESERVE, orderId],
  );
  return rows[0]!;
}

describe('a delivery transaction that loses its connection', () => {
  it('is carried again without counting an attempt, even with one attempt allowed', async () => {
    const customerId = await registerCustomer(system.app, { amount: 10_000, currency: 'USD' });
    const orderId = await placeOrder(system.app, customerId, { amount: 2_500, currency: 'USD' });
    await system.runtime.relay.drainAll();
    const { rows } = await admin.query<{ message_id: string }>(
      `select message_id from customers.inbox where use_case = $1 and correlation_id = $2`,
      [RESERVE, orderId],
    );
    const messageId = rows[0]!.message_id;

    // The handler locks its customer: held here, the delivery's transaction waits inside the handler.
    await admin.query('begin');
    await admin.query('select 1 from customers.customers where id = $1 for update', [customerId]);
    const inbox = system.runtime.inboxOf(RESERVE);
    const processing = inbox.processOne({ useCase: RESERVE, messageId });
    const waiter = await eventually(async () => {
      const found = await admin.query<{ pid: number }>(
        `select pid from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`,
      );
      return found.rows[0]?.pid;
    });
    await admin.query('select pg_terminate_backend($1)', [waiter]);
    expect(await processing).toBe('interrupted');
    await admin.query('rollback');

    // Pending, no attempt used, its signal cleared so that the sweeper carries it at its next pass.
    expect(await deliveryOf(orderId)).toEqual({ status: 'pending', attempts: 0, signaled: false });
    expect(await inbox.processOne({ useCase: RESERVE, messageId })).toBe('done');
    expect(await deliveryOf(orderId)).toMatchObject({ status: 'done', attempts: 1 });
  });
});
