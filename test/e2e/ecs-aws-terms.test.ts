import { DescribeTasksCommand, ECSClient, ListTasksCommand, RunTaskCommand, StopTaskCommand, type Task } from '@aws-sdk/client-ecs';
import { afterEach, describe, expect, it } from 'vitest';
import type { LocalEcs, LocalEcsFaultsInput } from '../../src/dev/ecs-local/index.js';
import { EcsTransport } from '../../src/shared/infrastructure/messaging/ecs/ecs-transport.js';
import { heartbeatLease } from '../../src/shared/infrastructure/messaging/ecs/task-lease.js';
import { cloneRunDatabase } from '../support/databases.js';
import { ecsSystemEnv, startTestEcs } from '../support/ecs.js';
import {
  eventually,
  placeOrder,
  registerCustomer,
  sql,
  startTestSystem,
  TERMINAL,
  waitForStatus,
  type TestSystem,
} from '../support/system.js';

/**
 * Issue 11: the sagas over ECS tasks where ECS behaves as Fargate does, with each of AWS's faults
 * injected in turn. Everything runs TIME_SCALE times faster than on AWS, consistently: the local
 * endpoint's fargate profile (cold starts of 15–45 s become 1.5–4.5 s, the rate limits' refill ×10)
 * and every time-based setting of the system below (the ECS transport's defaults ÷ 10).
 */

const TIME_SCALE = 10;
const scaled = (ms: number) => String(Math.round(ms / TIME_SCALE));
const SYSTEM_ENV = {
  ORDER_DEADLINE_MS: scaled(300_000),
  LEASE_TTL_MS: scaled(60_000),
  TASK_IDLE_GRACE_MS: scaled(45_000),
  TASK_START_TIMEOUT_MS: scaled(180_000),
  ECS_RETRY_BASE_MS: scaled(1_000),
  ECS_RETRY_MAX_MS: scaled(300_000),
  ECS_REQUEST_TIMEOUT_MS: scaled(5_000),
  ECS_CONNECT_TIMEOUT_MS: scaled(3_000),
  SWEEP_INTERVAL_MS: scaled(1_000),
  REDELIVERY_AFTER_MS: scaled(15_000),
  RELAY_POLL_MS: scaled(1_000),
  LOG_LEVEL: 'silent',
};
const USD = (amount: number) => ({ amount, currency: 'USD' });
const RESERVE = 'customer.reserve-credit';

interface Harness {
  readonly databaseUrl: string;
  readonly ecs: LocalEcs;
  readonly system: TestSystem;
  readonly client: ECSClient;
}

const started: Harness[] = [];
afterEach(async () => {
  for (const { ecs, system, client } of started.splice(0)) {
    client.destroy();
    await system.close();
    await ecs.close();
  }
});

async function start(
  style: string,
  faults: LocalEcsFaultsInput = {},
  env: Record<string, string> = {},
  options: { jobs?: boolean; taskEnv?: Record<string, string>; taskDatabaseUrl?: (url: string) => string } = {},
): Promise<Harness> {
  const databaseUrl = await cloneRunDatabase();
  const taskDatabase: Record<string, string> = options.taskDatabaseUrl ? { DATABASE_URL: options.taskDatabaseUrl(databaseUrl) } : {};
  const ecs = await startTestEcs(
    databaseUrl,
    { SAGA_STYLE: style, ...options.taskEnv, ...taskDatabase },
    { profile: 'fargate', timeScale: TIME_SCALE, seed: 20261203, faults },
  );
  const system = await startTestSystem({
    databaseUrl,
    ...(options.jobs === false ? { jobs: false } : {}),
    env: { ...ecsSystemEnv(ecs.url), ...SYSTEM_ENV, SAGA_STYLE: style, ...env },
  });
  const harness = { databaseUrl, ecs, system, client: new ECSClient({}) };
  started.push(harness);
  return harness;
}

async function tasksOf(client: ECSClient): Promise<Task[]> {
  const arns: string[] = [];
  for (const desiredStatus of ['RUNNING', 'STOPPED'] as const)
    arns.push(...((await client.send(new ListTasksCommand({ cluster: 'local', desiredStatus }))).taskArns ?? []));
  const tasks: Task[] = [];
  for (let i = 0; i < arns.length; i += 100)
    tasks.push(...((await client.send(new DescribeTasksCommand({ cluster: 'local', tasks: arns.slice(i, i + 100) }))).tasks ?? []));
  return tasks;
}

