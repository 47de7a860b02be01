import { DescribeTasksCommand, ECSClient, ListTasksCommand, StopTaskCommand } from '@aws-sdk/client-ecs';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EcsTransport } from '../../src/shared/infrastructure/messaging/ecs/ecs-transport.js';
import { ecsSystemsClosedAfterEach } from '../support/ecs.js';
import { imageNodeMajor, imageNodeProject } from '../support/image-node.js';
import {
  availableCredit,
  eventually,
  placeOrder,
  registerCustomer,
  sql,
  TERMINAL,
  waitForStatus,
  type TestSystem,
} from '../support/system.js';

// The tasks run under the production image's Node, from bundles that Node cached (test/support/image-node.ts).
const onImageNode: { nodeBinary?: string; projectRoot?: string; taskLogDir?: string } = {};
let disposeImageNode = (): void => undefined;
beforeAll(() => {
  const { dispose, ...options } = imageNodeProject();
  // Task output to files: the last test reads it.
  Object.assign(onImageNode, { ...options, taskLogDir: join(options.projectRoot, 'task-logs') });
  disposeImageNode = dispose;
}, 300_000);
afterAll(() => disposeImageNode());

const startEcs = ecsSystemsClosedAfterEach(afterEach, onImageNode);

it("the tasks' Node is the major of the Dockerfile's NODE_IMAGE", () => {
  const version = execFileSync(onImageNode.nodeBinary!, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
  expect(Number(version.split('.')[0])).toBe(imageNodeMajor());
  expect(imageNodeMajor()).toBe(22);
});

function start(
  style: 'choreography' | 'orchestration',
  ecsEnv: Record<string, string> = {},
  systemEnv: Record<string, string> = {},
  layout: { apart?: boolean } = {},
) {
  return startEcs({ SAGA_STYLE: style, ...ecsEnv }, { SAGA_STYLE: style, ...systemEnv }, layout);
}

// With a module in a database of its own (ADR 32), each task reaches its module's database and
// relays across to the other's; the tasks' LISTEN connections are in their own module's database.
describe.each([
  ['choreography', 'one database'],
  ['orchestration', 'one database'],
  ['choreography', 'two databases'],
  ['orchestration', 'two databases'],
] as const)('the saga on ECS tasks (%s, %s)', (style, layout) => {
  it('runs every use case in its own task process and ends like the other adapters', { timeout: 90_000 }, async () => {
    const { ecs, system } = await start(style, {}, {}, { apart: layout === 'two databases' });
    const { app } = system;
    const customer = await registerCustomer(app, { amount: 10_000, currency: 'USD' });
    const first = await placeOrder(app, customer, { amount: 6_000, currency: 'USD' });
    expect((await waitForStatus(app, first, TERMINAL, 30_000)).status).toBe('APPROVED');
    const second = await placeOrder(app, customer, { amount: 6_000, currency: 'USD' });
    const rejected = await waitForStatus(app, second, TERMINAL, 30_000);
    expect(rejected).toMatchObject({ status: 'REJECTED', rejectionReason: 'CREDIT_LIMIT_EXCEEDED' });
    expect(await availableCredit(app, customer)).toBe(4_000);
    const cancel = await app.inject({ method: 'POST', url: `/orders/${first}/cancel` });
    expect(cancel.statusCode).toBe(202);
    await expect.poll(() => availableCredit(app, customer), { timeout: 30_000, interval: 100 }).toBe(10_000);

    // Each task ran its own use case's task definition, and exited 0 once drained.
    const client = new ECSClient({});
    const arns = [
      ...((await client.send(new ListTasksCommand({ cluster: 'local', desiredStatus: 'STOPPED' }))).taskArns ?? []),
      ...((await client.send(new ListTasksCommand({ cluster: 'local', desiredStatus: 'RUNNING' }))).taskArns ?? []),
    ];
    const tasks = (await client.send(new DescribeTasksCommand({ cluster: 'local', tasks: arns }))).tasks ?? [];
    const families = new Set(tasks.map((t) => t.group));
    const expected =
      style === 'choreography'
        ? ['family:customer-reserve-credit', 'family:order-approve-order', 'family:order-reject-order', 'family:customer-release-credit']
        : ['family:customer-reserve-credit', 'family:order-place-order-saga', 'family:customer-release-credit'];
    for (const family of expected) expect(families).toContain(family);
    for (const task of tasks.filter((t) => t.lastStatus === 'STOPPED')) expect(task.containers?.[0]?.exitCode).toBe(0);
    client.destroy();
    expect(ecs.stats().tasksExitedNonZero).toBe(0);
  });
});

describe('launch coalescing', () => {
  it('a burst costs a handful of launches, not one per message', { timeout: 120_000 }, async () => {
    const { ecs, system } = await start('choreography');
    const { app } = system;
    const customers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => registerCustomer(app, { amount: 1_000_000, currency: 'USD' }, `c${i}`)),
    );
    ecs.resetStats();
    const orders: string[] = [];
    for (let batch = 0; batch < 10; batch++) {
      orders.push(...(await Promise.all(customers.map((c) => placeOrder(app, c, { amount: 100, currency: 'USD' })))));
    }
    for (const id of orders) expect((await waitForStatus(app, id, TERMINAL, 60_000)).status).toBe('APPROVED');
    const stats = ecs.stats();
    const messages = orders.length * 2; // order.created.v1 and customer.credit-reserved.v1 each launch a use case
    // 400 messages for two use cases: a few launches each, far below one per message.
    expect(stats.tasksStarted).toBeLessThanOrEqual(16);
    expect(stats.tasksStarted / messages).toBeLessThan(0.05);
    const launcher = (system.runtime.transport as EcsTransport).launcher;
    expect(launcher.counters.tasksStarted).toBeGreaterThan(0);
  });
});

