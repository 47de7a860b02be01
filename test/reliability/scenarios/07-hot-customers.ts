import { join } from 'node:path';
import { combinedSummary, type ConsistencyReport } from '../../../src/dev/cli/consistency/consistency-checks.js';
import { loadConfig, maxEcsTasks, taskConnections } from '../../../src/shared/infrastructure/config/config.js';
import { creditLimitFor, expectedOutcome, runHotBurst, type BurstReport, type Post } from '../../support/hot-burst.js';
import { problemCode, request } from '../harness/http.js';
import { assertSettled, type SettleResult } from '../harness/invariants.js';
import { emptyStats, record, registerCustomers, summarizeStats, type IntendedOrder } from '../harness/load.js';
import type { Scenario, ScenarioContext } from '../harness/scenario.js';
import { count, withDatabase } from '../harness/sql.js';
import type { SystemProcess } from '../harness/system-process.js';
import { assert, freePort, sleep, waitFor } from '../harness/util.js';

/** Issue 17's burst, as the e2e test runs it in-process: here over real HTTP against the dev server as a child process. */
const CUSTOMERS = 40;
const ORDERS = 1_500;
const CLIENTS = 10;
const AMOUNT = 50;
const BUDGET = 50;
/** Every order must be decided within this from the first POST (the burst takes a fraction of it). */
const DECIDE_TIMEOUT_MS = 150_000;

/**
 * Both modules live in one database: the long-lived process holds one pool of 5 there (ADR 32), a
 * task TASK_CONCURRENCY 2 + 1 + 1 LISTEN = 4: (50 − 5) / 4 = 11 tasks, scale-out included. ECS_SCALE_OUT_BACKLOG is low so that the burst does
 * scale out and the budget, not the backlog, is what bounds the tasks.
 */
const BUDGET_ENV: Record<string, string> = {
  DB_POOL_SIZE: '5',
  DB_CONNECTION_BUDGET: String(BUDGET),
  DB_LONG_LIVED_PROCESSES: '1',
  TASK_CONCURRENCY: '2',
  ECS_SCALE_OUT_BACKLOG: '10',
  // The production deadline (not the suite's longer one): backpressure then acts at its production
  // threshold (30 s of lag), and an order that would have ended by TIMEOUT there fails here.
  ORDER_DEADLINE_MS: '60000',
};

type Transport = 'bullmq' | 'ecs';
type Style = 'choreography' | 'orchestration';

interface Run {
  readonly transport: Transport;
  readonly style: Style;
}

interface RunResult {
  readonly run: Run;
  readonly report: BurstReport;
  readonly invariants: SettleResult;
  readonly deadlocks: number;
  readonly figures: Record<string, unknown>;
}

/** Samples the local endpoint's running tasks while the burst runs. */
function sampleRunningTasks(endpoint: SystemProcess): { stop: () => Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const r = await request(endpoint.baseUrl, 'GET', '/_local/stats', { timeoutMs: 3_000 });
      if (r.ok && r.response.status === 200) peak = Math.max(peak, (r.response.json as { tasksRunning?: number }).tasksRunning ?? 0);
      await sleep(250);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return peak;
    },
  };
}

async function endpointStats(endpoint: SystemProcess): Promise<Record<string, number>> {
  const r = await request(endpoint.baseUrl, 'GET', '/_local/stats', { timeoutMs: 3_000 });
  return r.ok && r.response.status === 200 ? (r.response.json as Record<string, number>) : {};
}