async function orders(system: TestSystem, n: number, customers = 5): Promise<string[]> {
  const ids = await Promise.all(Array.from({ length: customers }, (_, i) => registerCustomer(system.app, USD(1_000_000), `aws ${i}`)));
  return Promise.all(Array.from({ length: n }, (_, i) => placeOrder(system.app, ids[i % ids.length]!, USD(100))));
}

async function expectApproved(system: TestSystem, ids: readonly string[], timeoutMs = 60_000): Promise<void> {
  for (const id of ids) expect((await waitForStatus(system.app, id, TERMINAL, timeoutMs)).status).toBe('APPROVED');
}

interface LaunchStats {
  useCase: string;
  counts: { pending: number; done: number; dead: number };
  launch: { tasks: number; failures: number; startFailures: number; breakerOpenUntil: string | null; lastFailure: string | null } | null;
}

async function launchStats(system: TestSystem, useCase: string): Promise<LaunchStats | undefined> {
  const res = await system.app.inject({ method: 'GET', url: '/admin/deliveries/stats' });
  if (res.statusCode !== 200) throw new Error(`GET /admin/deliveries/stats: ${res.statusCode} ${res.body}`);
  const schemas = (res.json() as { schemas: Array<{ useCases: LaunchStats[] }> }).schemas;
  return schemas.flatMap((s) => s.useCases).find((u) => u.useCase === useCase);
}

