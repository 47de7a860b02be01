import { readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { DescribeTasksCommand, ECSClient, ListTasksCommand, type Task } from '@aws-sdk/client-ecs';
import { request } from './http.js';
import type { ScenarioContext, SystemHandle } from './scenario.js';
import type { SystemProcess } from './system-process.js';
import { freePort } from './util.js';

/**
 * What the ECS scenarios share: the system on the ECS transport beside the local endpoint under
 * its `fargate` profile, AWS's clock divided by TIME_SCALE, and the harness's own look at the
 * endpoint (its stats and faults, the SDK, the task processes).
 */

/**
 * Everything runs TIME_SCALE times faster than on AWS, consistently: the endpoint's profile (cold
 * starts of 1.5–4.5 s, the buckets refilled 10× faster) and every time-based setting of the ECS
 * transport (as test/e2e/ecs-aws-terms.test.ts does).
 */
export const TIME_SCALE = 10;
export const scaled = (awsMs: number): number => Math.round(awsMs / TIME_SCALE);

/** The `fargate` profile's longest cold start at TIME_SCALE (45 s on AWS's clock: faults.ts). */
export const LONGEST_COLD_START_MS = scaled(45_000);

/** The ECS transport's production defaults (docs/ecs.md), divided by TIME_SCALE. */
export const SCALED_ENV: Record<string, string> = {
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
  // Permanent start failures dead-letter only after 5 minutes of them (ADR 36), and a count.
  ECS_START_FAILING_BEFORE_DEAD_LETTER_MS: String(scaled(300_000)),
};

export const CLUSTER = 'local';

export type Style = 'choreography' | 'orchestration';
export type Stats = Record<string, number>;

export function delta(after: Stats, before: Stats): Stats {
  const out: Stats = {};
  for (const [k, v] of Object.entries(after)) if (typeof v === 'number' && k !== 'tasksRunning') out[k] = v - (before[k] ?? 0);
  return out;
}

export interface EcsSystem extends SystemHandle {
  readonly endpoint: SystemProcess;
  /** The harness's own client of the endpoint (StopTask, ListTasks, DescribeTasks). */
  readonly ecs: ECSClient;
}

/**
 * A system on the ECS transport in `style` and its local endpoint under the `fargate` profile at
 * TIME_SCALE, both started; `env` is added to SCALED_ENV for the system and every task.
 */
export async function startEcsSystem(ctx: ScenarioContext, style: Style, env: Record<string, string>): Promise<EcsSystem> {
  const endpointPort = await freePort();
  const endpointUrl = `http://127.0.0.1:${endpointPort}`;
  // Settings the dev server (relay, sweeper, maintenance) and every task share.
  const shared: Record<string, string> = {
    SAGA_STYLE: style,
    EVENT_BUS: 'ecs',
    ECS_CLUSTER: CLUSTER,
    // The task definitions are Fargate/awsvpc: RunTask needs subnets, here as on AWS.
    ECS_LAUNCH_TYPE: 'FARGATE',
    ECS_SUBNETS: 'subnet-local',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'reliability',
    AWS_SECRET_ACCESS_KEY: 'reliability',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...SCALED_ENV,
    // Not scaled: the suite's deadline, longer than any fault, so that a TIMEOUT is a stalled saga.
    ORDER_DEADLINE_MS: '120000',
    LOG_LEVEL: 'warn',
    ...env,
  };
  const handle = await ctx.createSystem({ ...shared, AWS_ENDPOINT_URL_ECS: endpointUrl });
  const endpoint = await ctx.createProcess({
    name: `ecs-local-${style}`,
    entry: join(ctx.distDir, 'dev', 'cli', 'ecs-local.js'),
    port: endpointPort,
    readyPath: '/_local/health',
    env: {
      // Tasks inherit the endpoint's environment: the same database and settings as the system.
      ...handle.env,
      ECS_LOCAL_HOST: '127.0.0.1',
      ECS_LOCAL_PORT: String(endpointPort),
      ECS_LOCAL_PROFILE: 'fargate',
      ECS_LOCAL_TIME_SCALE: String(TIME_SCALE),
      ECS_LOCAL_SEED: String(ctx.random.int(1, 2 ** 31 - 1)),
      ECS_LOCAL_TASK_DEFINITIONS_DIR: join(ctx.projectRoot, 'deploy', 'ecs'),
      // Task definitions run `node dist/tasks/...`: from here, that is the suite's own build.
      ECS_LOCAL_PROJECT_ROOT: join(ctx.projectRoot, 'test', 'reliability'),
      ECS_LOCAL_TASK_LOG_DIR: join(ctx.workDir, `tasks-${style}`),
    },
  });
  await endpoint.start();
  await handle.system.start();
  return { ...handle, endpoint, ecs: harnessEcsClient(endpointUrl) };
}

/**
 * The harness's own ECS client (StopTask, ListTasks, task definitions), through the real SDK. Its
 * DescribeTasks calls meet the faults injected for the system (half of them answered 5xx or hung),
 * so it retries long and gives up on a hung call soon.
 */
export function harnessEcsClient(url: string): ECSClient {
  return new ECSClient({
    endpoint: url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'reliability', secretAccessKey: 'reliability' },
    maxAttempts: 12,
    // Without throwOnRequestTimeout the SDK only warns when requestTimeout passes and goes on waiting.
    requestHandler: { requestTimeout: 2_000, connectionTimeout: 3_000, throwOnRequestTimeout: true },
  });
}

