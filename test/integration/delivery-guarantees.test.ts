import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMessage, traceparent, uuidv7 } from '../../src/shared/kernel/index.js';
import { CreditReservedV1 } from '../../src/modules/customer/contract/index.js';
import { SHARED } from '../../src/shared/infrastructure/composition/tokens.js';
import { createLogger } from '../../src/shared/infrastructure/logging/logger.js';
import type { Delivery } from '../../src/shared/infrastructure/messaging/subscription.js';
import type { DeliveryTransport } from '../../src/shared/infrastructure/messaging/transport.js';
import { deleteKeysWithPrefix } from '../../src/dev/provisioning/redis.js';
import { uniquePrefix } from '../support/databases.js';
import {
  availableCredit,
  eventually,
  getOrder,
  placeOrder,
  registerCustomer,
  TERMINAL,
  waitForStatus,
  type TestSystem,
  sql,
  systemsClosedAfterEach,
} from '../support/system.js';

/**
 * Each delivery guarantee of the messaging design, proven against real PostgreSQL and Redis:
 * duplicates have one effect, nothing committed is lost (crash before relay, Redis emptied,
 * a worker killed mid-job), several relays fan out each row once, commits wake the relay,
 * and what is logged while handling a message names its saga.
 */

const redisUrl = process.env.REDIS_URL ?? '';
const USD = (amount: number) => ({ amount, currency: 'USD' });
const LIMIT = USD(10_000);

const start = systemsClosedAfterEach(afterEach);

async function count(system: TestSystem, text: string, params: unknown[] = []): Promise<number> {
  const [row] = await sql<{ n: number }>(system, `select count(*)::int as n from (${text}) q`, params);
  return row?.n ?? 0;
}

async function outboxId(system: TestSystem, schema: 'ordering' | 'customers', correlationId: string, type: string): Promise<string> {
  const rows = await sql<{ id: string }>(system, `select id from "${schema}".outbox where correlation_id = ? and type = ?`, [
    correlationId,
    type,
  ]);
  expect(rows, `${type} of ${correlationId}`).toHaveLength(1);
  return rows[0]!.id;
}

/** Waits until every given order has left PENDING; returns their final statuses. */
async function waitAllEnded(system: TestSystem, orderIds: readonly string[], timeoutMs = 20_000): Promise<Map<string, string>> {
  return eventually(
    async () => {
      const rows = await sql<{ id: string; status: string }>(system, 'select id, status from ordering.orders where id = any(?::uuid[])', [
        orderIds,
      ]);
      if (rows.length !== orderIds.length || rows.some((r) => !TERMINAL.includes(r.status as never))) return undefined;
      return new Map(rows.map((r) => [r.id, r.status]));
    },
    { timeoutMs, intervalMs: 100, what: `${orderIds.length} orders to end` },
  );
}

/** For every customer: available credit = limit − the totals of its APPROVED orders, and the RESERVED reservations match them. */
async function creditInvariantViolations(system: TestSystem): Promise<unknown[]> {
  return sql(
    system,
    `select c.id, c.credit_limit, c.available_credit, coalesce(o.approved, 0) as approved, coalesce(r.reserved, 0) as reserved
     from customers.customers c
     left join (select customer_id, sum(total_amount) as approved from ordering.orders where status = 'APPROVED' group by customer_id) o on o.customer_id = c.id
     left join (select customer_id, sum(amount) as reserved from customers.credit_reservations where status = 'RESERVED' group by customer_id) r on r.customer_id = c.id
     where c.available_credit <> c.credit_limit - coalesce(o.approved, 0) or coalesce(o.approved, 0) <> coalesce(r.reserved, 0)`,
  );
}

/** Exactly one credit decision per order, one order decision per order: no message had a second effect. */
async function expectOneEffectPerOrder(system: TestSystem, orderIds: readonly string[]): Promise<void> {
  const replies = await sql<{ correlation_id: string; n: number }>(
    system,
    `select correlation_id, count(*)::int as n from customers.outbox
     where type in ('customer.credit-reserved.v1', 'customer.credit-reservation-failed.v1') and correlation_id = any(?::uuid[])
     group by correlation_id`,
    [orderIds],
  );
  expect(replies).toHaveLength(orderIds.length);
  expect(replies.filter((r) => r.n !== 1)).toEqual([]);
  const decisions = await sql<{ correlation_id: string; n: number }>(
    system,
    `select correlation_id, count(*)::int as n from ordering.outbox
     where type in ('order.approved.v1', 'order.rejected.v1') and correlation_id = any(?::uuid[])
     group by correlation_id`,
    [orderIds],
  );
  expect(decisions).toHaveLength(orderIds.length);
  expect(decisions.filter((r) => r.n !== 1)).toEqual([]);
  const reservations = await sql<{ order_id: string; n: number }>(
    system,
    `select order_id, count(*)::int as n from customers.credit_reservations where order_id = any(?::uuid[]) and status = 'RESERVED' group by order_id`,
    [orderIds],
  );
  const approved = await count(system, `select 1 from ordering.orders where id = any(?::uuid[]) and status = 'APPROVED'`, [orderIds]);
  expect(reservations).toHaveLength(approved);
  expect(await creditInvariantViolations(system)).toEqual([]);
}