describe.each(['choreography', 'orchestration'] as const)('the saga over ECS under the fargate profile (%s)', (style) => {
  it(
    'cold starts of 1.5–4.5 s (15–45 s on AWS): every order APPROVED, one launch per use case for the burst',
    { timeout: 90_000 },
    async () => {
      // A lease period (3 s) shorter than most cold starts: only the launch's hold on the lease
      // (TASK_START_TIMEOUT_MS) keeps the signals of the burst from launching again while it starts.
      const { ecs, system, client } = await start(style, {}, { LEASE_TTL_MS: '3000' });
      const ids = await orders(system, 30);
      await expectApproved(system, ids);
      const families = (await tasksOf(client)).map((t) => t.group);
      const expected =
        style === 'choreography'
          ? ['family:customer-reserve-credit', 'family:order-approve-order']
          : ['family:customer-reserve-credit', 'family:order-place-order-saga'];
      for (const family of expected)
        expect(
          families.filter((f) => f === family),
          family,
        ).toHaveLength(1);
      expect(ecs.stats().tasksExitedNonZero).toBe(0);
    },
  );

  it(
    'a permanent error (AccessDeniedException) costs at most 30 RunTask calls per 20 s, and orders end once it is fixed',
    { timeout: 90_000 },
    async () => {
      const { ecs, system } = await start(style, { errors: { RunTask: { type: 'AccessDeniedException', rate: 1 } } });
      const customer = await registerCustomer(system.app, USD(1_000_000));
      const ids: string[] = [];
      // Orders stream in for 20 s (2 s here): every one of them signals a launch.
      const until = Date.now() + 20_000 / TIME_SCALE;
      while (Date.now() < until) {
        ids.push(await placeOrder(system.app, customer, USD(100)));
        await new Promise((r) => setTimeout(r, 20));
      }
      const calls = ecs.stats().runTaskCalls;
      console.info(
        `permanent error (${style}): ${calls} RunTask calls while ${ids.length} orders streamed in for ${20_000 / TIME_SCALE} ms`,
      );
      expect(ids.length).toBeGreaterThan(50);
      expect(calls).toBeGreaterThan(0);
      expect(calls).toBeLessThanOrEqual(30);
      const stats = await launchStats(system, 'customer.reserve-credit');
      expect(stats?.launch?.failures).toBeGreaterThan(0);
      expect(stats?.launch?.lastFailure).toMatch(/^AccessDeniedException/);
      ecs.setFaults({ errors: { RunTask: null } });
      await expectApproved(system, ids);
    },
  );

  it('5xx answers (ServerException, ServiceUnavailableException) are retried: every order APPROVED', { timeout: 90_000 }, async () => {
    const { ecs, system } = await start(style, {
      errors: { RunTask: { type: 'ServerException', rate: 0.5 }, DescribeTasks: { type: 'ServiceUnavailableException', rate: 0.5 } },
    });
    const ids = await orders(system, 20);
    await expectApproved(system, ids);
    expect(ecs.stats().injectedErrors).toBeGreaterThan(0);
  });

  it('hung RunTask calls time out and are retried with the same token, and never stall the relay', { timeout: 90_000 }, async () => {
    const { ecs, system } = await start(style, { errors: { RunTask: { type: 'hang', rate: 0.5 } } });
    const ids = await orders(system, 20);
    await expectApproved(system, ids);
    expect(ecs.stats().hungRequests).toBeGreaterThan(0);
    // Each outbox row was relayed promptly although launches hung: RunTask is off the relay's path.
    const [lag] = await sql<{ max_ms: number }>(
      system,
      `select max(extract(epoch from relayed_at - created_at) * 1000)::float8 as max_ms from ordering.outbox`,
    );
    expect(lag!.max_ms).toBeLessThan(1_000);
    // No launch decision started two tasks: a retried call carried its clientToken.
    expect(ecs.stats().tasksStarted).toBeLessThanOrEqual(ecs.stats().runTaskCalls - ecs.stats().hungRequests);
  });

  it('the account’s RunTask rate limit answers ThrottlingException: retried, every order APPROVED', { timeout: 90_000 }, async () => {
    const { ecs, system, client } = await start(style, {
      rateLimits: { runTaskPerSecond: 0.5, runTaskBurst: 1, launchesPerSecond: 10, launchBurst: 10 },
    });
    // Another service of the account has just used the bucket: the system's first launches are throttled.
    await client.send(
      new RunTaskCommand({
        cluster: 'local',
        taskDefinition: 'customer-reserve-credit',
        launchType: 'FARGATE',
        networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-local'] } },
      }),
    );
    const ids = await orders(system, 20);
    // The cancellations (choreography) or the compensations (orchestration) add a use case at the same moment.
    const cancel = ids.slice(0, 5);
    await expectApproved(system, cancel);
    await Promise.all(cancel.map((id) => system.app.inject({ method: 'POST', url: `/orders/${id}/cancel` })));
    await expectApproved(system, ids.slice(5));
    for (const id of cancel) expect((await waitForStatus(system.app, id, ['CANCELLED'], 60_000)).status).toBe('CANCELLED');
    expect(ecs.stats().rateLimited).toBeGreaterThan(0);
  });

  it(
    'tasks that fail to start (TaskFailedToStart) open the breaker; after 3 the deliveries are dead-lettered TASK_FAILED_TO_START, and re-drivable',
    { timeout: 120_000 },
    async () => {
      const { ecs, system } = await start(
        style,
        { startFailureRate: 1 },
        { ECS_START_FAILURES_BEFORE_DEAD_LETTER: '3', ECS_START_FAILING_BEFORE_DEAD_LETTER_MS: '0', ORDER_DEADLINE_MS: '120000' },
      );
      const ids = await orders(system, 5);
      await expectDeadLettered(system, ecs, ids, /TaskFailedToStart: (CannotPullContainerError|ResourceInitializationError)/);
      // The cause is fixed (the image, the secret): re-driven, the deliveries run and every saga ends.
      ecs.setFaults({ startFailureRate: 0 });
      expect(await redrive(system)).toBe(ids.length);
      for (const id of ids) await waitForStatus(system.app, id, TERMINAL, 60_000);
      const [row] = await sql<{ n: number }>(
        system,
        `select count(*)::int as n from customers.inbox where use_case = ? and status = 'done'`,
        [RESERVE],
      );
      expect(row!.n).toBe(ids.length);
    },
  );

  it(
    'a task that exits 78 (its configuration refused) counts as a start failure, not as a crash to retry forever',
    { timeout: 120_000 },
    async () => {
      const { ecs, system } = await start(
        style,
        {},
        { ECS_START_FAILURES_BEFORE_DEAD_LETTER: '3', ECS_START_FAILING_BEFORE_DEAD_LETTER_MS: '0', ORDER_DEADLINE_MS: '120000' },
        { taskEnv: { DB_POOL_SIZE: '0' } },
      );
      const ids = await orders(system, 5);
      await expectDeadLettered(system, ecs, ids, /exit code 78/);
      expect(ecs.stats().tasksExitedNonZero).toBeGreaterThanOrEqual(3);
      expect(await redrive(system)).toBe(ids.length);
    },
  );

  it(
    'a Spot-style SIGTERM mid-backlog: the task finishes the message in hand and launches its successor itself',
    { timeout: 120_000 },
    async () => {
      // No sweeper, no maintenance: only the stopping task can launch the next one.
      const { ecs, system, client } = await start(style, {}, { DELIVERY_BATCH_SIZE: '1', TASK_CONCURRENCY: '1' }, { jobs: false });
      const ids = await orders(system, 150, 150);
      const reserve = await eventually(
        async () => (await tasksOf(client)).find((t) => t.group === 'family:customer-reserve-credit' && t.lastStatus === 'RUNNING'),
        { timeoutMs: 30_000, what: 'a running reserve-credit task' },
      );
      await eventually(async () => {
        const [row] = await sql<{ n: number }>(
          system,
          `select count(*)::int as n from customers.inbox where use_case = ? and status = 'done'`,
          [RESERVE],
        );
        return row!.n >= 5 ? true : undefined;
      });
      await client.send(new StopTaskCommand({ cluster: 'local', task: reserve.taskArn!, reason: 'Spot interruption' }));
      await expectApproved(system, ids, 90_000);
      const reserveTasks = (await tasksOf(client)).filter((t) => t.group === 'family:customer-reserve-credit');
      expect(reserveTasks.length).toBeGreaterThanOrEqual(2);
      expect(reserveTasks.find((t) => t.taskArn === reserve.taskArn)?.containers?.[0]?.exitCode).toBe(0);
      expect(ecs.stats().tasksExitedNonZero).toBe(0);
    },
  );
});

