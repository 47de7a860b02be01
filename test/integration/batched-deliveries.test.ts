import { Queue } from 'bullmq';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMessage, traceparent, uuidv7 } from '../../src/shared/kernel/index.js';
import { CreditReleasedV1 } from '../../src/modules/customer/contract/index.js';
import { SHARED } from '../../src/shared/infrastructure/composition/tokens.js';
import type { EventBusPort } from '../../src/shared/kernel/index.js';
import { deleteKeysWithPrefix } from '../../src/dev/provisioning/redis.js';
import {
  availableCredit,
  eventually,
  placeOrder,
  registerCustomer,
  sql,
  systemsClosedAfterEach,
  type TestSystem,
} from '../support/system.js';

/**
 * Several deliveries per transaction (DELIVERY_BATCH_SIZE): what a BullMQ job, an in-process
 * call or a task's claim carries is handled in one transaction, each delivery still with exactly
 * one effect, and a delivery that fails does not take the others of its batch with it.
 */

const USD = (amount: number) => ({ amount, currency: 'USD' });
const RESERVE = 'customer.reserve-credit';
const start = systemsClosedAfterEach(afterEach);

async function count(system: TestSystem, text: string, params: unknown[] = []): Promise<number> {
  const [row] = await sql<{ n: number }>(system, `select count(*)::int as n from (${text}) q`, params);
  return row?.n ?? 0;
}

/** Places `n` orders (one per new customer) and relays them: `n` pending reserve-credit deliveries. */
async function pendingReservations(
  system: TestSystem,
  n: number,
): Promise<{ orderIds: string[]; customerIds: string[]; messageIds: string[] }> {
  const customerIds: string[] = [];
  const orderIds: string[] = [];
  for (let i = 0; i < n; i++) {
    customerIds.push(await registerCustomer(system.app, USD(10_000)));
    orderIds.push(await placeOrder(system.app, customerIds[i]!, USD(1_000)));
  }
  expect(await system.runtime.relay.drainAll()).toBe(n);
  const rows = await sql<{ message_id: string; correlation_id: string }>(
    system,
    `select message_id, correlation_id from customers.inbox where use_case = ? and correlation_id = any(?::uuid[])`,
    [RESERVE, orderIds],
  );
  const byOrder = new Map(rows.map((r) => [r.correlation_id, r.message_id]));
  return { orderIds, customerIds, messageIds: orderIds.map((id) => byOrder.get(id)!) };
}

/** The transaction ids that wrote these rows: one id means one transaction. */
async function writers(system: TestSystem, table: string, column: string, ids: readonly string[]): Promise<string[]> {
  const rows = await sql<{ xmin: string }>(system, `select distinct xmin::text as xmin from ${table} where ${column} = any(?::uuid[])`, [
    ids,
  ]);
  return rows.map((r) => r.xmin);
}

async function insertPoison(system: TestSystem, customerId: string): Promise<string> {
  const id = uuidv7();
  const envelope = {
    id,
    type: 'order.created.v1',
    occurredAt: new Date().toISOString(),
    correlationId: id,
    causationId: null,
    traceparent: traceparent(),
    payload: { orderId: uuidv7(), customerId, total: { amount: 'abc', currency: 'USD' } },
  };
  await sql(
    system,
    `insert into customers.inbox (use_case, message_id, type, correlation_id, envelope) values (?, ?, 'order.created.v1', ?, ?::jsonb)`,
    [RESERVE, id, id, JSON.stringify(envelope)],
  );
  return id;
}

