import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { launchOf, suiteTaskPids } from '../harness/ecs.js';
import { request } from '../harness/http.js';
import { assertSettled, RecoveryClock } from '../harness/invariants.js';
import { count, withDatabase } from '../harness/sql.js';
import { emptyStats, OrderLoad, registerCustomers, summarizeStats } from '../harness/load.js';
import type { Scenario, ScenarioContext } from '../harness/scenario.js';
import type { SystemProcess } from '../harness/system-process.js';
import { assert, freePort, sleep, waitFor } from '../harness/util.js';

/** The task bundle entries of the ECS adapter (one per module), if it has landed in this tree. */
async function taskEntrypoints(projectRoot: string): Promise<string[]> {
  const root = join(projectRoot, 'src', 'entrypoints', 'tasks');
  try {
    const entries = await readdir(root, { recursive: true });
    return entries.filter((e) => e.endsWith('.tasks.ts'));
  } catch {
    return [];
  }
}

/**
 * How long until the killed task's share was released (its launch attempt recorded it stopped:
 * ADR 36), at most `timeoutMs`; the schema is the use case's module's (`customer.` → customers).
 */
async function releasedWithin(databaseUrl: string, launch: { attempt: string; useCase: string }, timeoutMs: number): Promise<number> {
  const schema = launch.useCase.startsWith('customer.') ? 'customers' : 'ordering';
  const started = Date.now();
  await waitFor(
    `the share of the killed ${launch.useCase} task released`,
    () =>
      withDatabase(databaseUrl, (client) =>
        count(client, `select count(*) from ${schema}.launch_attempts where id = $1 and cardinality(stopped_arns) > 0`, [launch.attempt]),
      ).then((n) => (n > 0 ? true : undefined)),
    { timeoutMs, intervalMs: 100 },
  );
  return Date.now() - started;
}

async function pendingDeliveries(databaseUrl: string): Promise<number> {
  return withDatabase(databaseUrl, (client) =>
    count(
      client,
      `select (select count(*) from customers.inbox where status = 'pending') + (select count(*) from ordering.inbox where status = 'pending')`,
    ),
  );
}

async function endpointStats(endpoint: SystemProcess): Promise<Record<string, number>> {
  const r = await request(endpoint.baseUrl, 'GET', '/_local/stats', { timeoutMs: 3_000 });
  return r.ok && r.response.status === 200 ? (r.response.json as Record<string, number>) : {};
}

type Phase = 'throttled' | 'refused' | 'healthy';
const PHASE_MIN_MS = 3_000;
const PHASES: Record<Phase, { throttleRate: number; failureRate: number }> = {
  throttled: { throttleRate: 1, failureRate: 0 },
  refused: { throttleRate: 0, failureRate: 1 },
  healthy: { throttleRate: 0, failureRate: 0 },
};

/** Sets the local endpoint's injected faults; false when it does not answer (being restarted). */
async function setFaults(endpoint: SystemProcess, faults: { throttleRate: number; failureRate: number }): Promise<boolean> {
  const r = await request(endpoint.baseUrl, 'POST', '/_local/faults', { body: faults, timeoutMs: 3_000 });
  return r.ok && r.response.status === 200;
}

function add(total: Record<string, number>, part: Record<string, number>): void {
  for (const [k, v] of Object.entries(part)) if (typeof v === 'number' && k !== 'tasksRunning') total[k] = (total[k] ?? 0) + v;
}

type EcsFault = 'kill-task' | 'restart-endpoint';

/**
 * The production transport end to end: the dev server's relay launches ECS tasks through the
 * real AWS SDK on the project's local ECS endpoint, which runs each use case's task entrypoint
 * as its own process. Faults: RunTask throttled and answered with failures[], task processes
 * killed (SIGKILL) mid-batch, and the endpoint itself killed and restarted.
 */
