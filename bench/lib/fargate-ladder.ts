import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DescribeTasksCommand, ECSClient, ListTasksCommand, type Task } from '@aws-sdk/client-ecs';
import pg from 'pg';
import { profileFaults, seededRandom } from '../../src/dev/ecs-local/faults.js';
import { startLocalEcs, silentEcsLocalLogger, type LocalEcs } from '../../src/dev/ecs-local/index.js';
import type { BenchDatabases } from './databases.js';
import { HttpClient } from './http-client.js';
import { registerCustomers } from './load.js';
import { percentile, round, sleep } from './stats.js';
import { freePort, startSystem } from './system-process.js';

/**
 * The Fargate-time cost ladder (issue 11): the ECS adapter against the local endpoint's `fargate`
 * profile, everything TIME_SCALE times faster than on AWS (the endpoint's cold starts and every
 * time-based ECS setting of the system alike), at a few order rates. After each window it waits
 * until the sagas are decided and every task has stopped, then reads the tasks from the endpoint
 * (ListTasks, DescribeTasks) and reports what Fargate would bill, in Fargate time. bench/cost/
 * turns these figures into monthly costs (docs/cost.md).
 */

export type Style = 'choreography' | 'orchestration';

export const TIME_SCALE = 10;
const scaled = (awsMs: number): number => Math.round(awsMs / TIME_SCALE);

/** The ECS transport's production defaults (config.ts, docs/ecs.md) divided by TIME_SCALE, as in the ECS reliability scenario. */
export const SCALED_ECS_SETTINGS: Readonly<Record<string, string>> = {
  LEASE_TTL_MS: String(scaled(60_000)),
  TASK_IDLE_GRACE_MS: String(scaled(45_000)),
  TASK_START_TIMEOUT_MS: String(scaled(180_000)),
  TASK_MAX_RUNTIME_MS: String(scaled(600_000)),
  ECS_RETRY_BASE_MS: String(scaled(1_000)),
  ECS_RETRY_MAX_MS: String(scaled(300_000)),
  ECS_REQUEST_TIMEOUT_MS: String(scaled(5_000)),
  ECS_CONNECT_TIMEOUT_MS: String(scaled(3_000)),
  SWEEP_INTERVAL_MS: String(scaled(1_000)),
  REDELIVERY_AFTER_MS: String(scaled(15_000)),
  RELAY_POLL_MS: String(scaled(1_000)),
  ORDER_DEADLINE_MS: String(scaled(300_000)),
};

/** Fargate's minimum charge per task. */
const MINIMUM_BILLED_SEC = 60;
const CLUSTER = 'bench';
const CUSTOMERS = 50;
const ORDER_AMOUNT = 100;

export interface FargateLadderPoint {
  readonly ordersPerHour: number;
  readonly style: Style;
  readonly windowSec: number;
  readonly sagas: number;
  /** Deliveries to a use case (inbox rows) of the point's sagas. */
  readonly messages: number;
  readonly deliveriesByUseCase: Record<string, number>;
  readonly runTaskCalls: number;
  readonly tasksLaunched: number;
  readonly tasksByUseCase: Record<string, number>;
  /** Σ createdAt → stoppedAt of the point's tasks, × timeScale. */
  readonly taskSeconds: number;
  /** Σ max(60, ceil(task seconds)) per task: what Fargate bills. */
  readonly billedTaskSeconds: number;
  readonly taskSecondsPerSaga: number;
  readonly billedTaskMinutesPer1000Sagas: number;
  /** created_at → decided_at of the point's orders, × timeScale. */
  readonly latencyMs: { readonly p50: number; readonly p99: number };
  readonly arrivals: 'poisson';
}

/** `ecs.fargate` of bench/results/latest.json (validated by bench/cost/measured.ts); durations in Fargate time. */
export interface FargateResults {
  readonly profile: 'fargate';
  readonly timeScale: number;
  readonly startDelayMs: { readonly min: number; readonly max: number };
  readonly idleGraceMs: number;
  readonly taskMaxRuntimeMs: number;
  readonly taskCpuUnits: number;
  readonly taskMemoryMiB: number;
  /** When and by which command the ladder was measured (it may be merged into an older results file). */
  readonly generatedAt: string;
  readonly command: string;
  readonly mode: 'quick' | 'full';
  readonly ladder: readonly FargateLadderPoint[];
}

