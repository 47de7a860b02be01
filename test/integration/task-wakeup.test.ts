import { Writable } from 'node:stream';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/shared/infrastructure/logging/logger.js';
import { inboxChannel } from '../../src/shared/infrastructure/messaging/inbox-channel.js';
import { Doorbell, InboxListener } from '../../src/shared/infrastructure/messaging/inbox-listener.js';
import { OutboxRelay } from '../../src/shared/infrastructure/messaging/outbox-relay.js';
import type { Delivery } from '../../src/shared/infrastructure/messaging/subscription.js';
import type { DeliveryTransport } from '../../src/shared/infrastructure/messaging/transport.js';
import { eventually, placeOrder, registerCustomer, sql, systemsClosedAfterEach, type TestSystem } from '../support/system.js';

/**
 * How a running ECS task learns of a new delivery without polling: the relay's statement
 * NOTIFYs the use case's channel (sent by PostgreSQL on commit), and the task's listener, on a
 * connection of its own, rings its doorbell. The end-to-end proof with real task processes is
 * in test/e2e/ecs-wakeup.test.ts.
 */

const start = systemsClosedAfterEach(afterEach);
const RESERVE = 'customer.reserve-credit';
const APPROVE = 'order.approve-order';
const closers: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  await Promise.allSettled(closers.splice(0).map((close) => close()));
});

/** Log lines, to check what a listener reported. */
function recordingLogger() {
  const lines: { level: number; msg: string }[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { level: number; msg: string });
      done();
    },
  });
  return { logger: createLogger({ level: 'info', destination }), lines };
}

/** A session that LISTENs on the given use cases' channels and records what it receives. */
async function listen(databaseUrl: string, useCases: string[]): Promise<{ received: string[] }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  closers.push(() => client.end());
  const received: string[] = [];
  client.on('notification', (n) => received.push(n.channel));
  for (const u of useCases) await client.query(`listen ${inboxChannel(u)}`);
  return { received };
}

const settle = () => new Promise((r) => setTimeout(r, 300));

const silentTransport: DeliveryTransport = {
  name: 'ecs',
  launchesTasks: true,
  readiness: () => [],
  startConsumers: async () => undefined,
  signal: async (_deliveries: readonly Delivery[]) => undefined,
  ping: async () => undefined,
  close: async () => undefined,
};

async function producerSystem(): Promise<TestSystem> {
  // No relay runs in it: the test relays itself.
  return start({ env: { EVENT_BUS: 'memory' }, consume: false, jobs: false });
}

function notifyingRelay(system: TestSystem): OutboxRelay {
  return new OutboxRelay(
    system.runtime.modules.map((m) => m.db),
    system.runtime.routing,
    silentTransport,
    system.runtime.logger,
    { batchSize: 200, pollMs: 60_000, notify: true },
  );
}

describe('inbox channels', () => {
  it('are distinct per use case and valid PostgreSQL identifiers of at most 63 characters', () => {
    expect(inboxChannel(RESERVE)).toBe('saga_inbox_customer__reserve_credit');
    expect(inboxChannel('a-b.c')).not.toBe(inboxChannel('a.b-c'));
    const long = inboxChannel(`order.${'x'.repeat(80)}`);
    expect(long).toHaveLength(63);
    expect(long).toMatch(/^[a-z_][a-z0-9_]*$/);
  });
});

describe('the relay with notify', () => {
  it('notifies each use case that got deliveries once per statement, on commit, and not for deliveries that already existed', async () => {
    const system = await producerSystem();
    const customer = await registerCustomer(system.app, { amount: 10_000, currency: 'USD' });
    for (let i = 0; i < 3; i++) await placeOrder(system.app, customer, { amount: 100, currency: 'USD' });
    const { received } = await listen(system.config.DATABASE_URL!, [RESERVE, APPROVE]);

    expect(await notifyingRelay(system).drainAll()).toBeGreaterThanOrEqual(3);
    await eventually(async () => (received.length > 0 ? true : undefined), { timeoutMs: 5_000 });
    await settle();
    // Three order.created.v1 deliveries for one use case: one notification (PostgreSQL collapses
    // identical ones within a transaction); nothing for a use case that got no delivery.
    expect(received).toEqual([inboxChannel(RESERVE)]);
    const [row] = await sql<{ n: number }>(system, `select count(*)::int as n from customers.inbox where use_case = ?`, [RESERVE]);
    expect(row?.n).toBe(3);

    // Relaying the same rows again inserts nothing, so announces nothing.
    await sql(system, 'update ordering.outbox set relayed_at = null');
    await notifyingRelay(system).drainAll();
    await settle();
    expect(received).toHaveLength(1);
  });

  it('does not notify without the option (the relay of every transport but ECS)', async () => {
    const system = await producerSystem();
    const customer = await registerCustomer(system.app, { amount: 10_000, currency: 'USD' });
    await placeOrder(system.app, customer, { amount: 100, currency: 'USD' });
    const { received } = await listen(system.config.DATABASE_URL!, [RESERVE]);
    expect(await system.runtime.relay.drainAll()).toBeGreaterThanOrEqual(1);
    await settle();
    expect(received).toEqual([]);
  });
});