async function burstOn(ctx: ScenarioContext, run: Run): Promise<RunResult> {
  const { transport, style } = run;
  const label = `${transport}/${style}`;
  const ecs = transport === 'ecs';
  const endpointPort = ecs ? await freePort() : 0;
  const ecsEnv: Record<string, string> = ecs
    ? {
        EVENT_BUS: 'ecs',
        ECS_CLUSTER: 'local',
        // The task definitions are Fargate/awsvpc: RunTask needs subnets, here as on AWS.
        ECS_LAUNCH_TYPE: 'FARGATE',
        ECS_SUBNETS: 'subnet-local',
        AWS_ENDPOINT_URL_ECS: `http://127.0.0.1:${endpointPort}`,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'reliability',
        AWS_SECRET_ACCESS_KEY: 'reliability',
        LEASE_TTL_MS: '5000',
        TASK_IDLE_GRACE_MS: '500',
        ECS_RETRY_BASE_MS: '50',
      }
    : { EVENT_BUS: 'bullmq' };
  const { system, databaseUrl, env } = await ctx.createSystem({ SAGA_STYLE: style, ...BUDGET_ENV, ...ecsEnv });
  const config = loadConfig(env);
  // The system's own ceiling: its modules in one database (the dev server's DATABASE_URL).
  const maxTasks = maxEcsTasks(config, 1);

  let endpoint: SystemProcess | undefined;
  if (ecs) {
    endpoint = await ctx.createProcess({
      name: `ecs-local-${style}`,
      entry: join(ctx.distDir, 'dev', 'cli', 'ecs-local.js'),
      port: endpointPort,
      readyPath: '/_local/health',
      env: {
        // Tasks inherit the endpoint's environment: the same database, budget and settings as the system.
        ...env,
        ECS_LOCAL_HOST: '127.0.0.1',
        ECS_LOCAL_PORT: String(endpointPort),
        ECS_LOCAL_TASK_DEFINITIONS_DIR: join(ctx.projectRoot, 'deploy', 'ecs'),
        // Task definitions run `node dist/tasks/...`: from here, that is the suite's own build.
        ECS_LOCAL_PROJECT_ROOT: join(ctx.projectRoot, 'test', 'reliability'),
        ECS_LOCAL_TASK_LOG_DIR: join(ctx.workDir, `tasks-${style}`),
        ECS_LOCAL_STOP_TIMEOUT_MS: '5000',
      },
    });
    await endpoint.start();
  }
  await system.start();

  const limit = creditLimitFor(CUSTOMERS, ORDERS, AMOUNT);
  const customers = await registerCustomers(system.baseUrl, CUSTOMERS, ctx.random, emptyStats(), limit);

  // The clients' view of every order, for the same client-side invariants as the load of the other scenarios.
  const intended = new Map<string, IntendedOrder>();
  const stats = emptyStats();
  const refusals: Record<string, number> = {};
  let refusalsWithoutRetryAfter = 0;
  const post: Post = async (url, payload, headers) => {
    const key = headers['idempotency-key'] ?? '';
    const body = payload as { customerId: string; total: { amount: number; currency: string } };
    let order = intended.get(key);
    if (!order) {
      order = {
        key,
        customerId: body.customerId,
        amount: body.total.amount,
        currency: body.total.currency,
        cancelSent: false,
        cancelConfirmed: false,
      };
      intended.set(key, order);
    }
    const attempt = await request(system.baseUrl, 'POST', url, { body: payload, headers, timeoutMs: 30_000 });
    record(stats, attempt);
    // No fault is injected: a request without an answer is a failure, not something to retry.
    if (!attempt.ok)
      throw new Error(`POST ${url} got no answer (${attempt.timedOut ? 'timed out' : attempt.error}) after ${attempt.ms} ms`);
    const res = attempt.response;
    if (res.status === 202) order.orderId = (res.json as { id: string }).id;
    if (res.status === 503) {
      const code = problemCode(res) ?? '(none)';
      refusals[code] = (refusals[code] ?? 0) + 1;
      if (!res.headers.get('retry-after')) refusalsWithoutRetryAfter++;
    }
    return { status: res.status, headers: Object.fromEntries(res.headers.entries()), body: res.json };
  };

  ctx.log(`burst on ${label}`, {
    orders: ORDERS,
    clients: CLIENTS,
    customers: CUSTOMERS,
    creditLimit: limit,
    budget: BUDGET,
    ...(ecs ? { maxTasks } : {}),
  });
  const tasks = endpoint ? sampleRunningTasks(endpoint) : undefined;
  let report: BurstReport;
  let peakProcesses: number;
  try {
    report = await runHotBurst({
      post,
      databaseUrl,
      customerIds: customers.map((c) => c.id),
      orders: ORDERS,
      clients: CLIENTS,
      amount: AMOUNT,
      timeoutMs: DECIDE_TIMEOUT_MS,
    });
  } finally {
    peakProcesses = (await tasks?.stop()) ?? 0;
  }
  ctx.log(`burst on ${label} decided`, { ...report, ...(ecs ? { peakProcesses } : {}) });

  const invariants = await assertSettled({
    databaseUrl,
    intended: [...intended.values()],
    knownCustomers: new Set(customers.map((c) => c.id)),
    allowTimeouts: false,
    timeoutMs: 30_000,
  });

  // Stop everything before reading the deadlocks: a backend reports its counters by the time it exits.
  await system.stop(30_000);
  let endpointFigures: Record<string, number> = {};
  if (endpoint) {
    const stopped = endpoint;
    await waitFor('the tasks to exit once idle', async () => ((await endpointStats(stopped)).tasksRunning === 0 ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    endpointFigures = await endpointStats(endpoint);
    await endpoint.stop(15_000);
  }
  const deadlocks = await withDatabase(databaseUrl, (client) =>
    count(client, 'select deadlocks from pg_stat_database where datname = current_database()'),
  );

  const { approved, rejected } = expectedOutcome(CUSTOMERS, ORDERS);
  const expected = { APPROVED: approved, 'REJECTED:CREDIT_LIMIT_EXCEEDED': rejected };
  assert(report.accepted === ORDERS, `${label}: ${report.accepted} of ${ORDERS} orders accepted`);
  assert((report.statuses['REJECTED:TIMEOUT'] ?? 0) === 0, `${label}: ${report.statuses['REJECTED:TIMEOUT']} orders REJECTED with TIMEOUT`);
  assert(
    JSON.stringify(Object.entries(report.statuses).sort()) === JSON.stringify(Object.entries(expected).sort()),
    `${label}: orders ended ${JSON.stringify(report.statuses)}, expected ${JSON.stringify(expected)}`,
  );
  assert(deadlocks === 0, `${label}: PostgreSQL counted ${deadlocks} deadlock(s) in the scenario's database`);
  assert(
    report.peakConnections <= BUDGET,
    `${label}: the system held ${report.peakConnections} connections at its peak, over DB_CONNECTION_BUDGET ${BUDGET}`,
  );
  const otherRefusals = Object.entries(refusals).filter(([code]) => code !== 'OVERLOADED');
  assert(otherRefusals.length === 0, `${label}: 503 answers other than OVERLOADED: ${JSON.stringify(refusals)}`);
  assert(refusalsWithoutRetryAfter === 0, `${label}: ${refusalsWithoutRetryAfter} 503 OVERLOADED answers without Retry-After`);
  assert(system.unexpectedExits.length === 0, `${label}: the dev server exited by itself: ${JSON.stringify(system.unexpectedExits)}`);
  if (endpoint) {
    assert(
      endpoint.unexpectedExits.length === 0,
      `${label}: the ECS endpoint exited by itself: ${JSON.stringify(endpoint.unexpectedExits)}`,
    );
    assert(
      (endpointFigures['tasksExitedNonZero'] ?? 0) === 0,
      `${label}: ${endpointFigures['tasksExitedNonZero']} task(s) exited non-zero`,
    );
    // Tasks holding connections, as the budget counts them: a task that gave its share back has
    // closed every connection first, though its process may still be exiting (peakProcesses counts those).
    assert(report.peakTasks > 0, `${label}: no task's connections were ever seen (are they named saga-task:<use case>#<task>?)`);
    assert(
      report.peakTasks <= maxTasks,
      `${label}: ${report.peakTasks} tasks held connections at once, over the ${maxTasks} the budget allows`,
    );
  }

  return {
    run,
    report,
    invariants,
    deadlocks,
    figures: {
      transport,
      style,
      accepted: report.accepted,
      decideMs: report.decideMs,
      placeMs: report.placeMs,
      drainAfterLastOrderMs: report.decideMs - report.placeMs,
      ordersPerSecond: report.ordersPerSecond,
      statuses: report.statuses,
      peakConnections: report.peakConnections,
      peakAllConnections: report.peakAllConnections,
      budget: BUDGET,
      overloaded503: report.overloaded,
      refusals,
      deadlocks,
      ...(ecs
        ? {
            maxTasks,
            connectionsPerTask: taskConnections(config),
            peakTasksRunning: peakProcesses,
            peakTasksConnected: report.peakTasks,
            tasksStarted: endpointFigures['tasksStarted'] ?? 0,
            runTaskCalls: endpointFigures['runTaskCalls'] ?? 0,
            tasksExitedNonZero: endpointFigures['tasksExitedNonZero'] ?? 0,
          }
        : {}),
      http: summarizeStats(stats),
      consistency: invariants.report.summary,
    },
  };
}

function sum(records: ReadonlyArray<Record<string, number>>): Record<string, number> {
  const total: Record<string, number> = {};
  for (const r of records) for (const [k, v] of Object.entries(r)) total[k] = (total[k] ?? 0) + v;
  return total;
}

/** One view of the runs' invariants for the suite's summary (each run was asserted on its own). */
function combined(results: readonly RunResult[]): SettleResult {
  const reports = results.map((r) => r.invariants.report);
  const last = reports.at(-1)!;
  const report: ConsistencyReport = {
    ...last,
    ok: reports.every((r) => r.ok),
    summary: combinedSummary(reports.map((r) => r.summary)),
  };
  return {
    settleMs: Math.max(...results.map((r) => r.invariants.settleMs)),
    ordersByStatus: sum(results.map((r) => r.invariants.ordersByStatus)),
    rejectionReasons: sum(results.map((r) => r.invariants.rejectionReasons)),
    deadLetters: results.reduce((n, r) => n + r.invariants.deadLetters, 0),
    report,
  };
}

/**
 * Issue 17's hot-customer burst: 1,500 orders from 10 clients, as fast as they are answered, on
 * 40 customers, each with credit for all its orders but (for half of them) the last one, so every
 * customer's credit is contended by up to ten transactions at once. No fault is injected: the
 * system must serialize each customer without deadlocking, keep its connections within
 * DB_CONNECTION_BUDGET (ECS tasks included), decide every order before its deadline, and push
 * back with 503 OVERLOADED rather than accept orders it would time out.
 */
export const hotCustomers: Scenario = {
  id: 'hot-customers',
  number: 7,
  title: 'Hot customers: a burst of orders on a few customers, within a connection budget',
  async run(ctx) {
    const runs: Run[] = ctx.quick
      ? [
          { transport: 'ecs', style: 'choreography' },
          { transport: 'bullmq', style: 'choreography' },
        ]
      : [
          { transport: 'ecs', style: 'choreography' },
          { transport: 'ecs', style: 'orchestration' },
          { transport: 'bullmq', style: 'choreography' },
          { transport: 'bullmq', style: 'orchestration' },
        ];
    const results: RunResult[] = [];
    for (const run of runs) results.push(await burstOn(ctx, run));

    const { approved, rejected } = expectedOutcome(CUSTOMERS, ORDERS);
    return {
      load: `per run: ${ORDERS} orders of ${AMOUNT} cents from ${CLIENTS} clients as fast as answered (503 OVERLOADED waited out as Retry-After says, at most 1 s), on ${CUSTOMERS} customers whose credit fits all their orders but one for ${rejected} of them (expected: ${approved} APPROVED, ${rejected} REJECTED); runs: ${runs.map((r) => `${r.transport} ${r.style}`).join(', ')}; DB_CONNECTION_BUDGET ${BUDGET}, DB_POOL_SIZE 5, TASK_CONCURRENCY 2, ECS_SCALE_OUT_BACKLOG 10, ORDER_DEADLINE_MS 60000`,
      faults: 'none: the burst itself (up to 10 transactions wanting one customer at once)',
      lost: 0,
      // No fault to recover from: the longest time from the last order accepted until every order was decided.
      recoveryMs: Math.max(...results.map((r) => r.report.decideMs - r.report.placeMs)),
      invariants: combined(results),
      figures: { runs: results.map((r) => r.figures) },
    };
  },
};
