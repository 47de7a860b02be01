import { afterEach, describe, expect, it } from 'vitest';
import type { LocalEcs } from '../../src/dev/ecs-local/index.js';
import { ecsSystemsClosedAfterEach } from '../support/ecs.js';
import { eventually, getOrder, placeOrder, registerCustomer, sql, TERMINAL, waitForStatus, type TestSystem } from '../support/system.js';

/**
 * A running task learns of a new delivery of its use case when the delivery commits (the relay's
 * NOTIFY), not at its next poll. The tasks here idle for 30 s and poll only every 60 s, so a saga
 * that ends within a few seconds on already-running tasks can only have been carried by the
 * notifications; the control shows that without them it does not.
 */

const startEcs = ecsSystemsClosedAfterEach(afterEach);

const IDLE = { TASK_IDLE_GRACE_MS: '30000', TASK_IDLE_POLL_MS: '60000' };
/** Well below the fallback poll and the idle grace, well above a saga on a loaded machine. */
const BOUND_MS = 5_000;

function start(notify: boolean) {
  // TASK_WAKE_NOTIFY is passed on to the tasks the system launches.
  return startEcs(IDLE, { ...IDLE, TASK_WAKE_NOTIFY: String(notify) });
}

/** The backends of the tasks' listening connections. */
const listeners = (s: TestSystem) =>
  sql<{ pid: number; application_name: string }>(
    s,
    `select pid, application_name from pg_stat_activity where datname = current_database() and application_name like 'saga-listen:%'`,
  );

/** One saga through cold tasks: afterwards customer.reserve-credit and order.approve-order each have a task idling. */
async function warmUp(s: TestSystem): Promise<string> {
  const customer = await registerCustomer(s.app, { amount: 1_000_000, currency: 'USD' });
  const first = await placeOrder(s.app, customer, { amount: 100, currency: 'USD' });
  expect((await waitForStatus(s.app, first, TERMINAL, 60_000)).status).toBe('APPROVED');
  return customer;
}

async function sagaOnRunningTasks(s: TestSystem, e: LocalEcs, customer: string): Promise<number> {
  const started = e.stats().tasksStarted;
  const placed = Date.now();
  const id = await placeOrder(s.app, customer, { amount: 100, currency: 'USD' });
  expect((await waitForStatus(s.app, id, TERMINAL, BOUND_MS)).status).toBe('APPROVED');
  const ms = Date.now() - placed;
  // Carried by the tasks already running, not by new launches.
  expect(e.stats().tasksStarted).toBe(started);
  return ms;
}

describe('idle ECS tasks are woken by the commit of a delivery (LISTEN/NOTIFY)', () => {
  it(
    'a saga on running tasks ends within seconds although they poll once a minute, also after their listening connections were killed',
    { timeout: 120_000 },
    async () => {
      const { ecs, system } = await start(true);
      const customer = await warmUp(system);
      const before = await eventually(
        async () => {
          const rows = await listeners(system);
          return rows.length === 2 ? rows : undefined;
        },
        { timeoutMs: 10_000, what: 'both tasks listening' },
      );
      // Each named for its use case and its task (`#<task>`: one task's connections told from its siblings').
      expect(before.map((r) => r.application_name.replace(/#[0-9a-z]{8}$/, '#<task>')).sort()).toEqual([
        'saga-listen:customer.reserve-credit#<task>',
        'saga-listen:order.approve-order#<task>',
      ]);

      await sagaOnRunningTasks(system, ecs, customer);

      // A lost listening connection is reopened; the task neither crashes nor misses what follows.
      await sql(
        system,
        `select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and application_name like 'saga-listen:%'`,
      );
      await eventually(
        async () => {
          const rows = await listeners(system);
          return rows.length === 2 && rows.every((r) => !before.some((b) => b.pid === r.pid)) ? true : undefined;
        },
        { timeoutMs: 10_000, what: 'both tasks listening again' },
      );
      await sagaOnRunningTasks(system, ecs, customer);
      expect(ecs.stats().tasksExitedNonZero).toBe(0);
      expect(ecs.stats().tasksRunning).toBe(2);
    },
  );

  it('control: without the notifications the same saga waits for the poll (the test above bites)', { timeout: 120_000 }, async () => {
    const { ecs, system } = await start(false);
    const customer = await warmUp(system);
    expect(await listeners(system)).toEqual([]);
    const started = ecs.stats().tasksStarted;
    const id = await placeOrder(system.app, customer, { amount: 100, currency: 'USD' });
    await new Promise((r) => setTimeout(r, BOUND_MS));
    expect((await getOrder(system.app, id)).status).toBe('PENDING');
    expect(ecs.stats().tasksStarted).toBe(started);
  });
});
