import { randomUUID } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { launchStore, queryable } from '../../src/shared/infrastructure/messaging/ecs/launch-store.js';
import { watchStore } from '../../src/shared/infrastructure/messaging/ecs/launch-watch-store.js';
import { giveBackIfIdle, idleUnderLease } from '../../src/shared/infrastructure/messaging/ecs/task-lease.js';
import { onOneConnection } from '../../src/shared/infrastructure/persistence/pg-connections.js';
import type { ModuleDatabase } from '../../src/shared/infrastructure/persistence/module-database.js';
import { giveBackLast } from '../../src/entrypoints/tasks/give-back.js';
import { createLogger } from '../../src/shared/infrastructure/logging/logger.js';
import { freePort } from '../support/ports.js';
import { placeOrder, registerCustomer, systemsClosedAfterEach, type TestSystem } from '../support/system.js';

/**
 * How a drained ECS task gives its share of the lease back: last, on one connection of its own,
 * once its pools are closed, and only while no delivery is due (the end-to-end proof, with the
 * connections of real task processes counted against the budget, is test/e2e/hot-customers.test.ts).
 */

const start = systemsClosedAfterEach(afterEach);
const RESERVE = 'customer.reserve-credit';
/** A task run by hand: its share is the lease row's. */
const BY_HAND = { attempt: null, ownShare: false } as const;

/** A system that relays into the inboxes but consumes nothing: deliveries stay due. */
async function system(): Promise<TestSystem> {
  return start({ env: { EVENT_BUS: 'memory' }, consume: false, jobs: false });
}

/** The customer module's database: the lease and the inbox of customer.reserve-credit. */
function customersDb(s: TestSystem): ModuleDatabase {
  const db = s.runtime.modules.find((m) => m.db.schema === 'customers')?.db;
  if (!db) throw new Error('the system hosts no customers schema');
  return db;
}

function customers(s: TestSystem, text: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  return customersDb(s).query(text, params);
}

async function leaseOf(s: TestSystem): Promise<number | undefined> {
  const [row] = await customers(s, 'select tasks from customers.task_leases where use_case = ?', [RESERVE]);
  return (row as { tasks?: number } | undefined)?.tasks;
}

/** A started launch holding one task's share, live for a minute: its id. */
async function startedLaunch(s: TestSystem): Promise<string> {
  const id = randomUUID();
  await customers(
    s,
    `insert into customers.launch_attempts (id, use_case, client_token, task_count, status, live_tasks, expires_at)
     values (?, ?, ?, 1, 'started', 1, now() + interval '1 minute')`,
    [id, RESERVE, id],
  );
  return id;
}

/** An empty lease row and one started launch holding one task's share: the launch's id. */
async function oneLaunch(s: TestSystem): Promise<string> {
  await customers(s, `insert into customers.task_leases (use_case, tasks, expires_at) values (?, 0, now() + interval '1 minute')`, [
    RESERVE,
  ]);
  return startedLaunch(s);
}

const session = (s: TestSystem) => ({ connectionString: s.config.DATABASE_URL!, application_name: 'saga-task:test#00000000' });