describe('several deliveries in one transaction', () => {
  it('handles a batch in one transaction, with one effect per delivery and one outbox statement', async () => {
    const system = await start({ consume: false, env: { EVENT_BUS: 'memory' } });
    const { orderIds, customerIds, messageIds } = await pendingReservations(system, 4);
    const customers = system.runtime.module('customer').db;
    const exec = vi.spyOn(customers, 'exec');

    const outcomes = await system.runtime.inboxOf(RESERVE).processBatch(RESERVE, messageIds);
    expect(outcomes).toEqual(['done', 'done', 'done', 'done']);
    // One transaction wrote every reservation, every reply and every inbox mark...
    expect(await writers(system, 'customers.credit_reservations', 'order_id', orderIds)).toHaveLength(1);
    expect(await writers(system, 'customers.outbox', 'correlation_id', orderIds)).toEqual(
      await writers(system, 'customers.credit_reservations', 'order_id', orderIds),
    );
    expect(await writers(system, 'customers.inbox', 'message_id', messageIds)).toEqual(
      await writers(system, 'customers.credit_reservations', 'order_id', orderIds),
    );
    // ...and the four replies went to the outbox in one statement.
    expect(exec.mock.calls.filter(([text]) => text.includes('.outbox') && text.startsWith('insert'))).toHaveLength(1);
    for (const customerId of customerIds) expect(await availableCredit(system.app, customerId)).toBe(9_000);

    // Signalled again (a redelivery, a duplicate job): no second effect.
    expect(await system.runtime.inboxOf(RESERVE).processBatch(RESERVE, [...messageIds, messageIds[0]!])).toEqual([
      'duplicate',
      'duplicate',
      'duplicate',
      'duplicate',
      'duplicate',
    ]);
    expect(await count(system, `select 1 from customers.outbox where correlation_id = any(?::uuid[])`, [orderIds])).toBe(4);
    for (const customerId of customerIds) expect(await availableCredit(system.app, customerId)).toBe(9_000);
  });

  it('dead-letters a poison message of a batch and commits the others, each once', async () => {
    const system = await start({ consume: false, env: { EVENT_BUS: 'memory' } });
    const { orderIds, customerIds, messageIds } = await pendingReservations(system, 2);
    const poison = await insertPoison(system, customerIds[0]!);

    const outcomes = await system.runtime.inboxOf(RESERVE).processBatch(RESERVE, [messageIds[0]!, poison, messageIds[1]!]);
    expect(outcomes).toEqual(['done', 'dead', 'done']);
    const [dead] = await sql<{ status: string; error_code: string }>(
      system,
      'select status, error_code from customers.inbox where message_id = ?',
      [poison],
    );
    expect(dead).toEqual({ status: 'dead', error_code: 'INVALID_PAYLOAD' });
    // The batch was rolled back and its deliveries handled one by one: one effect each.
    expect(await count(system, `select 1 from customers.credit_reservations where order_id = any(?::uuid[])`, [orderIds])).toBe(2);
    expect(await count(system, `select 1 from customers.outbox where correlation_id = any(?::uuid[])`, [orderIds])).toBe(2);
    for (const customerId of customerIds) expect(await availableCredit(system.app, customerId)).toBe(9_000);
  });

  it('retries only the delivery whose handler failed, and commits the others of its batch', async () => {
    const system = await start({ consume: false, env: { EVENT_BUS: 'memory', RETRY_BASE_MS: '60000' } });
    const { orderIds, customerIds, messageIds } = await pendingReservations(system, 3);
    // A handler failure on the second order's customer: a constraint refuses any new version of its row.
    await sql(system, `alter table customers.customers add constraint test_refuse check (id <> '${customerIds[1]!}'::uuid) not valid`);

    const outcomes = await system.runtime.inboxOf(RESERVE).processBatch(RESERVE, messageIds);
    expect(outcomes).toEqual(['done', 'retry', 'done']);
    const [failed] = await sql<{ status: string; attempts: number }>(
      system,
      'select status, attempts from customers.inbox where message_id = ?',
      [messageIds[1]],
    );
    expect(failed).toEqual({ status: 'pending', attempts: 1 });
    expect(await count(system, `select 1 from customers.credit_reservations where order_id = any(?::uuid[])`, [orderIds])).toBe(2);
    expect(await availableCredit(system.app, customerIds[0]!)).toBe(9_000);
    expect(await availableCredit(system.app, customerIds[1]!)).toBe(10_000);
    expect(await availableCredit(system.app, customerIds[2]!)).toBe(9_000);
  });

  it('skips a delivery another transaction holds, and claims the oldest due ones up to a limit', async () => {
    const system = await start({ consume: false, env: { EVENT_BUS: 'memory' } });
    const { messageIds, customerIds } = await pendingReservations(system, 5);
    const holder = new pg.Client({ connectionString: system.config.DATABASE_URL });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query('select 1 from customers.inbox where use_case = $1 and message_id = $2 for update', [RESERVE, messageIds[0]]);
      expect(await system.runtime.inboxOf(RESERVE).processBatch(RESERVE, messageIds.slice(0, 2))).toEqual(['busy', 'done']);
      // A consumer holding a delivery also holds its key (the customer).
      await holder.query(`select pg_advisory_xact_lock(hashtextextended('customers/' || $1, 0))`, [customerIds[0]]);
      // The oldest due first, at most `limit`, never the held one.
      expect(await system.runtime.inboxOf(RESERVE).processNextBatch(RESERVE, 2)).toEqual(['done', 'done']);
      const done = await sql<{ message_id: string }>(
        system,
        `select message_id from customers.inbox where use_case = ? and status = 'done'`,
        [RESERVE],
      );
      expect(done.map((r) => r.message_id).sort()).toEqual(messageIds.slice(1, 4).sort());
      await holder.query('rollback');
      expect(await system.runtime.inboxOf(RESERVE).processNextBatch(RESERVE, 10)).toEqual(['done', 'done']);
      expect(await system.runtime.inboxOf(RESERVE).processNextBatch(RESERVE, 10)).toEqual([]);
    } finally {
      await holder.end();
    }
  });

  it('writes a transaction’s outbox rows just before its commit, and rolls everything back when that fails', async () => {
    const system = await start({ consume: false, env: { EVENT_BUS: 'memory' } });
    const customer = system.runtime.module('customer');
    const bus = customer.container.get<EventBusPort>(SHARED.EventBus);
    const customerId = uuidv7();
    // A message the Customer module declares it publishes (the outbox refuses any other).
    const message = createMessage(
      CreditReleasedV1,
      { orderId: uuidv7(), customerId, amount: USD(1) },
      { correlationId: uuidv7(), causationId: null, traceparent: traceparent() },
    );
    await expect(
      customer.db.run(async () => {
        await customer.db.exec(
          `insert into customers.customers (id, name, currency, credit_limit, available_credit, version, created_at, updated_at) values (?, 'Rolled back', 'USD', 10, 10, 1, now(), now())`,
          [customerId],
        );
        await bus.publish([message]);
        // Not yet written: the rows wait for the end of the transaction...
        expect(await count(system, 'select 1 from customers.outbox where id = ?', [message.id])).toBe(0);
        // ...where the same id twice breaks the outbox's primary key.
        await bus.publish([message]);
      }),
    ).rejects.toThrow(/duplicate key/);
    expect(await count(system, 'select 1 from customers.customers where id = ?', [customerId])).toBe(0);
    expect(await count(system, 'select 1 from customers.outbox where id = ?', [message.id])).toBe(0);
    // The connection went back to the pool in a usable state.
    expect(await customer.db.query('select 1 as one')).toEqual([{ one: 1 }]);
  });
});