export interface LadderPlan {
  /** Orders per hour in Fargate time, per style. */
  readonly ordersPerHour: readonly number[];
  /** Each point's window in real time (its Fargate-time length is TIME_SCALE times more). */
  readonly windowMs: number;
}

export const LADDER_PLANS: Readonly<Record<'quick' | 'full', LadderPlan>> = {
  full: { ordersPerHour: [60, 600, 7_200], windowMs: 40_000 },
  quick: { ordersPerHour: [600], windowMs: 6_000 },
};

export interface LadderContext {
  readonly root: string;
  readonly dist: string;
  readonly databases: BenchDatabases;
  readonly redisUrl: string;
  readonly workDir: string;
  readonly taskDefinitionsDir: string;
  /** What production requires of a process on ECS (cluster, subnets, launch type, pinned revisions). */
  readonly productionSettings: Readonly<Record<string, string>>;
  /** The callers' credentials: the system's AUTH_* settings and the header every request carries. */
  readonly auth: { readonly env: Readonly<Record<string, string>>; readonly headers: Readonly<Record<string, string>> };
  readonly runId: string;
  readonly seed: number;
  /** Registers a Redis prefix for the bench's cleanup. */
  readonly usePrefix: (prefix: string) => void;
  readonly log: (message: string) => void;
}

/** The CPU units and memory of the task definitions (they are the same for every family; the largest if not). */
async function taskSize(dir: string, families: readonly string[]): Promise<{ cpuUnits: number; memoryMiB: number }> {
  const sizes = await Promise.all(
    families.map(async (f) => {
      const definition = JSON.parse(await readFile(join(dir, `${f}.json`), 'utf8')) as { cpu?: string; memory?: string };
      return { cpuUnits: Number(definition.cpu), memoryMiB: Number(definition.memory) };
    }),
  );
  const valid = sizes.filter((s) => s.cpuUnits > 0 && s.memoryMiB > 0);
  if (valid.length === 0) throw new Error(`no task definition in ${dir} gives cpu and memory`);
  return { cpuUnits: Math.max(...valid.map((s) => s.cpuUnits)), memoryMiB: Math.max(...valid.map((s) => s.memoryMiB)) };
}

/** Real-time instants (ms from the window's start) of Poisson arrivals at `perHour` in Fargate time. */
export function poissonArrivals(perHour: number, windowMs: number, timeScale: number, random: () => number): number[] {
  const meanGapMs = 3_600_000 / (perHour * timeScale);
  const out: number[] = [];
  for (let t = -Math.log(1 - random()) * meanGapMs; t < windowMs; t += -Math.log(1 - random()) * meanGapMs) out.push(t);
  return out;
}

async function stoppedTasks(client: ECSClient): Promise<Task[]> {
  const arns: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(new ListTasksCommand({ cluster: CLUSTER, desiredStatus: 'STOPPED', maxResults: 100, nextToken }));
    arns.push(...(page.taskArns ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  const tasks: Task[] = [];
  for (let i = 0; i < arns.length; i += 100) {
    const page = await client.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: arns.slice(i, i + 100), include: ['TAGS'] }));
    tasks.push(...(page.tasks ?? []));
  }
  return tasks;
}