/**
 * Deletes every key of a BullMQ prefix in one atomic step, as a Redis restarted without persistence
 * (or a failover to an empty replica) loses them. A key-by-key delete racing BullMQ's scripts would
 * leave states no real loss produces, such as a job's hash without the list that schedules it.
 */
/**
 * Deletes every key under the prefix in one atomic script, and returns how many jobs were still
 * waiting for a worker: those are lost for good (a job a worker already took completes anyway).
 */
async function emptyRedis(prefix: string): Promise<{ keys: number; waitingJobs: number }> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const [keys, waitingJobs] = (await redis.eval(
      `local n, waiting = 0, 0
       for _, key in ipairs(redis.call('KEYS', ARGV[1])) do
         local kind = redis.call('TYPE', key)['ok']
         if kind == 'list' and (string.sub(key, -5) == ':wait' or string.sub(key, -7) == ':paused') then waiting = waiting + redis.call('LLEN', key) end
         if kind == 'zset' and (string.sub(key, -12) == ':prioritized' or string.sub(key, -8) == ':delayed') then waiting = waiting + redis.call('ZCARD', key) end
         n = n + redis.call('DEL', key)
       end
       return {n, waiting}`,
      0,
      `${prefix}:*`,
    )) as [number, number];
    return { keys: Number(keys), waitingJobs: Number(waitingJobs) };
  } finally {
    redis.disconnect();
  }
}

/** Records the signals a relay sends instead of carrying them anywhere. */
class RecordingTransport implements DeliveryTransport {
  readonly name = 'memory' as const;
  readonly launchesTasks = false;
  readonly signalled: Delivery[] = [];
  async startConsumers(): Promise<void> {}
  async signal(deliveries: readonly Delivery[]): Promise<void> {
    this.signalled.push(...deliveries);
  }
  async ping(): Promise<void> {}
  readiness(): [] {
    return [];
  }
  async close(): Promise<void> {}
}