describe('the launch breaker, counted honestly (choreography)', () => {
  it(
    'failed RunTask calls back off but never dead-letter: only start failures count towards TASK_FAILED_TO_START',
    { timeout: 120_000 },
    async () => {
      const { ecs, system } = await start(
        'choreography',
        { errors: { RunTask: { type: 'AccessDeniedException', rate: 1 } } },
        { ECS_START_FAILURES_BEFORE_DEAD_LETTER: '3', ECS_START_FAILING_BEFORE_DEAD_LETTER_MS: '0', ORDER_DEADLINE_MS: '120000' },
      );
      const ids = await orders(system, 5);
      // More failed launches than the dead-letter threshold: a missing permission, for a while.
      await eventually(async () => ((await launchStats(system, RESERVE))?.launch?.failures ?? 0) >= 4 || undefined, {
        timeoutMs: 60_000,
        what: '4 failed launches',
      });
      // The permission is fixed, but the image cannot be pulled: the next task fails to start.
      ecs.setFaults({ errors: { RunTask: null }, startFailureRate: 1 });
      const afterStart = await eventually(
        async () => {
          const stats = await launchStats(system, RESERVE);
          return (stats?.launch?.startFailures ?? 0) >= 1 ? stats : undefined;
        },
        { timeoutMs: 60_000, what: 'a start failure' },
      );
      expect(afterStart.launch?.lastFailure).toMatch(/^TaskFailedToStart/);
      expect(afterStart.launch?.startFailures).toBe(1);
      expect(afterStart.counts.dead).toBe(0);
      ecs.setFaults({ startFailureRate: 0 });
      await expectApproved(system, ids, 90_000);
      expect((await launchStats(system, RESERVE))?.counts.dead).toBe(0);
    },
  );

  it(
    'a task that exits non-zero before its first heartbeat (its database does not exist) is a start failure, not a crash to relaunch at once',
    { timeout: 120_000 },
    async () => {
      const { ecs, system } = await start(
        'choreography',
        {},
        { ECS_START_FAILURES_BEFORE_DEAD_LETTER: '3', ECS_START_FAILING_BEFORE_DEAD_LETTER_MS: '0', ORDER_DEADLINE_MS: '120000' },
        // A wrong secret: the server answers, the database is not there.
        { taskDatabaseUrl: (url) => Object.assign(new URL(url), { pathname: '/no_such_database_for_tasks' }).toString() },
      );
      const ids = await orders(system, 5);
      await expectDeadLettered(system, ecs, ids, /exit code 1: .*before its first heartbeat/);
      expect(ecs.stats().tasksExitedNonZero).toBeGreaterThanOrEqual(3);
    },
  );

  it(
    'a task whose database is unreachable at start (exit 75) backs off without counting towards dead letters',
    { timeout: 120_000 },
    async () => {
      const { ecs, system } = await start(
        'choreography',
        {},
        { ECS_START_FAILURES_BEFORE_DEAD_LETTER: '3', ECS_START_FAILING_BEFORE_DEAD_LETTER_MS: '0', ORDER_DEADLINE_MS: '120000' },
        // A failover, a network blip: nothing listens there.
        { taskDatabaseUrl: () => 'postgres://postgres@127.0.0.1:1/unreachable' },
      );
      const ids = await orders(system, 5);
      const stats = await eventually(
        async () => {
          const s = await launchStats(system, RESERVE);
          return (s?.launch?.failures ?? 0) >= 4 ? s : undefined;
        },
        { timeoutMs: 90_000, what: '4 launches that could not reach their database' },
      );
      expect(stats.launch?.lastFailure).toMatch(/exit code 75: .*before its first heartbeat/);
      expect(stats.launch?.startFailures).toBe(0);
      expect(stats.counts.dead).toBe(0);
      expect(stats.counts.pending).toBe(ids.length);
      // Backed off: one task per launch, the launches spaced out.
      expect(ecs.stats().runTaskCalls).toBeLessThanOrEqual(8);
    },
  );

  it(
    'transient start failures (CannotPullContainerError: i/o timeout) back off and raise the alarm, and never dead-letter',
    { timeout: 120_000 },
    async () => {
      const { ecs, system } = await start(
        'choreography',
        {
          startFailureRate: 1,
          startFailureReasons: [
            'CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 000000000000.dkr.ecr.us-east-1.amazonaws.com/saga:latest: dial tcp 10.0.3.17:443: i/o timeout',
          ],
        },
        { ECS_START_FAILURES_BEFORE_DEAD_LETTER: '3', ECS_START_FAILING_BEFORE_DEAD_LETTER_MS: '0', ORDER_DEADLINE_MS: '120000' },
      );
      const ids = await orders(system, 5);
      // More start failures than the dead-letter threshold: a registry (or NAT) hiccup, for a while.
      const stats = await eventually(
        async () => {
          const s = await launchStats(system, RESERVE);
          return (s?.launch?.failures ?? 0) >= 4 ? s : undefined;
        },
        { timeoutMs: 60_000, what: '4 transient start failures' },
      );
      expect(stats.launch?.lastFailure).toMatch(/i\/o timeout/);
      // The alarm is the breaker's state (and the error log): open, with the cause; nothing counted towards dead letters.
      expect(stats.launch?.startFailures).toBe(0);
      expect(stats.counts.dead).toBe(0);
      // The registry is back: every order decided, none dead-lettered.
      ecs.setFaults({ startFailureRate: 0 });
      await expectApproved(system, ids, 90_000);
      expect((await launchStats(system, RESERVE))?.counts.dead).toBe(0);
    },
  );

  it(
    'a compensation is never dead-lettered for a start failure: release-credit waits, alarmed, and runs once its task starts',
    { timeout: 150_000 },
    async () => {
      const { ecs, system } = await start(
        'choreography',
        {},
        { ECS_START_FAILURES_BEFORE_DEAD_LETTER: '3', ECS_START_FAILING_BEFORE_DEAD_LETTER_MS: '0', ORDER_DEADLINE_MS: '120000' },
      );
      const ids = await orders(system, 5);
      await expectApproved(system, ids);
      // A bad revision of every task (an image that does not exist: permanent), then the orders are cancelled.
      ecs.setFaults({ startFailureRate: 1 });
      for (const id of ids) expect((await system.app.inject({ method: 'POST', url: `/orders/${id}/cancel` })).statusCode).toBe(202);
      const RELEASE = 'customer.release-credit';
      const stats = await eventually(
        async () => {
          const s = await launchStats(system, RELEASE);
          return (s?.launch?.startFailures ?? 0) >= 4 ? s : undefined;
        },
        { timeoutMs: 90_000, what: '4 permanent start failures of release-credit' },
      );
      expect(stats.launch?.lastFailure).toMatch(/TaskFailedToStart/);
      expect(stats.counts.dead).toBe(0);
      expect(stats.counts.pending).toBe(ids.length);
      // Fixed: the compensations run, every reservation released.
      ecs.setFaults({ startFailureRate: 0 });
      await eventually(
        async () => {
          const s = await launchStats(system, RELEASE);
          return s?.counts.done === ids.length ? s : undefined;
        },
        { timeoutMs: 90_000, what: 'every release-credit delivery done' },
      );
      expect((await launchStats(system, RELEASE))?.counts.dead).toBe(0);
    },
  );

  it(
    'RunTask applied with its answer lost: the same request is sent again with its token and adopts the tasks, no duplicate',
    { timeout: 120_000 },
    async () => {
      // Every RunTask starts its tasks and never answers, until the fault is lifted: the SDK's
      // retries time out, and so does every later call of the same attempt.
      const { ecs, system, client } = await start(
        'choreography',
        { errors: { RunTask: { type: 'appliedLost', rate: 1 } } },
        { ECS_MAX_TASKS_PER_USE_CASE: '1', ECS_REQUEST_TIMEOUT_MS: '300' },
      );
      const ids = await orders(system, 5);
      await eventually(async () => (ecs.stats().appliedResponsesLost >= 6 ? true : undefined), {
        timeoutMs: 30_000,
        what: 'RunTask calls applied and their answers lost, more than one attempt of retries',
      });
      const reserveTasks = async () => (await tasksOf(client)).filter((t) => t.group === 'family:customer-reserve-credit');
      // However many calls were lost, one task at most (the configured maximum): never a second launch beside an orphan.
      expect((await reserveTasks()).length).toBe(1);
      ecs.setFaults({ errors: { RunTask: null } });
      // Sent again with its token, the attempt gets the task it started: recorded, watched, its share its own.
      const [attempt] = await eventually(
        async () => {
          const rows = await sql<{ status: string; task_arns: string[]; attempts: number }>(
            system,
            `select status, task_arns, attempts from customers.launch_attempts where use_case = ? order by created_at limit 1`,
            [RESERVE],
          );
          return rows[0]?.status === 'started' ? rows : undefined;
        },
        { timeoutMs: 30_000, what: 'the first attempt adopting its task' },
      );
      expect(attempt!.task_arns).toEqual([(await reserveTasks())[0]!.taskArn]);
      expect(attempt!.attempts).toBeGreaterThanOrEqual(2);
      await expectApproved(system, ids);
    },
  );

  it('a schema the observer cannot read does not keep it from the others', { timeout: 60_000 }, async () => {
    // No maintenance loops: the pass below is the only one.
    const { ecs, system } = await start('choreography', { startFailureRate: 1 }, {}, { jobs: false });
    await orders(system, 1, 1);
    await eventually(async () => (ecs.stats().tasksFailedToStart >= 1 ? true : undefined), {
      timeoutMs: 30_000,
      what: 'a task that failed to start',
    });
    // The first schema's query fails, as on a database that is down (a module may have its own, ADR 32).
    await sql(system, 'alter table ordering.launch_attempts rename to launch_attempts_away');
    try {
      expect(await launcherOf(system).observeLaunches(['ordering', 'customers'])).toEqual([RESERVE]);
    } finally {
      await sql(system, 'alter table ordering.launch_attempts_away rename to launch_attempts');
    }
  });

  it('two processes observing the same failed launch count it once', { timeout: 90_000 }, async () => {
    // No maintenance loops: the two passes below are the only ones, run at the same moment.
    const a = await start(
      'choreography',
      { startFailureRate: 1 },
      { ECS_START_FAILURES_BEFORE_DEAD_LETTER: '3', ECS_START_FAILING_BEFORE_DEAD_LETTER_MS: '0' },
      { jobs: false },
    );
    const b = await startTestSystem({
      databaseUrl: a.databaseUrl,
      jobs: false,
      consume: false,
      env: { ...ecsSystemEnv(a.ecs.url), ...SYSTEM_ENV },
    });
    try {
      await orders(a.system, 3);
      await eventually(async () => (a.ecs.stats().tasksFailedToStart >= 1 ? true : undefined), {
        timeoutMs: 30_000,
        what: 'a task that failed to start',
      });
      const launchers = [a.system, b].map(launcherOf);
      const described = a.ecs.stats().describeTasksCalls;
      const failed = await Promise.all(launchers.map((l) => l.observeLaunches(['customers'])));
      expect(failed.flat()).toEqual([RESERVE]);
      // One pass claimed the launch and described its task; the other found nothing to claim.
      expect(a.ecs.stats().describeTasksCalls - described).toBe(1);
      const [row] = await sql<{ start_failures: number; observed: number }>(
        a.system,
        `select start_failures, (select count(*)::int from customers.launch_attempts where observed_at is not null) as observed from customers.task_leases where use_case = ?`,
        [RESERVE],
      );
      expect(row).toEqual({ start_failures: 1, observed: 1 });
    } finally {
      await b.close();
    }
  });

  it(
    'a 5xx is retried by the SDK (ECS_SDK_MAX_ATTEMPTS calls) before the breaker counts one failed launch',
    { timeout: 90_000 },
    async () => {
      const { ecs, system } = await start('choreography', { errors: { RunTask: { type: 'ServerException', rate: 1 } } });
      const ids = await orders(system, 5);
      const launcher = launcherOf(system);
      await eventually(async () => (launcher.counters.launchFailures >= 1 ? true : undefined), {
        timeoutMs: 30_000,
        what: 'a failed launch',
      });
      ecs.setFaults({ errors: { RunTask: null } });
      // Three calls (the default ECS_SDK_MAX_ATTEMPTS) per launch that failed, all of them 500s.
      expect(ecs.stats().runTaskCalls).toBeGreaterThanOrEqual(3 * launcher.counters.launchFailures);
      expect(ecs.stats().injectedErrors).toBeGreaterThanOrEqual(3 * launcher.counters.launchFailures);
      await expectApproved(system, ids);
    },
  );

  it('a heartbeat closes the breaker only for a task launched after the failure (or run by hand)', { timeout: 60_000 }, async () => {
    const system = await startTestSystem({ consume: false, env: { LOG_LEVEL: 'silent' } });
    try {
      const db = system.runtime.modules.find((m) => m.db.schema === 'customers')!.db;
      const attempt = async (agoMs: number) => {
        const id = crypto.randomUUID();
        await db.exec(
          `insert into customers.launch_attempts (id, use_case, client_token, task_count, status, created_at) values (?, ?, ?, 1, 'started', now() - (? * interval '1 millisecond'))`,
          [id, RESERVE, id, agoMs],
        );
        return id;
      };
      const breaker = async () =>
        (
          await db.query<{ failures: number; start_failures: number; open: boolean; running: number }>(
            `select failures, start_failures, retry_at is not null as open, (select count(*)::int from customers.launch_attempts where running_at is not null) as running from customers.task_leases where use_case = ?`,
            [RESERVE],
          )
        )[0];
      await db.exec(
        `insert into customers.task_leases (use_case, tasks, expires_at, failures, start_failures, retry_at, failed_at, last_failure) values (?, 1, now(), 2, 2, now() + interval '1 minute', now() - interval '1 second', 'TaskFailedToStart: x')`,
        [RESERVE],
      );
      // A task launched a minute ago (an older revision, still running) proves nothing about today's launches.
      await heartbeatLease(db, RESERVE, 5_000, { attempt: await attempt(60_000), ownShare: true });
      expect(await breaker()).toEqual({ failures: 2, start_failures: 2, open: true, running: 1 });
      // The probe launched after the failure started: the cause is gone.
      await heartbeatLease(db, RESERVE, 5_000, { attempt: await attempt(0), ownShare: true });
      expect(await breaker()).toEqual({ failures: 0, start_failures: 0, open: false, running: 2 });
      // And an operator's run by hand (no launch attempt) closes it too.
      await db.exec(
        `update customers.task_leases set failures = 1, retry_at = now() + interval '1 minute', failed_at = now() where use_case = ?`,
        [RESERVE],
      );
      await heartbeatLease(db, RESERVE, 5_000, { attempt: null, ownShare: false });
      expect(await breaker()).toMatchObject({ failures: 0, open: false });
    } finally {
      await system.close();
    }
  });

  // Fargate's cold start (3 s here) outlasts the start timeout (1 s): each launch is overdue before its task runs.
  const LATE = { taskStartDelayMs: 3_000 };
  const LATE_ENV = { TASK_START_TIMEOUT_MS: '1000', ECS_SDK_MAX_ATTEMPTS: '2' };

  it('a task that does not start in time is stopped before it runs', { timeout: 60_000 }, async () => {
    const { ecs, system, client } = await start('choreography', LATE, LATE_ENV);
    await orders(system, 1, 1);
    await eventually(async () => (ecs.stats().stopTaskCalls >= 1 ? true : undefined), { timeoutMs: 20_000, what: 'a StopTask' });
    const stopped = (await tasksOf(client)).filter((t) => t.desiredStatus === 'STOPPED');
    expect(stopped.length).toBeGreaterThan(0);
    for (const t of stopped) {
      expect(t.stoppedReason).toMatch(/no heartbeat after the start timeout/);
      expect(t.startedAt).toBeUndefined();
    }
  });

  it(
    'a refused StopTask of a task that did not start in time is tried again: it never runs on a share already given back',
    { timeout: 60_000 },
    async () => {
      const { ecs, system } = await start(
        'choreography',
        { ...LATE, errors: { StopTask: { type: 'ThrottlingException', rate: 1 } } },
        LATE_ENV,
      );
      const ids = await orders(system, 1, 1);
      // The StopTask refused past the SDK's retries: the late task starts and heartbeats.
      const running = await eventually(
        async () => {
          const rows = await sql<{ id: string; live_tasks: number; observed: boolean }>(
            system,
            `select id, live_tasks, observed_at is not null as observed from customers.launch_attempts where use_case = ? and running_at is not null`,
            [RESERVE],
          );
          return rows[0];
        },
        { timeoutMs: 20_000, what: 'the late task running' },
      );
      expect(ecs.stats().injectedErrors).toBeGreaterThan(0);
      // Its launch still holds its share (a launch resolved as failed would have given it back and
      // counted a start failure, with the task running beside whatever launched next).
      expect(running.live_tasks).toBe(1);
      const [lease] = await sql<{ start_failures: number }>(system, `select start_failures from customers.task_leases where use_case = ?`, [
        RESERVE,
      ]);
      expect(lease?.start_failures).toBe(0);
      await expectApproved(system, ids);
    },
  );
});