export const ecsAdapter: Scenario = {
  id: 'ecs-adapter',
  number: 4,
  title: 'ECS adapter: throttling, failures[], a task killed mid-batch, the endpoint restarted',
  async skipReason({ projectRoot }) {
    const tasks = await taskEntrypoints(projectRoot);
    return tasks.length === 0
      ? 'the ECS adapter has not landed: src/entrypoints/tasks/ has no task bundle entries (*.tasks.ts)'
      : undefined;
  },
  async run(ctx: ScenarioContext) {
    const orders = ctx.quick ? 100 : 600;
    const customersCount = ctx.quick ? 15 : 40;
    const concurrency = 8;
    const faults: EcsFault[] = ctx.quick
      ? ['kill-task', 'restart-endpoint']
      : ['kill-task', 'kill-task', 'restart-endpoint', 'kill-task', 'restart-endpoint'];
    const leaseTtlMs = 3_000;
    const taskCwd = join(ctx.projectRoot, 'test', 'reliability');
    const style = 'choreography';

    // Settings the dev server (relay, sweeper) and every task share.
    const shared: Record<string, string> = {
      SAGA_STYLE: style,
      EVENT_BUS: 'ecs',
      ECS_CLUSTER: 'local',
      // The task definitions are Fargate/awsvpc: RunTask needs subnets, here as on AWS.
      ECS_LAUNCH_TYPE: 'FARGATE',
      ECS_SUBNETS: 'subnet-local',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'reliability',
      AWS_SECRET_ACCESS_KEY: 'reliability',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      LEASE_TTL_MS: String(leaseTtlMs),
      TASK_IDLE_GRACE_MS: '500',
      ECS_RETRY_BASE_MS: '50',
      ORDER_DEADLINE_MS: '120000',
      LOG_LEVEL: 'warn',
    };
    const endpointPort = await freePort();
    const endpointUrl = `http://127.0.0.1:${endpointPort}`;
    const { system, databaseUrl, env } = await ctx.createSystem({ ...shared, AWS_ENDPOINT_URL_ECS: endpointUrl });
    const endpoint = await ctx.createProcess({
      name: 'ecs-local',
      entry: join(ctx.distDir, 'dev', 'cli', 'ecs-local.js'),
      port: endpointPort,
      readyPath: '/_local/health',
      env: {
        ...env,
        ECS_LOCAL_HOST: '127.0.0.1',
        ECS_LOCAL_PORT: String(endpointPort),
        ECS_LOCAL_TASK_DEFINITIONS_DIR: join(ctx.projectRoot, 'deploy', 'ecs'),
        // Task definitions run `node dist/tasks/...`: from here, that is the suite's own build.
        ECS_LOCAL_PROJECT_ROOT: taskCwd,
        ECS_LOCAL_TASK_LOG_DIR: join(ctx.workDir, 'tasks'),
        ECS_LOCAL_STOP_TIMEOUT_MS: '5000',
        ECS_LOCAL_THROTTLE_RATE: String(PHASES.throttled.throttleRate),
        ECS_LOCAL_FAILURE_RATE: String(PHASES.throttled.failureRate),
      },
    });
    await endpoint.start();
    await system.start();

    const customers = await registerCustomers(system.baseUrl, customersCount, ctx.random, emptyStats());
    const load = new OrderLoad({
      baseUrl: system.baseUrl,
      customers,
      orders,
      concurrency,
      random: ctx.random,
      cancelShare: 0.1,
      unknownCustomerShare: 0.01,
      otherCurrencyShare: 0.01,
      requestTimeoutMs: 10_000,
      maxDurationMs: ctx.quick ? 120_000 : 300_000,
      keyPrefix: `ecs-${ctx.seed}`,
      ratePerSecond: ctx.quick ? 10 : 15,
    });
    const loadStarted = Date.now();
    const loadDone = load.start();
    const stats: Record<string, number> = {};
    const records: Array<Record<string, unknown>> = [];

    // The ECS API misbehaves first: every RunTask throttled, then every RunTask refused with
    // failures[] (no capacity), each for 3 s and 3 calls at least; then it recovers. No task can start
    // meanwhile, so the backlog waits in PostgreSQL. Tasks and the endpoint are killed later on.
    let phase = 'throttled' as Phase;
    let phaseStarted = Date.now();
    let watching = true;
    const watcher = (async () => {
      for (let i = 0; watching && phase !== 'healthy' && i < 6_000; i++) {
        const now = { ...stats };
        add(now, await endpointStats(endpoint).catch(() => ({})));
        const long = Date.now() - phaseStarted >= PHASE_MIN_MS;
        const next: Phase | undefined =
          phase === 'throttled' && long && (now['runTaskThrottled'] ?? 0) >= 3
            ? 'refused'
            : phase === 'refused' && long && (now['runTaskFailures'] ?? 0) >= 3
              ? 'healthy'
              : undefined;
        if (next && (await setFaults(endpoint, PHASES[next]))) {
          phase = next;
          phaseStarted = Date.now();
          ctx.log(`RunTask ${next}`, {
            throttled: now['runTaskThrottled'],
            failures: now['runTaskFailures'],
            atAccepted: load.acceptedCount,
          });
        }
        await sleep(50);
      }
    })();

    const clock = new RecoveryClock(databaseUrl);
    try {
      for (const [index, fault] of faults.entries()) {
        await load.waitForAccepted(Math.floor((orders * (index + 1)) / (faults.length + 2)));
        const atAccepted = load.acceptedCount;
        if (fault === 'kill-task') {
          // Mid-batch: a task runs and deliveries wait.
          // A task may exit (drained) between being listed and being killed: then another is picked
          // (a kill of a process that is gone, ESRCH, is not a fault injected).
          let pids: number[] = [];
          let launch: { attempt: string; useCase: string } | undefined;
          let seen: Record<string, number> = {};
          const victim = await waitFor(
            'a running task with deliveries pending, killed',
            async () => {
              pids = await suiteTaskPids(taskCwd);
              seen = { pids: pids.length, pending: await pendingDeliveries(databaseUrl), accepted: load.acceptedCount };
              if (seen.pids === 0 || seen.pending === 0) return undefined;
              const pid = ctx.random.pick(pids);
              launch = await launchOf(pid);
              try {
                process.kill(pid, 'SIGKILL');
                return pid;
              } catch (error) {
                if ((error as NodeJS.ErrnoException).code === 'ESRCH') return undefined;
                throw error;
              }
            },
            { timeoutMs: 20_000, intervalMs: 20 },
          ).catch((error: unknown) => {
            throw new Error(`${String(error)} (last seen: ${JSON.stringify(seen)})`);
          });
          // Its own share, released as soon as the maintenance pass sees it stopped, whatever its
          // siblings do: within 10 s, far below a lease period plus the start timeout.
          const releasedMs = launch ? await releasedWithin(databaseUrl, launch, 10_000) : undefined;
          records.push({ fault, atAccepted, runningTasks: pids.length, ...launch, releasedMs });
          ctx.log('task killed', { pid: victim, runningTasks: pids.length, atAccepted, ...launch, releasedMs });
        } else {
          add(stats, await endpointStats(endpoint));
          await endpoint.kill();
          const down = 2_000;
          await sleep(down);
          await endpoint.start();
          assert(await setFaults(endpoint, PHASES[phase]), 'could not set the faults of the restarted endpoint');
          records.push({ fault, atAccepted, downMs: down });
          ctx.log('endpoint killed and restarted', { atAccepted });
        }
        clock.faultEnded(load.acceptedIds());
      }
      await loadDone;
    } finally {
      watching = false;
      await watcher;
    }
    const loadEndedAt = Date.now();
    const invariants = await assertSettled({
      databaseUrl,
      intended: load.intended,
      knownCustomers: new Set(customers.map((c) => c.id)),
      allowTimeouts: false,
      timeoutMs: 90_000,
    });
    const recoveries = await clock.all();
    add(stats, await endpointStats(endpoint));
    assert(load.stats.unexpected.length === 0, `unexpected answers: ${load.stats.unexpected.slice(0, 5).join('; ')}`);
    assert(system.unexpectedExits.length === 0, `the dev server exited by itself: ${JSON.stringify(system.unexpectedExits)}`);
    assert(
      phase === 'healthy' && (stats['runTaskThrottled'] ?? 0) >= 3 && (stats['runTaskFailures'] ?? 0) >= 3,
      `RunTask was not both throttled and refused: ${JSON.stringify(stats)}`,
    );
    const messages = invariants.report.summary;
    // Orphans of the killed endpoint finish their batch and exit on their own.
    await waitFor('the tasks to exit once idle', async () => ((await suiteTaskPids(taskCwd)).length === 0 ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 200,
    });

    return {
      load: `${orders} orders (10% cancelled once approved) at up to ${ctx.quick ? 10 : 15}/s from ${concurrency} concurrent clients across ${customersCount} customers; ${style}; every use case run as an ECS task (one OS process per task) launched through the AWS SDK on the local endpoint`,
      faults: `every RunTask throttled (ThrottlingException), then every RunTask answered 200 with failures[] (RESOURCE:MEMORY / no capacity), each for 3 s (and 3 calls) at least; ${faults.filter((f) => f === 'kill-task').length} running task process(es) SIGKILLed mid-batch; the endpoint SIGKILLed and restarted ${faults.filter((f) => f === 'restart-endpoint').length}x (2 s down)`,
      lost: 0,
      recoveryMs: Math.max(...recoveries),
      invariants,
      figures: {
        faults: records.map((r, i) => ({ ...r, recoveryMs: recoveries[i] })),
        endpoint: stats,
        loadMs: loadEndedAt - loadStarted,
        settleAfterLoadMs: invariants.settleMs,
        cancelled: load.intended.filter((o) => o.cancelConfirmed).length,
        http: summarizeStats(load.stats),
        ordersByStatus: invariants.ordersByStatus,
        rejectionReasons: invariants.rejectionReasons,
        consistency: messages,
      },
    };
  },
};