describe('transactions that only buffer rows', () => {
  it('place an order with one statement and no BEGIN/COMMIT: the order, its message and its saga step', async () => {
    const system = await start({ consume: false, env: { EVENT_BUS: 'memory' } });
    const customerId = await registerCustomer(system.app, USD(1_000));
    // A first order opens the pool's connection (knex asks a new connection for the server version).
    await placeOrder(system.app, customerId, USD(100));
    const sent = vi.spyOn(pg.Client.prototype, 'query');
    const orderId = await placeOrder(system.app, customerId, USD(100));
    const texts = sent.mock.calls.map(([q]) => (typeof q === 'string' ? q : (q as { text: string }).text));
    sent.mockRestore();
    expect(texts).toHaveLength(1);
    expect(texts[0]).toMatch(/^with flush_0 as \(insert into "ordering"\."orders"/);
    const [order] = await sql<{ xmin: string }>(system, 'select xmin::text as xmin from ordering.orders where id = ?', [orderId]);
    expect(await writers(system, 'ordering.outbox', 'correlation_id', [orderId])).toEqual([order!.xmin]);
    expect(await writers(system, 'ordering.saga_steps', 'order_id', [orderId])).toEqual([order!.xmin]);
  });

  it('write nothing when that one statement fails', async () => {
    const system = await start({ consume: false, env: { EVENT_BUS: 'memory' } });
    const customer = system.runtime.module('customer');
    const bus = customer.container.get<EventBusPort>(SHARED.EventBus);
    const first = createMessage(
      CreditReleasedV1,
      { orderId: uuidv7(), customerId: uuidv7(), amount: USD(1) },
      { correlationId: uuidv7(), causationId: null, traceparent: traceparent() },
    );
    const again = { ...first, correlationId: uuidv7() };
    await expect(customer.db.run(() => bus.publish([first, again]))).rejects.toThrow(/duplicate key/);
    expect(await count(system, 'select 1 from customers.outbox where id = ?', [first.id])).toBe(0);
  });
});

describe('statements and commits', () => {
  it('names its statements (prepared once per connection) unless DB_PREPARED_STATEMENTS=false', async () => {
    for (const [setting, named] of [
      ['true', true],
      ['false', false],
    ] as const) {
      const system = await start({ consume: false, env: { EVENT_BUS: 'memory', DB_PREPARED_STATEMENTS: setting } });
      const customerId = await registerCustomer(system.app, USD(1_000));
      const sent = vi.spyOn(pg.Client.prototype, 'query');
      await placeOrder(system.app, customerId, USD(100));
      // pg's overloads type the first argument as a string; the module sends query configs.
      const configs = sent.mock.calls
        .map(([q]) => q as unknown)
        .filter((q): q is { name?: string; text: string } => typeof q === 'object' && q !== null && 'text' in q);
      sent.mockRestore();
      expect(configs.length, `DB_PREPARED_STATEMENTS=${setting}`).toBeGreaterThan(0);
      expect(
        configs.every((q) => (q.name !== undefined) === named),
        `DB_PREPARED_STATEMENTS=${setting}`,
      ).toBe(true);
    }
  });

  it('refuses to report as committed a transaction PostgreSQL rolled back at COMMIT', async () => {
    const system = await start({ consume: false, env: { EVENT_BUS: 'memory' } });
    const db = system.runtime.module('customer').db;
    const committed = vi.fn();
    await expect(
      db.run(async () => {
        db.afterCommit(committed);
        // A failed statement whose error the work swallows: the transaction is aborted, and its COMMIT is a ROLLBACK.
        await db.exec('select 1 / 0').catch(() => undefined);
        return 'looks fine';
      }),
    ).rejects.toThrow(/rolled back at COMMIT/);
    expect(committed).not.toHaveBeenCalled();
    expect(await db.query('select 1 as one')).toEqual([{ one: 1 }]);
  });
});

describe('transports carry batches', () => {
  it('handles the deliveries of one BullMQ job together, and still accepts the one-delivery jobs of earlier versions', async () => {
    const system = await start({ env: { EVENT_BUS: 'bullmq', DELIVERY_BATCH_SIZE: '8' } });
    const redisUrl = system.config.REDIS_URL!;
    const inbox = system.runtime.inboxOf(RESERVE);
    const batches = vi.spyOn(inbox, 'process');
    await system.runtime.relay.stop();
    const { orderIds, messageIds } = await pendingReservations(system, 3);
    await eventually(
      async () =>
        (await count(system, `select 1 from customers.credit_reservations where order_id = any(?::uuid[])`, [orderIds])) === 3
          ? true
          : undefined,
      {
        what: 'the three reservations',
      },
    );
    expect(batches.mock.calls).toContainEqual([RESERVE, messageIds]);

    const queue = new Queue(RESERVE, { connection: { url: redisUrl }, prefix: system.config.BULLMQ_PREFIX });
    try {
      await queue.add('delivery', { messageId: messageIds[0] }, { jobId: `legacy-${messageIds[0]!}` });
      await eventually(
        async () => (batches.mock.calls.some(([, ids]) => ids.length === 1 && ids[0] === messageIds[0]) ? true : undefined),
        { what: 'the legacy job' },
      );
      expect(await count(system, `select 1 from customers.outbox where correlation_id = any(?::uuid[])`, [orderIds])).toBe(3);
    } finally {
      await queue.close();
      await deleteKeysWithPrefix(redisUrl, system.config.BULLMQ_PREFIX);
    }
  });
});

describe('the relay', () => {
  it('reads only the outbox whose commit woke it, and every outbox at least every RELAY_POLL_MS', async () => {
    // A producer only: the relay runs, nothing consumes, so only the orders' commits wake it.
    const system = await start({ consume: false, env: { EVENT_BUS: 'memory', RELAY_POLL_MS: '400' } });
    system.runtime.startRelay();
    const relayed = vi.spyOn(system.runtime.relay, 'relayBatch');
    const customerId = await registerCustomer(system.app, USD(1_000_000));
    relayed.mockClear();
    // A row another process wrote in the customers' outbox (nobody wakes this relay for it).
    const foreign = uuidv7();
    await sql(
      system,
      `insert into customers.outbox (id, type, correlation_id, causation_id, traceparent, occurred_at, payload, produced_by)
       values (?, 'customer.credit-reserved.v1', ?, null, ?, now(), ?::jsonb, 'test')`,
      [foreign, foreign, traceparent(), JSON.stringify({ orderId: foreign, customerId, amount: USD(1) })],
    );
    // A steady stream of wakes from the ordering outbox for three poll periods: the poll timer never fires...
    const until = Date.now() + 1_200;
    while (Date.now() < until) {
      await placeOrder(system.app, customerId, USD(1));
      await new Promise((r) => setTimeout(r, 20));
    }
    // ...yet the customers' row was relayed within about RELAY_POLL_MS of its commit.
    const [row] = await sql<{ lag_ms: number | null }>(
      system,
      'select (extract(epoch from (relayed_at - created_at)) * 1000)::int as lag_ms from customers.outbox where id = ?',
      [foreign],
    );
    expect(row?.lag_ms).not.toBeNull();
    expect(row!.lag_ms!).toBeLessThan(900);
    const schemas = relayed.mock.calls.map(([db]) => db.schema);
    // Most passes read the ordering outbox only.
    expect(schemas.filter((s) => s === 'ordering').length).toBeGreaterThan(2 * schemas.filter((s) => s === 'customers').length);
  });
});