describe('duplicate delivery', () => {
  it('fans an outbox row relayed twice out once, and a delivery processed twice at once has one effect', async () => {
    // Producer-only and in-memory: nothing runs unless the test says so.
    const system = await start({ consume: false, env: { EVENT_BUS: 'memory' } });
    const customerId = await registerCustomer(system.app, LIMIT);
    const orderId = await placeOrder(system.app, customerId, USD(6_000));
    const createdId = await outboxId(system, 'ordering', orderId, 'order.created.v1');

    expect(await system.runtime.relay.drainAll()).toBe(1);
    await sql(system, 'update ordering.outbox set relayed_at = null where id = ?', [createdId]);
    expect(await system.runtime.relay.drainAll()).toBe(1);
    expect(await count(system, 'select 1 from customers.inbox where message_id = ?', [createdId])).toBe(1);

    const reserve: Delivery = { useCase: 'customer.reserve-credit', messageId: createdId };
    const reserveInbox = system.runtime.inboxOf(reserve.useCase);
    const outcomes = await Promise.all([reserveInbox.processOne(reserve), reserveInbox.processOne(reserve)]);
    expect(outcomes.filter((o) => o === 'done')).toHaveLength(1);
    expect(outcomes.filter((o) => o !== 'done').every((o) => o === 'busy' || o === 'duplicate')).toBe(true);
    expect(await reserveInbox.processOne(reserve)).toBe('duplicate');

    expect(await count(system, 'select 1 from customers.credit_reservations where order_id = ?', [orderId])).toBe(1);
    expect(await availableCredit(system.app, customerId)).toBe(4_000);
    const reservedId = await outboxId(system, 'customers', orderId, 'customer.credit-reserved.v1');

    // The reply goes through the same: relayed twice, processed twice at once, one approval.
    expect(await system.runtime.relay.drainAll()).toBe(1);
    await sql(system, 'update customers.outbox set relayed_at = null where id = ?', [reservedId]);
    expect(await system.runtime.relay.drainAll()).toBe(1);
    const approve: Delivery = { useCase: 'order.approve-order', messageId: reservedId };
    const approveInbox = system.runtime.inboxOf(approve.useCase);
    const approveOutcomes = await Promise.all([approveInbox.processOne(approve), approveInbox.processOne(approve)]);
    expect(approveOutcomes.filter((o) => o === 'done')).toHaveLength(1);

    expect((await getOrder(system.app, orderId)).status).toBe('APPROVED');
    expect(await count(system, `select 1 from ordering.outbox where correlation_id = ? and type = 'order.approved.v1'`, [orderId])).toBe(1);
    expect(await count(system, `select 1 from ordering.saga_steps where order_id = ? and name = 'order-approved'`, [orderId])).toBe(1);
    expect(await availableCredit(system.app, customerId)).toBe(4_000);
  });

  it('acknowledges a delivery signalled again through BullMQ without a second effect', async () => {
    const system = await start({ env: { EVENT_BUS: 'bullmq' } });
    const customerId = await registerCustomer(system.app, LIMIT);
    const orderId = await placeOrder(system.app, customerId, USD(6_000));
    await waitForStatus(system.app, orderId, ['APPROVED']);
    const createdId = await outboxId(system, 'ordering', orderId, 'order.created.v1');

    const inbox = system.runtime.inboxOf('customer.reserve-credit');
    const processed = vi.spyOn(inbox, 'processOne');
    const delivery: Delivery = { useCase: 'customer.reserve-credit', messageId: createdId };
    for (const n of [1, 2]) {
      await system.runtime.transport.signal([delivery]);
      // A call is listed (as 'incomplete') as soon as it starts: wait for the n-th to settle, not to start.
      const settled = () => processed.mock.settledResults.filter((r) => r.type !== 'incomplete').length;
      await eventually(async () => (settled() >= n ? true : undefined), { what: `BullMQ to carry signal ${n}` });
    }
    expect(processed.mock.settledResults).toEqual([
      { type: 'fulfilled', value: 'duplicate' },
      { type: 'fulfilled', value: 'duplicate' },
    ]);
    expect(await count(system, 'select 1 from customers.credit_reservations where order_id = ?', [orderId])).toBe(1);
    expect(
      await count(system, `select 1 from customers.outbox where correlation_id = ? and type = 'customer.credit-reserved.v1'`, [orderId]),
    ).toBe(1);
    expect(await availableCredit(system.app, customerId)).toBe(4_000);
  });
});