describe("a drained task's share", () => {
  it('is given back when nothing is due, and kept (nothing written) when a delivery is', async () => {
    const s = await system();
    await customers(s, `insert into customers.task_leases (use_case, tasks, expires_at) values (?, 2, now() + interval '1 minute')`, [
      RESERVE,
    ]);

    expect(await idleUnderLease(customersDb(s), RESERVE)).toBe(true);
    expect(await onOneConnection(session(s), (query) => giveBackIfIdle(query, 'customers', RESERVE, BY_HAND))).toBe(true);
    expect(await leaseOf(s)).toBe(1);

    const customer = await registerCustomer(s.app, { amount: 10_000, currency: 'USD' });
    await placeOrder(s.app, customer, { amount: 100, currency: 'USD' });
    await s.runtime.relay.drainAll();
    expect(await idleUnderLease(customersDb(s), RESERVE)).toBe(false);
    expect(await onOneConnection(session(s), (query) => giveBackIfIdle(query, 'customers', RESERVE, BY_HAND))).toBe(false);
    expect(await leaseOf(s)).toBe(1);
  });

  it("is given back under the lease's lock: a launch decision waits for it, then sees the share free", async () => {
    const s = await system();
    await customers(s, `insert into customers.task_leases (use_case, tasks, expires_at) values (?, 1, now() + interval '1 minute')`, [
      RESERVE,
    ]);
    const decider = new pg.Client({ connectionString: s.config.DATABASE_URL!, application_name: 'test:decider' });
    await decider.connect();
    try {
      let waiting: Promise<number | undefined> | undefined;
      const released = onOneConnection(session(s), async (query) => {
        const idle = await giveBackIfIdle(query, 'customers', RESERVE, BY_HAND);
        // The launcher's decision locks the lease row while this transaction still holds it.
        await decider.query('begin');
        let seen = false;
        waiting = decider
          .query<{ tasks: number }>('select tasks from customers.task_leases where use_case = $1 for update', [RESERVE])
          .then((r) => {
            seen = true;
            return r.rows[0]?.tasks;
          });
        await new Promise((r) => setTimeout(r, 200));
        expect(seen).toBe(false);
        return idle;
      });
      expect(await released).toBe(true);
      // Once committed, the decision goes on and sees the share free.
      expect(await waiting).toBe(0);
      await decider.query('commit');
    } finally {
      await decider.end();
    }
  });

  it("goes back to its launch when the launch holds it (ADR 36), and to the lease row when an older launcher's does", async () => {
    const s = await system();
    await customers(s, `insert into customers.task_leases (use_case, tasks, expires_at) values (?, 1, now() + interval '1 minute')`, [
      RESERVE,
    ]);
    const launch = () => startedLaunch(s);
    const liveOf = async (id: string) =>
      (await customers(s, 'select live_tasks from customers.launch_attempts where id = ?', [id]))[0]?.['live_tasks'];

    const owning = await launch();
    expect(await onOneConnection(session(s), (q) => giveBackIfIdle(q, 'customers', RESERVE, { attempt: owning, ownShare: true }))).toBe(
      true,
    );
    expect([await liveOf(owning), await leaseOf(s)]).toEqual([0, 1]);

    const older = await launch();
    expect(await onOneConnection(session(s), (q) => giveBackIfIdle(q, 'customers', RESERVE, { attempt: older, ownShare: false }))).toBe(
      true,
    );
    expect([await liveOf(older), await leaseOf(s)]).toEqual([1, 0]);
  });

  it('is given back once per task ARN: a retried give-back, and the observer seeing the task killed after it, release nothing more (ADR 39)', async () => {
    const s = await system();
    await customers(s, `insert into customers.task_leases (use_case, tasks, expires_at) values (?, 0, now() + interval '1 minute')`, [
      RESERVE,
    ]);
    const id = randomUUID();
    const [a, b, c] = ['a', 'b', 'c'].map((t) => `arn:aws:ecs:us-east-1:000000000000:task/local/${t}${id.slice(0, 8)}`);
    await customers(
      s,
      `insert into customers.launch_attempts (id, use_case, client_token, task_count, status, live_tasks, expires_at, task_arns)
       values (?, ?, ?, 3, 'started', 3, now() + interval '1 minute', ?::text[])`,
      [id, RESERVE, id, [a, b, c]],
    );
    const attempt = async () =>
      (await customers(s, 'select live_tasks, returned_arns from customers.launch_attempts where id = ?', [id]))[0] as {
        live_tasks: number;
        returned_arns: string[];
      };
    const giveBack = (taskArn: string) =>
      onOneConnection(session(s), (q) => giveBackIfIdle(q, 'customers', RESERVE, { attempt: id, ownShare: true, taskArn }));

    // Task a gives its share back, and again (its first commit's answer lost): one share. A
    // delivery due by the retry (the freed share launched a task for it) does not send a back to
    // work without a share: its give-back is recorded, it is done; b, still holding one, drains it.
    expect(await giveBack(a!)).toBe(true);
    const customer = await registerCustomer(s.app, { amount: 10_000, currency: 'USD' });
    await placeOrder(s.app, customer, { amount: 100, currency: 'USD' });
    await s.runtime.relay.drainAll();
    expect(await giveBack(a!)).toBe(true);
    expect(await giveBack(b!)).toBe(false);
    expect(await attempt()).toEqual({ live_tasks: 2, returned_arns: [a] });
    // Then a is SIGKILLed at its stop timeout and b crashes: the observer gives back b's share only.
    const db = queryable(customersDb(s).database);
    await watchStore.releaseCrashed(db, 'customers', id, [a!, b!]);
    expect(await attempt()).toEqual({ live_tasks: 1, returned_arns: [a, b] });
    // Seen stopped again by a second pass: nothing more.
    await watchStore.releaseCrashed(db, 'customers', id, [b!]);
    expect((await attempt()).live_tasks).toBe(1);
    // c still runs: its share is bounded by the tasks neither stopped nor given back, which it is.
    await customers(s, 'update customers.launch_attempts set stopped_arns = ?::text[] where id = ?', [[a, b], id]);
    expect(await watchStore.boundToUnstopped(db, 'customers', id)).toBe(0);
    expect((await attempt()).live_tasks).toBe(1);
    // A launch that holds more than that (an older release's task exited 0 without giving its launch's share back) is bounded.
    await customers(s, 'update customers.launch_attempts set live_tasks = 3 where id = ?', [id]);
    expect(await watchStore.boundToUnstopped(db, 'customers', id)).toBe(2);
  });

  it('of a task that failed to start is given back once: the breaker records it, and its own late give-back releases nothing more', async () => {
    const s = await system();
    await customers(s, `insert into customers.task_leases (use_case, tasks, expires_at) values (?, 0, now() + interval '1 minute')`, [
      RESERVE,
    ]);
    // One launch of two tasks: one did not start in time, its sibling runs.
    const id = randomUUID();
    const [late, sibling] = ['late', 'sibling'].map((t) => `arn:aws:ecs:us-east-1:000000000000:task/local/${t}${id.slice(0, 8)}`);
    await customers(
      s,
      `insert into customers.launch_attempts (id, use_case, client_token, task_count, status, live_tasks, expires_at, task_arns)
       values (?, ?, ?, 2, 'started', 2, now() + interval '1 minute', ?::text[])`,
      [id, RESERVE, id, [late, sibling]],
    );
    await launchStore.openBreaker(
      queryable(customersDb(s).database),
      'customers',
      {
        useCase: RESERVE,
        attemptId: id,
        tasks: 1,
        arns: [late!],
        reason: 'StartTimeout: no heartbeat',
        atStart: true,
        permanentStart: false,
      },
      { baseMs: 1_000, maxMs: 60_000 },
    );
    const live = async () => (await customers(s, 'select live_tasks from customers.launch_attempts where id = ?', [id]))[0]?.['live_tasks'];
    expect(await live()).toBe(1);
    // It started after all (its StopTask refused, then a SIGTERM) and gives its share back as it stops: the sibling's stays.
    expect(
      await onOneConnection(session(s), (q) => giveBackIfIdle(q, 'customers', RESERVE, { attempt: id, ownShare: true, taskArn: late })),
    ).toBe(true);
    expect(await live()).toBe(1);
  });

  it('waits out PostgreSQL being away to give the share back when the give-back is recorded by its ARN, and only then', async () => {
    const s = await system();
    const id = await oneLaunch(s);
    const real = new URL(s.config.DATABASE_URL!);
    const port = await freePort();
    const away = new URL(real);
    away.hostname = '127.0.0.1';
    away.port = String(port);
    const giveBack = (taskArn: string | null) =>
      giveBackLast({
        databaseUrl: away.toString(),
        applicationName: 'saga-task:test#00000000',
        schema: 'customers',
        useCase: RESERVE,
        launch: { attempt: id, ownShare: true, taskArn },
        logger: createLogger({ level: 'silent' }),
        toleranceMs: 10_000,
      });
    // Nothing listens yet: refused, as while PostgreSQL restarts. A task that does not know its ARN exits with the error.
    await expect(giveBack(null)).rejects.toThrow(/ECONNREFUSED/);
    // One that does tries again, and gets through once the server is back (1 s later).
    const forwarder = net.createServer((socket) => {
      const upstream = net.connect(Number(real.port || 5432), real.hostname);
      socket.pipe(upstream).pipe(socket);
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
    });
    const back = setTimeout(() => forwarder.listen(port, '127.0.0.1'), 1_000);
    try {
      const started = Date.now();
      expect(await giveBack('arn:aws:ecs:us-east-1:000000000000:task/local/away')).toBe(true);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      expect((await customers(s, 'select live_tasks from customers.launch_attempts where id = ?', [id]))[0]?.['live_tasks']).toBe(0);
    } finally {
      clearTimeout(back);
      await new Promise((resolve) => forwarder.close(resolve));
    }
  });

  it("counts a launch's share free in a decision that waited for its give-back", async () => {
    const s = await system();
    const id = await oneLaunch(s);
    const decider = new pg.Client({ connectionString: s.config.DATABASE_URL!, application_name: 'test:decider' });
    await decider.connect();
    try {
      await decider.query('begin');
      let decision: ReturnType<typeof launchStore.lockLease> | undefined;
      const released = onOneConnection(session(s), async (query) => {
        const idle = await giveBackIfIdle(query, 'customers', RESERVE, { attempt: id, ownShare: true });
        // The launcher's decision (its real statements) waits for this transaction's lock.
        decision = launchStore.lockLease(decider, 'customers', RESERVE);
        await new Promise((r) => setTimeout(r, 200));
        return idle;
      });
      expect(await released).toBe(true);
      // It read the count after the lock: the share given back is free (a delivery committed meanwhile gets a task).
      expect((await decision)?.current).toBe(0);
      await decider.query('commit');
    } finally {
      await decider.end();
    }
  });

  it('stays held when the work on its connection fails: the transaction rolls back', async () => {
    const s = await system();
    await customers(s, `insert into customers.task_leases (use_case, tasks, expires_at) values (?, 1, now() + interval '1 minute')`, [
      RESERVE,
    ]);
    await expect(
      onOneConnection(session(s), async (query) => {
        await giveBackIfIdle(query, 'customers', RESERVE, BY_HAND);
        throw new Error('lost before commit');
      }),
    ).rejects.toThrow('lost before commit');
    expect(await leaseOf(s)).toBe(1);
  });
});