describe('faults on the ECS API', () => {
  it('throttling and placement failures cost time, never an order', { timeout: 120_000 }, async () => {
    const { ecs, system } = await start('choreography');
    const { app } = system;
    const customers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => registerCustomer(app, { amount: 1_000, currency: 'USD' }, `f${i}`)),
    );
    ecs.resetStats();
    // Every RunTask throttled, then every one refused for capacity, then a mix: each fault is
    // certainly met (a random mix alone may meet none when a burst needs only a few launches).
    ecs.setFaults({ throttleRate: 1, failureRate: 0 });
    const placing = Promise.all(
      customers.flatMap((c) => [
        placeOrder(app, c, { amount: 600, currency: 'USD' }),
        placeOrder(app, c, { amount: 600, currency: 'USD' }),
      ]),
    );
    await expect.poll(() => ecs.stats().runTaskThrottled, { timeout: 30_000, interval: 20 }).toBeGreaterThan(0);
    ecs.setFaults({ throttleRate: 0, failureRate: 1 });
    await expect.poll(() => ecs.stats().runTaskFailures, { timeout: 30_000, interval: 20 }).toBeGreaterThan(0);
    ecs.setFaults({ throttleRate: 0.5, failureRate: 0.3 });
    const orders = await placing;
    const outcomes = await Promise.all(orders.map((id) => waitForStatus(app, id, TERMINAL, 90_000)));
    // Per customer: exactly one of its two orders fits the limit.
    expect(outcomes.filter((o) => o.status === 'APPROVED')).toHaveLength(10);
    expect(outcomes.filter((o) => o.status === 'REJECTED')).toHaveLength(10);
    for (const c of customers) expect(await availableCredit(app, c)).toBe(400);
  });
});