function launcherOf(system: TestSystem): EcsTransport['launcher'] {
  const transport = system.runtime.transport;
  if (!(transport instanceof EcsTransport)) throw new Error(`expected the ECS transport, got ${transport.name}`);
  return transport.launcher;
}

async function expectDeadLettered(system: TestSystem, ecs: LocalEcs, ids: readonly string[], reason: RegExp): Promise<void> {
  await eventually(async () => ((await launchStats(system, RESERVE))?.counts.dead === ids.length ? true : undefined), {
    timeoutMs: 90_000,
    what: 'the deliveries dead-lettered',
  });
  const stats = await launchStats(system, RESERVE);
  expect(stats?.launch?.failures).toBeGreaterThanOrEqual(3);
  expect(stats?.launch?.lastFailure).toMatch(reason);
  const dead = (await system.app.inject({ method: 'GET', url: `/admin/dead-letters?useCase=${RESERVE}` })).json() as {
    items: Array<{ errorCode: string; error: string }>;
  };
  expect(dead.items).toHaveLength(ids.length);
  for (const item of dead.items) expect(item).toMatchObject({ errorCode: 'TASK_FAILED_TO_START', error: expect.stringMatching(reason) });
  // The failed launches only, never a storm: the breaker spaced them out.
  expect(ecs.stats().runTaskCalls).toBeLessThanOrEqual(6);
}

async function redrive(system: TestSystem): Promise<number> {
  const res = await system.app.inject({ method: 'POST', url: '/admin/dead-letters/redrive', payload: { useCase: RESERVE } });
  return (res.json() as { redriven: number }).redriven;
}
