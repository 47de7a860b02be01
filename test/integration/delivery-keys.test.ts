import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { availableCredit, placeOrder, registerCustomer, sql, systemsClosedAfterEach, type TestSystem } from '../support/system.js';

/**
 * Delivery keys (ADR 16): every delivery names the aggregate its handler locks (the customer for
 * credit, the order for order use cases). Two transactions never hold deliveries of one key:
 * claimers that take what is due skip keys others hold, claimers of given deliveries wait for
 * their keys in one global order. Hot customers serialize per key, parallelize across keys, and
 * the saga's transactions cannot deadlock.
 */

const USD = (amount: number) => ({ amount, currency: 'USD' });
const RESERVE = 'customer.reserve-credit';
const start = systemsClosedAfterEach(afterEach);

/** Places one order per entry (a customer may appear several times) and relays them; returns the reserve-credit message ids in order. */
async function pendingFor(system: TestSystem, customers: readonly string[], amount = 100): Promise<string[]> {
  const orderIds: string[] = [];
  for (const customerId of customers) orderIds.push(await placeOrder(system.app, customerId, USD(amount)));
  await system.runtime.relay.drainAll();
  const rows = await sql<{ message_id: string; correlation_id: string }>(
    system,
    `select message_id, correlation_id from customers.inbox where use_case = ? and correlation_id = any(?::uuid[])`,
    [RESERVE, orderIds],
  );
  const byOrder = new Map(rows.map((r) => [r.correlation_id, r.message_id]));
  return orderIds.map((id) => byOrder.get(id)!);
}

/** A connection that holds a customer's row lock, as a long transaction of another kind would: handlers that lock that customer wait. */
async function blockCustomer(system: TestSystem, customerId: string): Promise<pg.Client> {
  const holder = new pg.Client({ connectionString: system.config.DATABASE_URL });
  await holder.connect();
  await holder.query('begin');
  await holder.query('select 1 from customers.customers where id = $1 for update', [customerId]);
  return holder;
}