describe('nothing committed is lost', () => {
  it('relays what a process committed before it died without relaying, once', async () => {
    const producer = await start({ consume: false });
    const customers = [await registerCustomer(producer.app, LIMIT), await registerCustomer(producer.app, LIMIT)];
    const orderIds: string[] = [];
    for (let i = 0; i < 10; i++) orderIds.push(await placeOrder(producer.app, customers[i % 2]!, USD(3_000)));
    expect(await count(producer, 'select 1 from ordering.outbox where relayed_at is null')).toBe(10);
    expect(await count(producer, 'select 1 from customers.inbox')).toBe(0);
    await producer.close();

    const restarted = await start({ databaseUrl: producer.config.DATABASE_URL });
    const statuses = await waitAllEnded(restarted, orderIds);
    // 3 × 3,000 fit in each 10,000 limit, the 4th and 5th do not.
    expect([...statuses.values()].filter((s) => s === 'APPROVED')).toHaveLength(6);
    expect([...statuses.values()].filter((s) => s === 'REJECTED')).toHaveLength(4);
    for (const customerId of customers) expect(await availableCredit(restarted.app, customerId)).toBe(1_000);
    await expectOneEffectPerOrder(restarted, orderIds);
  });

  it('ends every order when Redis loses every job mid-saga (the sweeper signals pending deliveries again)', async () => {
    const system = await start({ env: { EVENT_BUS: 'bullmq' } });
    const customers = await Promise.all(Array.from({ length: 20 }, (_, i) => registerCustomer(system.app, LIMIT, `customer ${i}`)));
    const place = (from: number, to: number) =>
      Promise.all(
        Array.from({ length: to - from }, (_, k) => from + k).map((i) =>
          placeOrder(system.app, customers[i % 20]!, USD(1_000 + ((i * 739) % 4_000))),
        ),
      );

    const orderIds = await place(0, 50);
    await emptyRedis(system.config.BULLMQ_PREFIX);
    // Flush while the next orders are placed, as soon as jobs wait for a worker. Those jobs are lost
    // for good, so their deliveries can only end through the sweeper's second signal (asserted below).
    const flush = eventually(
      async () => {
        const { waitingJobs } = await emptyRedis(system.config.BULLMQ_PREFIX);
        return waitingJobs > 0 ? waitingJobs : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 2, what: 'BullMQ jobs waiting for a worker, to flush' },
    );
    orderIds.push(...(await place(50, 100)));
    expect(await flush).toBeGreaterThan(0);

    const statuses = await waitAllEnded(system, orderIds, 30_000);
    expect(statuses.size).toBe(100);
    expect(await creditInvariantViolations(system)).toEqual([]);
    await expectOneEffectPerOrder(system, orderIds);
    // Some deliveries were carried by the sweeper's second signal, not by their first one.
    const resignalled = `signaled_at >= created_at + (? * interval '1 millisecond')`;
    expect(
      await count(
        system,
        `select 1 from customers.inbox where ${resignalled} union all select 1 from ordering.inbox where ${resignalled}`,
        [system.config.REDELIVERY_AFTER_MS, system.config.REDELIVERY_AFTER_MS],
      ),
    ).toBeGreaterThan(0);
  });

  it('finishes the deliveries of a worker process killed in the middle of its jobs', async () => {
    const api = await start({ consume: false, jobs: false, env: { EVENT_BUS: 'bullmq' } });
    const databaseUrl = api.config.DATABASE_URL!;
    const prefix = uniquePrefix();
    const customers = [await registerCustomer(api.app, LIMIT), await registerCustomer(api.app, LIMIT)];

    const worker = spawn(process.execPath, ['--import', 'tsx', 'src/entrypoints/worker.ts'], {
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl,
        BULLMQ_PREFIX: prefix,
        EVENT_BUS: 'bullmq',
        SAGA_STYLE: 'choreography',
        LOG_LEVEL: 'info',
        WORKER_CONCURRENCY: '4',
        RELAY_POLL_MS: '100',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) => worker.once('exit', (code, signal) => resolve(signal ?? code)));
    let output = '';
    worker.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    worker.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // Holding the customers' rows makes the worker's reserve-credit transactions wait mid-job.
    const blocker = new pg.Client({ connectionString: databaseUrl });
    await blocker.connect();
    try {
      await eventually(async () => (output.includes('"worker ready"') ? true : undefined), {
        timeoutMs: 20_000,
        what: `the worker to start:\n${output}`,
      });
      await blocker.query('begin');
      await blocker.query('select 1 from customers.customers where id = any($1::uuid[]) for update', [customers]);
      const orderIds: string[] = [];
      for (let i = 0; i < 10; i++) orderIds.push(await placeOrder(api.app, customers[i % 2]!, USD(3_000)));
      // Asked outside the blocker's transaction, which would see a frozen pg_stat_activity.
      const waiting = () => count(api, `select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`);
      // Jobs carry several deliveries each (DELIVERY_BATCH_SIZE): how many transactions wait depends on
      // how the relay grouped the ten; every one of them is a job in the middle of its work.
      await eventually(async () => ((await waiting()) >= 1 ? true : undefined), { what: 'reserve-credit jobs in flight' });
      await eventually(
        async () =>
          (await count(api, `select 1 from customers.inbox where use_case = 'customer.reserve-credit'`)) >= 10 ? true : undefined,
        {
          what: 'the ten deliveries relayed',
        },
      );

      worker.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      await blocker.query('rollback');
      expect(await count(api, `select 1 from ordering.orders where status <> 'PENDING'`)).toBe(0);

      const successor = await start({ databaseUrl, env: { EVENT_BUS: 'bullmq', BULLMQ_PREFIX: prefix } });
      const statuses = await waitAllEnded(successor, orderIds, 40_000);
      expect([...statuses.values()].filter((s) => s === 'APPROVED')).toHaveLength(6);
      for (const customerId of customers) expect(await availableCredit(successor.app, customerId)).toBe(1_000);
      await expectOneEffectPerOrder(successor, orderIds);
    } finally {
      if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
      await blocker.end();
      // The worker's queues, should the test stop before a successor (cleaned up with it) shares them.
      await deleteKeysWithPrefix(redisUrl, prefix);
    }
  }, 60_000);
});