export async function describeTasks(ecs: ECSClient, arns: readonly string[]): Promise<Task[]> {
  const tasks: Task[] = [];
  for (let i = 0; i < arns.length; i += 100)
    tasks.push(...((await ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: arns.slice(i, i + 100) }))).tasks ?? []));
  return tasks;
}

/** The ARNs of the tasks whose desired status is `desiredStatus` (RUNNING: provisioning or running). */
export async function listTasks(ecs: ECSClient, desiredStatus: 'RUNNING' | 'STOPPED' = 'RUNNING'): Promise<string[]> {
  const arns: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await ecs.send(new ListTasksCommand({ cluster: CLUSTER, desiredStatus, ...(nextToken ? { nextToken } : {}) }));
    arns.push(...(page.taskArns ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return arns;
}

/** Tasks whose container runs (not PROVISIONING, not stopping). */
export async function runningTasks(ecs: ECSClient): Promise<Task[]> {
  const arns = await listTasks(ecs);
  if (arns.length === 0) return [];
  return (await describeTasks(ecs, arns)).filter((t) => t.lastStatus === 'RUNNING');
}

/** The task definition family of a task (its group is `family:<name>`). */
export function familyOf(task: Task): string {
  return (task.group ?? '').replace(/^family:/, '');
}

export async function endpointStats(endpoint: SystemProcess): Promise<Stats> {
  const r = await request(endpoint.baseUrl, 'GET', '/_local/stats', { timeoutMs: 3_000 });
  if (!r.ok || r.response.status !== 200) throw new Error(`GET /_local/stats: ${r.ok ? r.response.status : r.error}`);
  return r.response.json as Stats;
}

export async function setFaults(endpoint: SystemProcess, faults: Record<string, unknown>): Promise<void> {
  const r = await request(endpoint.baseUrl, 'POST', '/_local/faults', { body: faults, timeoutMs: 3_000 });
  if (!r.ok || r.response.status !== 200)
    throw new Error(`POST /_local/faults ${JSON.stringify(faults)}: ${r.ok ? `${r.response.status} ${r.response.text}` : r.error}`);
}

/**
 * Task processes the local endpoint started for this suite: they run in the suite's compiled
 * tree (their cwd), so no other process on the machine matches. Found through /proc because an
 * endpoint killed with SIGKILL leaves its tasks running as orphans.
 */
export async function suiteTaskPids(taskCwd: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const [cwd, cmdline] = await Promise.all([readlink(`/proc/${entry}/cwd`), readFile(`/proc/${entry}/cmdline`, 'utf8')]);
      if (cwd === taskCwd && cmdline.includes('dist/tasks/')) pids.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

/** The launch attempt (TASK_LAUNCH_ATTEMPT) and use case of a task process, from its environment. */
export async function launchOf(pid: number): Promise<{ attempt: string; useCase: string; connectionTag: string } | undefined> {
  try {
    const env = new Map(
      (await readFile(`/proc/${pid}/environ`, 'utf8'))
        .split('\0')
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const),
    );
    const attempt = env.get('TASK_LAUNCH_ATTEMPT');
    const useCase = env.get('TASK_USE_CASE');
    // The tag a task names its connections with (`saga-task:<use case>#<tag>`): its task id's tail
    // (the metadata endpoint's container id is `<task id>-<n>`).
    const connectionTag = env.get('ECS_CONTAINER_METADATA_URI_V4')?.split('/').pop()?.split('-')[0]?.slice(-8);
    return attempt && useCase && connectionTag ? { attempt, useCase, connectionTag } : undefined;
  } catch {
    return undefined;
  }
}