async function deadlocks(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      'select deadlocks::text as n from pg_stat_database where datname = current_database()',
    );
    return Number(rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

describe('delivery keys', () => {
  it('are written with each delivery, from the payload field the route names', async () => {
    const system = await start({ consume: false, env: { EVENT_BUS: 'memory' } });
    const customerId = await registerCustomer(system.app, USD(10_000));
    const [messageId] = await pendingFor(system, [customerId]);
    const [row] = await sql<{ delivery_key: string }>(system, 'select delivery_key from customers.inbox where message_id = ?', [messageId]);
    expect(row?.delivery_key).toBe(customerId);
  });

  it('a claim takes only the keys it needs, skips the keys another transaction holds, and handles a key in arrival order', async () => {
    const system = await start({ consume: false, env: { EVENT_BUS: 'memory' } });
    const [hot, b, c, d] = await Promise.all([0, 1, 2, 3].map(() => registerCustomer(system.app, USD(10_000))));
    await pendingFor(system, [hot!, hot!, hot!]);
    await pendingFor(system, [b!, c!, d!]);
    const inbox = system.runtime.inboxOf(RESERVE);
    const holder = await blockCustomer(system, hot!);
    try {
      // Three deliveries of the hot customer: a claim of two takes two of them and that key only, and waits in its handler.
      const first = inbox.processNextBatch(RESERVE, 2);
      await new Promise((r) => setTimeout(r, 300));
      // A second claimer skips the held key (its third delivery too) and takes the other customers, while the first still waits.
      expect(await inbox.processNextBatch(RESERVE, 16)).toEqual(['done', 'done', 'done']);
      for (const customer of [b!, c!, d!]) expect(await availableCredit(system.app, customer)).toBe(9_900);
      expect(await inbox.processNextBatch(RESERVE, 16)).toEqual([]);
      await holder.query('rollback');
      expect(await first).toEqual(['done', 'done']);
      expect(await inbox.processNextBatch(RESERVE, 16)).toEqual(['done']);
    } finally {
      await holder.end();
    }
    expect(await availableCredit(system.app, hot!)).toBe(9_700);
    // The replies were written in the order the hot customer's orders were placed.
    const replies = await sql<{ correlation_id: string }>(
      system,
      `select o.correlation_id from customers.outbox o join customers.credit_reservations r on r.order_id = o.correlation_id where r.customer_id = ? order by o.seq`,
      [hot],
    );
    const placed = await sql<{ id: string }>(system, 'select id from ordering.orders where customer_id = ? order by created_at, id', [hot]);
    expect(replies.map((r) => r.correlation_id)).toEqual(placed.map((r) => r.id));
  });

  it('given deliveries wait for their keys instead of contending, whatever order their batches list them in', async () => {
    const system = await start({ consume: false, env: { EVENT_BUS: 'memory' } });
    const [a, b] = await Promise.all([0, 1].map(() => registerCustomer(system.app, USD(10_000))));
    const [a1, b1, a2, b2] = await pendingFor(system, [a!, b!, a!, b!]);
    const inbox = system.runtime.inboxOf(RESERVE);
    const holder = await blockCustomer(system, a!);
    let second: Promise<unknown> | undefined;
    try {
      const first = inbox.processBatch(RESERVE, [a1!, b1!]);
      await new Promise((r) => setTimeout(r, 200));
      // The other batch lists the keys the other way round: it waits for the first, it is not 'busy'.
      second = inbox.processBatch(RESERVE, [b2!, a2!]);
      await new Promise((r) => setTimeout(r, 200));
      await holder.query('rollback');
      expect(await first).toEqual(['done', 'done']);
      expect(await second).toEqual(['done', 'done']);
    } finally {
      await holder.end();
    }
    expect(await availableCredit(system.app, a!)).toBe(9_800);
    expect(await availableCredit(system.app, b!)).toBe(9_800);
  });

  it('many concurrent batches over a few hot customers: every delivery once, no deadlock', { timeout: 60_000 }, async () => {
    const system = await start({ consume: false, env: { EVENT_BUS: 'memory', DB_POOL_SIZE: '12' } });
    const customers = await Promise.all([0, 1, 2, 3, 4].map(() => registerCustomer(system.app, USD(1_000_000))));
    const spread = Array.from({ length: 200 }, (_, i) => customers[(i * 7 + Math.floor(i / 5)) % customers.length]!);
    const ids = await pendingFor(system, spread, 10);
    const before = await deadlocks(system.config.DATABASE_URL!);
    const inbox = system.runtime.inboxOf(RESERVE);
    // Batches of given ids in scrambled orders (as jobs would carry them) and claims of what is due, all at once.
    const shuffled = [...ids].sort((x, y) => (x.slice(-6) < y.slice(-6) ? -1 : 1));
    const given = Array.from({ length: 10 }, (_, i) => inbox.processBatch(RESERVE, shuffled.slice(i * 16, i * 16 + 16)));
    const claims = Array.from({ length: 4 }, async () => {
      while ((await inbox.processNextBatch(RESERVE, 16)).length > 0);
    });
    await Promise.all([...given, ...claims]);
    while ((await inbox.processNextBatch(RESERVE, 16)).length > 0);
    const [states] = await sql<{ done: number; other: number }>(
      system,
      `select (count(*) filter (where status = 'done'))::int as done, (count(*) filter (where status <> 'done'))::int as other from customers.inbox where use_case = ?`,
      [RESERVE],
    );
    expect(states).toEqual({ done: 200, other: 0 });
    const [reservations] = await sql<{ n: number }>(system, 'select count(*)::int as n from customers.credit_reservations');
    expect(reservations?.n).toBe(200);
    const credit = await Promise.all(customers.map((c) => availableCredit(system.app, c)));
    expect(credit.reduce((x, y) => x + y, 0)).toBe(5 * 1_000_000 - 200 * 10);
    // Backends report their counters when they end: close the system's connections first.
    await system.close();
    expect(await deadlocks(system.config.DATABASE_URL!)).toBe(before);
  });
});