describe('the inbox listener', () => {
  async function listener(system: TestSystem, logger = recordingLogger().logger) {
    const doorbell = new Doorbell();
    const l = new InboxListener({
      databaseUrl: system.config.DATABASE_URL!,
      useCase: RESERVE,
      logger,
      onWake: () => doorbell.ring(),
      reconnectBaseMs: 20,
      reconnectMaxMs: 200,
    });
    closers.push(() => l.close());
    l.start();
    // Once LISTEN is in effect it rings once, for what was committed before.
    expect(await doorbell.wait(10_000)).toBe(true);
    expect(l.listening).toBe(true);
    return { l, doorbell };
  }

  const backends = (system: TestSystem) =>
    sql<{ pid: number }>(system, `select pid from pg_stat_activity where datname = current_database() and application_name = ?`, [
      `saga-listen:${RESERVE}`,
    ]);

  it('rings on a committed notification of its use case only', async () => {
    const system = await producerSystem();
    const { doorbell } = await listener(system);
    const db = system.runtime.modules[0]!.db;

    await db.query(`select pg_notify(?, '')`, [inboxChannel(APPROVE)]);
    expect(await doorbell.wait(300)).toBe(false);

    await db
      .run(async () => {
        await db.query(`select pg_notify(?, '')`, [inboxChannel(RESERVE)]);
        throw new Error('roll back');
      })
      .catch(() => undefined);
    expect(await doorbell.wait(300)).toBe(false);

    const sent = Date.now();
    const wait = doorbell.wait(30_000);
    await db.query(`select pg_notify(?, '')`, [inboxChannel(RESERVE)]);
    expect(await wait).toBe(true);
    expect(Date.now() - sent).toBeLessThan(2_000);
  });

  it('survives its connection being killed: it reconnects, rings once, and hears notifications again', async () => {
    const system = await producerSystem();
    const { logger, lines } = recordingLogger();
    const { l, doorbell } = await listener(system, logger);
    const [before] = await backends(system);
    expect(before).toBeDefined();

    await sql(system, 'select pg_terminate_backend(?)', [before!.pid]);
    expect(await doorbell.wait(10_000)).toBe(true);
    expect(l.listening).toBe(true);
    const [after] = await backends(system);
    expect(after?.pid).not.toBe(before!.pid);
    expect(lines.map((x) => x.msg)).toContain('inbox listener lost its connection; reconnecting, polling meanwhile');

    const wait = doorbell.wait(30_000);
    await sql(system, `select pg_notify(?, '')`, [inboxChannel(RESERVE)]);
    expect(await wait).toBe(true);
  });

  it('close() ends its connection; an unreachable database is retried without throwing', async () => {
    const system = await producerSystem();
    const { l } = await listener(system);
    await l.close();
    expect(l.listening).toBe(false);
    await eventually(async () => ((await backends(system)).length === 0 ? true : undefined), { timeoutMs: 5_000 });

    const { logger, lines } = recordingLogger();
    const url = new URL(system.config.DATABASE_URL!);
    url.port = '1';
    const unreachable = new InboxListener({
      databaseUrl: url.toString(),
      useCase: RESERVE,
      logger,
      onWake: () => undefined,
      reconnectBaseMs: 20,
      reconnectMaxMs: 50,
    });
    unreachable.start();
    await eventually(
      async () => (lines.filter((x) => x.msg.startsWith('inbox listener could not listen')).length >= 2 ? true : undefined),
      { timeoutMs: 5_000 },
    );
    const closing = Date.now();
    await unreachable.close();
    expect(Date.now() - closing).toBeLessThan(1_500);
  });
});