describe('relaying', () => {
  it('fans each outbox row out exactly once when several relays run at once', async () => {
    const producer = await start({ consume: false, env: { EVENT_BUS: 'memory' } });
    const databaseUrl = producer.config.DATABASE_URL!;
    const customers = await Promise.all(Array.from({ length: 4 }, () => registerCustomer(producer.app, LIMIT)));
    const orderIds = await Promise.all(Array.from({ length: 40 }, (_, i) => placeOrder(producer.app, customers[i % 4]!, USD(1_000))));

    const transports = [new RecordingTransport(), new RecordingTransport()];
    const relays = await Promise.all(
      transports.map((transport) => start({ databaseUrl, consume: false, jobs: false, transport, env: { RELAY_BATCH_SIZE: '4' } })),
    );
    const relayed = await Promise.all([...relays, ...relays].map((s) => s.runtime.relay.drainAll()));
    expect(relayed.reduce((a, b) => a + b, 0)).toBe(40);

    expect(await count(producer, `select 1 from customers.inbox where use_case = 'customer.reserve-credit'`)).toBe(40);
    expect(await count(producer, 'select 1 from ordering.outbox where relayed_at is null')).toBe(0);
    const signalled = transports.flatMap((t) => t.signalled.map((d) => `${d.useCase}/${d.messageId}`));
    expect(signalled).toHaveLength(40);
    expect(new Set(signalled).size).toBe(40);

    const consumer = await start({ databaseUrl, env: { EVENT_BUS: 'memory' } });
    await waitAllEnded(consumer, orderIds);
    await expectOneEffectPerOrder(consumer, orderIds);
  });

  it('is woken by a commit: an order is decided well under a second with polling every minute', async () => {
    const system = await start({ env: { EVENT_BUS: 'bullmq', RELAY_POLL_MS: '60000' } });
    const customerId = await registerCustomer(system.app, USD(1_000_000));
    const decide = async () => {
      const startedAt = performance.now();
      const orderId = await placeOrder(system.app, customerId, USD(100));
      await waitForStatus(system.app, orderId, ['APPROVED'], 5_000);
      return performance.now() - startedAt;
    };
    // The first order also opens the queues and connections.
    await decide();
    const latencies = [await decide(), await decide(), await decide()];
    expect(Math.max(...latencies), `latencies ${latencies.map((l) => l.toFixed(0)).join(', ')} ms`).toBeLessThan(1_000);
  });
});

describe('logging', () => {
  it('writes the correlation and causation ids of the message being handled on every line logged while handling it', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger({
      level: 'debug',
      name: 'test',
      destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    });
    const system = await start({ logger, env: { EVENT_BUS: 'memory', LOG_LEVEL: 'debug', RETRY_BASE_MS: '60000' } });
    const customerId = await registerCustomer(system.app, LIMIT);
    const orderId = await placeOrder(system.app, customerId, USD(6_000));
    await waitForStatus(system.app, orderId, ['APPROVED']);
    const createdId = await outboxId(system, 'ordering', orderId, 'order.created.v1');
    const reservedId = await outboxId(system, 'customers', orderId, 'customer.credit-reserved.v1');

    // A reply naming an order that does not exist: its handler fails and the failure is logged.
    const orphanSaga = uuidv7();
    const causationId = uuidv7();
    const customer = system.runtime.module('customer');
    const orphan = createMessage(
      CreditReservedV1,
      { orderId: orphanSaga, customerId, amount: USD(1) },
      { correlationId: orphanSaga, causationId, traceparent: traceparent() },
    );
    await customer.db.run(() => customer.container.get(SHARED.EventBus).publish([orphan]));
    await eventually(async () => (lines.some((l) => l['messageId'] === orphan.id && l['level'] === 40) ? true : undefined), {
      what: 'the failed delivery to be logged',
    });

    const handling = lines.filter((l) => typeof l['messageId'] === 'string');
    expect(handling.length).toBeGreaterThan(0);
    expect(handling.filter((l) => typeof l['correlationId'] !== 'string' || !('causationId' in l))).toEqual([]);

    const done = (useCase: string) => lines.find((l) => l['msg'] === 'delivery done' && l['useCase'] === useCase);
    expect(done('customer.reserve-credit')).toMatchObject({ messageId: createdId, correlationId: orderId, causationId: null });
    expect(done('order.approve-order')).toMatchObject({ messageId: reservedId, correlationId: orderId, causationId: createdId });
    expect(lines.find((l) => l['messageId'] === orphan.id && l['level'] === 40)).toMatchObject({
      correlationId: orphanSaga,
      causationId,
      code: 'ORDER_NOT_FOUND',
    });
  });
});