function useCaseOf(task: Task): string {
  const tag = task.tags?.find((t) => t.key === 'use-case')?.value;
  return tag ?? /task-definition\/([^:]+)/.exec(task.taskDefinitionArn ?? '')?.[1] ?? 'unknown';
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs / 1000} s`);
    await sleep(200);
  }
}

interface StyleRun {
  readonly http: HttpClient;
  readonly db: pg.Pool;
  readonly ecs: LocalEcs;
  readonly client: ECSClient;
  readonly customers: readonly string[];
}

/** One point: Poisson orders over the window, then the sagas decided and every task stopped, then the bill. */
async function runPoint(
  run: StyleRun,
  ctx: LadderContext,
  style: Style,
  ordersPerHour: number,
  plan: LadderPlan,
): Promise<FargateLadderPoint> {
  const statsBefore = run.ecs.stats();
  const from = Date.now();
  const arrivals = poissonArrivals(
    ordersPerHour,
    plan.windowMs,
    TIME_SCALE,
    seededRandom(ctx.seed * 1_000_003 + ordersPerHour * 2 + (style === 'orchestration' ? 1 : 0)),
  );
  const ids: string[] = [];
  const posts: Promise<void>[] = [];
  for (const [i, at] of arrivals.entries()) {
    const wait = from + at - Date.now();
    if (wait >= 1) await sleep(wait);
    const customerId = run.customers[i % run.customers.length]!;
    posts.push(
      run.http.send('POST', '/orders', { customerId, total: { amount: ORDER_AMOUNT, currency: 'USD' } }).then((res) => {
        if (res.status !== 202) throw new Error(`POST /orders: ${res.status} ${JSON.stringify(res.body)}`);
        ids.push((res.body as { id: string }).id);
      }),
    );
  }
  await Promise.all(posts);
  await sleep(Math.max(0, from + plan.windowMs - Date.now()));
  const deadlineMs = Number(SCALED_ECS_SETTINGS['ORDER_DEADLINE_MS']);
  await waitFor('the sagas were not decided', deadlineMs * 3, async () => {
    const { rows } = await run.db.query<{ n: string }>(
      `select count(*) as n from ordering.orders where id = any($1::uuid[]) and status = 'PENDING'`,
      [ids],
    );
    return Number(rows[0]?.n ?? 0) === 0;
  });
  // A task stops after its idle grace; one just launched first waits for its cold start.
  await waitFor(
    'the tasks did not all stop',
    4 * Number(SCALED_ECS_SETTINGS['TASK_START_TIMEOUT_MS']),
    async () => run.ecs.stats().tasksRunning === 0,
  );
  const statsAfter = run.ecs.stats();

  const tasks = (await stoppedTasks(run.client)).filter((t) => t.createdAt !== undefined && t.createdAt.getTime() >= from);
  const tasksByUseCase: Record<string, number> = {};
  let taskSeconds = 0;
  let billedTaskSeconds = 0;
  for (const task of tasks) {
    const useCase = useCaseOf(task);
    tasksByUseCase[useCase] = (tasksByUseCase[useCase] ?? 0) + 1;
    const seconds = (((task.stoppedAt ?? new Date()).getTime() - task.createdAt!.getTime()) / 1000) * TIME_SCALE;
    taskSeconds += seconds;
    billedTaskSeconds += Math.max(MINIMUM_BILLED_SEC, Math.ceil(seconds));
  }
  const deliveries = await run.db.query<{ use_case: string; n: string }>(
    `select use_case, count(*) as n from (
       select use_case from customers.inbox where correlation_id = any($1::uuid[])
       union all select use_case from ordering.inbox where correlation_id = any($1::uuid[])
     ) d group by use_case order by use_case`,
    [ids],
  );
  const deliveriesByUseCase = Object.fromEntries(deliveries.rows.map((r) => [r.use_case, Number(r.n)]));
  const orders = await run.db.query<{ ms: number }>(
    `select (extract(epoch from (decided_at - created_at)) * 1000)::float8 as ms from ordering.orders where id = any($1::uuid[]) and decided_at is not null order by 1`,
    [ids],
  );
  const latencies = orders.rows.map((r) => r.ms * TIME_SCALE);
  const sagas = latencies.length;
  return {
    ordersPerHour,
    style,
    windowSec: (plan.windowMs / 1000) * TIME_SCALE,
    sagas,
    messages: Object.values(deliveriesByUseCase).reduce((s, n) => s + n, 0),
    deliveriesByUseCase,
    runTaskCalls: statsAfter.runTaskCalls - statsBefore.runTaskCalls,
    tasksLaunched: tasks.length,
    tasksByUseCase,
    taskSeconds: round(taskSeconds),
    billedTaskSeconds,
    taskSecondsPerSaga: round(taskSeconds / Math.max(1, sagas), 2),
    billedTaskMinutesPer1000Sagas: round((billedTaskSeconds / 60 / Math.max(1, sagas)) * 1000),
    latencyMs: { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)) },
    arrivals: 'poisson',
  };
}

/** One style: a fresh database, an endpoint under the fargate profile and the system, then the ladder's points in turn. */
async function runStyle(ctx: LadderContext, style: Style, plan: LadderPlan): Promise<FargateLadderPoint[]> {
  const databaseUrl = await ctx.databases.clone(`fg_${style.slice(0, 2)}`);
  const prefix = `bench-${ctx.runId}-fargate-${style}`;
  ctx.usePrefix(prefix);
  const port = await freePort();
  const endpointUrl = `http://127.0.0.1:${port}`;
  const aws = {
    AWS_REGION: 'us-east-1',
    // The local endpoint accepts any signature; the SDK only needs something to sign with.
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const env: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    REDIS_URL: ctx.redisUrl,
    BULLMQ_PREFIX: prefix,
    EVENT_BUS: 'ecs',
    SAGA_STYLE: style,
    LOG_LEVEL: process.env['BENCH_LOG_LEVEL'] ?? 'warn',
    NODE_ENV: 'production',
    AWS_ENDPOINT_URL_ECS: endpointUrl,
    ...aws,
    ...ctx.productionSettings,
    ...ctx.auth.env,
    ...SCALED_ECS_SETTINGS,
  };
  const ecs = await startLocalEcs({
    port,
    host: '127.0.0.1',
    taskDefinitionsDir: join(ctx.root, ctx.taskDefinitionsDir),
    projectRoot: ctx.root,
    env,
    taskLogDir: join(ctx.workDir, `fargate-tasks-${style}`),
    logger: silentEcsLocalLogger,
    profile: 'fargate',
    timeScale: TIME_SCALE,
    seed: ctx.seed,
    stopTimeoutMs: 5_000,
  });
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  const client = new ECSClient({
    region: 'us-east-1',
    endpoint: endpointUrl,
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  const db = new pg.Pool({ connectionString: databaseUrl, max: 2, application_name: 'bench:driver' });
  db.on('error', () => undefined);
  let system: Awaited<ReturnType<typeof startSystem>> | undefined;
  let http: HttpClient | undefined;
  try {
    system = await startSystem({
      entrypoint: join(ctx.dist, 'dev/dev-server.js'),
      env,
      logFile: join(ctx.workDir, `system-fargate-${style}.log`),
      readyTimeoutMs: 60_000,
    });
    http = new HttpClient(system.baseUrl, 64, ctx.auth.headers);
    const customers = await registerCustomers(http, CUSTOMERS, 8);
    const points: FargateLadderPoint[] = [];
    for (const rate of plan.ordersPerHour) {
      const point = await runPoint({ http, db, ecs, client, customers }, ctx, style, rate, plan);
      points.push(point);
      ctx.log(
        `fargate/${style}: ${rate} orders/h (Fargate time), ${point.sagas} sagas in ${point.windowSec} s: ${point.tasksLaunched} tasks, ` +
          `${point.billedTaskMinutesPer1000Sagas} billed task-minutes per 1000 sagas, p50 ${round(point.latencyMs.p50 / 1000)} s, p99 ${round(point.latencyMs.p99 / 1000)} s`,
      );
    }
    return points;
  } finally {
    http?.close();
    const code = await system?.stop();
    if (code !== undefined && code !== 0) ctx.log(`fargate/${style}: the system exited with ${String(code)}`);
    client.destroy();
    await ecs.close();
    await db.end();
  }
}

/** The whole ladder, style after style. */
export async function runFargateLadder(
  ctx: LadderContext,
  families: readonly string[],
  styles: readonly Style[],
  mode: 'quick' | 'full',
  command: string,
): Promise<FargateResults> {
  const plan = LADDER_PLANS[mode];
  const size = await taskSize(
    join(ctx.root, ctx.taskDefinitionsDir),
    families.filter((f) => f !== 'saga-sweeper'),
  );
  const ladder: FargateLadderPoint[] = [];
  for (const style of styles) ladder.push(...(await runStyle(ctx, style, plan)));
  const start = profileFaults('fargate', TIME_SCALE).taskStartDelayMs;
  return {
    profile: 'fargate',
    timeScale: TIME_SCALE,
    startDelayMs: { min: start.min * TIME_SCALE, max: start.max * TIME_SCALE },
    idleGraceMs: Number(SCALED_ECS_SETTINGS['TASK_IDLE_GRACE_MS']) * TIME_SCALE,
    taskMaxRuntimeMs: Number(SCALED_ECS_SETTINGS['TASK_MAX_RUNTIME_MS']) * TIME_SCALE,
    taskCpuUnits: size.cpuUnits,
    taskMemoryMiB: size.memoryMiB,
    generatedAt: new Date().toISOString(),
    command,
    mode,
    ladder,
  };
}