describe('tasks stopped or killed mid-batch', () => {
  async function backlog(system: TestSystem, orders: number) {
    const { app } = system;
    const customers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => registerCustomer(app, { amount: 1_000_000, currency: 'USD' }, `s${i}`)),
    );
    const ids: string[] = [];
    for (let i = 0; ids.length < orders; i++)
      ids.push(...(await Promise.all(customers.map((c) => placeOrder(app, c, { amount: 100, currency: 'USD' })))));
    return ids;
  }

  async function runningTask(family: string): Promise<string> {
    const client = new ECSClient({});
    try {
      for (let i = 0; i < 200; i++) {
        const arns = (await client.send(new ListTasksCommand({ cluster: 'local', family, desiredStatus: 'RUNNING' }))).taskArns ?? [];
        if (arns[0]) return arns[0];
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`no running ${family} task`);
    } finally {
      client.destroy();
    }
  }

  it('StopTask (SIGTERM) finishes the message in hand, exits 0, and the rest is carried by a new task', { timeout: 120_000 }, async () => {
    const { ecs, system } = await start('choreography', { WORKER_CONCURRENCY: '1' });
    const ids = await backlog(system, 500);
    const arn = await runningTask('customer-reserve-credit');
    // Stop it mid-batch: once it has committed work (a SIGTERM while Node itself boots is out of our hands).
    const reservations = () =>
      system.runtime
        .module('customer')
        .db.query<{ n: number }>('select count(*)::int as n from customers.credit_reservations')
        .then((r) => r[0]?.n ?? 0);
    await expect.poll(reservations, { timeout: 20_000, interval: 20 }).toBeGreaterThan(0);
    const client = new ECSClient({});
    await client.send(new StopTaskCommand({ cluster: 'local', task: arn, reason: 'test: spot interruption' }));
    await expect
      .poll(async () => (await client.send(new DescribeTasksCommand({ cluster: 'local', tasks: [arn] }))).tasks?.[0]?.lastStatus, {
        timeout: 20_000,
      })
      .toBe('STOPPED');
    const stopped = (await client.send(new DescribeTasksCommand({ cluster: 'local', tasks: [arn] }))).tasks![0]!;
    client.destroy();
    expect(stopped.stopCode).toBe('UserInitiated');
    expect(stopped.containers?.[0]?.exitCode).toBe(0);
    for (const id of ids) expect((await waitForStatus(system.app, id, TERMINAL, 60_000)).status).toBe('APPROVED');
    expect(ecs.stats().tasksExitedNonZero).toBe(0);
  });

  /** The launch attempts of reserve-credit: which tasks, heartbeated, resolved, the share each still holds. */
  function attempts(system: TestSystem) {
    return sql<{
      id: string;
      task_arns: string[];
      running: boolean;
      observed: boolean;
      live_tasks: number;
      stopped_arns: string[];
      created_ms: number;
    }>(
      system,
      `select id, task_arns, running_at is not null as running, observed_at is not null as observed, live_tasks, stopped_arns,
         (extract(epoch from created_at) * 1000)::float8 as created_ms
       from customers.launch_attempts where use_case = 'customer.reserve-credit' and status = 'started' order by created_at`,
    );
  }

  // Several tasks of one use case; one is SIGKILLed after its heartbeat and after a maintenance pass
  // resolved its start. Its share is its own (ADR 36): seen stopped by DescribeTasks, released, and
  // a replacement launched while its siblings run, far sooner than any lease could lapse (the start
  // timeout and the lease TTL are a minute here: only the observer can explain a fast relaunch).
  it(
    'a task killed mid-batch (SIGKILL) while its siblings run: its share is released and a replacement launched within 10 s',
    { timeout: 120_000 },
    async () => {
      const slow = { LEASE_TTL_MS: '60000', TASK_CONCURRENCY: '1', ECS_SCALE_OUT_BACKLOG: '20', ECS_MAX_TASKS_PER_USE_CASE: '3' };
      const { ecs, system } = await start(
        'choreography',
        { ...slow, TASK_IDLE_GRACE_MS: '2000', DELIVERY_BATCH_SIZE: '1' },
        { ...slow, TASK_START_TIMEOUT_MS: '60000' },
      );
      const ids = await backlog(system, 300);
      // One delivery per transaction: the backlog outlasts the tasks' cold starts, however loaded the machine.
      // Two tasks running, each heartbeated, and a maintenance pass has resolved their starts.
      const ready = async () => {
        const rows = await attempts(system);
        const settled = rows.filter((a) => a.running && a.observed && a.live_tasks > 0);
        const arns = settled.flatMap((a) => a.task_arns.filter((t) => !a.stopped_arns.includes(t)));
        return arns.length >= 2 ? arns : undefined;
      };
      const arns = await eventually(ready, { timeoutMs: 40_000, intervalMs: 1000, what: 'two heartbeated reserve-credit tasks' });
      const victim = arns[0]!;
      const before = await attempts(system);
      const killedAt = Date.now();
      for (const pid of ecs.taskPids(victim)) process.kill(pid, 'SIGKILL');
      // Seen stopped, its share released, and a new launch decided, while a sibling still runs.
      const replaced = await eventually(
        async () => {
          const rows = await attempts(system);
          const released = rows.some((a) => a.stopped_arns.includes(victim));
          const fresh = rows.filter((a) => !before.some((b) => b.id === a.id));
          return released && fresh.length > 0 ? Date.now() - killedAt : undefined;
        },
        { timeoutMs: 10_000, intervalMs: 100, what: 'the killed task released and replaced' },
      );
      expect(replaced).toBeLessThan(10_000);
      for (const id of ids) expect((await waitForStatus(system.app, id, TERMINAL, 60_000)).status).toBe('APPROVED');
      // One reservation per order: the killed task's transaction in flight rolled back, nothing ran twice.
      const rows = await system.runtime
        .module('customer')
        .db.query<{ n: number; orders: number }>(
          'select count(*)::int as n, count(distinct order_id)::int as orders from customers.credit_reservations',
        );
      expect(rows[0]).toEqual({ n: ids.length, orders: ids.length });
    },
  );
});

// Last: over every task the tests above ran. A cache written by Node 22 is rejected by any other
// Node, so no such line means each task process ran the image's Node.
it("every task ran on the image's Node, which accepted the code cache it wrote", () => {
  const logs = readdirSync(onImageNode.taskLogDir!);
  expect(logs.length).toBeGreaterThan(10);
  for (const log of logs) expect(readFileSync(join(onImageNode.taskLogDir!, log), 'utf8'), log).not.toContain('code cache rejected');
});
