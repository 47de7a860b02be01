/**
 * `npm run ecs:local`: a local ECS API endpoint (RunTask, DescribeTasks, ListTasks, StopTask,
 * Register/Deregister/DescribeTaskDefinition) that runs each task's container command as a child
 * process of this one, so the production launch path works on this machine with the real AWS SDK:
 *
 *   AWS_ENDPOINT_URL_ECS=http://127.0.0.1:4010 EVENT_BUS=ecs npm run dev
 *
 * `ECS_LOCAL_PROFILE=fargate` makes it behave as Fargate does (cold starts of 15–45 s, the
 * account's RunTask rate limits); `ECS_LOCAL_TIME_SCALE` runs that faster, `ECS_LOCAL_SEED` makes
 * it reproducible, and `ECS_LOCAL_FAULTS` (JSON, as `POST /_local/faults`) adds any fault.
 *
 * Tasks inherit this process' environment (DATABASE_URL, REDIS_URL...), then their task
 * definition's `environment`, then the RunTask overrides. Ctrl-C stops the tasks (SIGTERM, then
 * SIGKILL after the grace) and exits; a second Ctrl-C kills them at once.
 */
import { z } from 'zod';
import { createLogger, type Logger } from '../../shared/infrastructure/logging/logger.js';
import { startLocalEcs, type EcsLocalLogger, type LocalEcs, type StartLocalEcsOptions } from '../ecs-local/index.js';
import { ConfigError, loadConfig } from '../../shared/infrastructure/config/config.js';
import { resolveEndpoints } from '../provisioning/index.js';
import { exitForSettings, exitWithHelpIfAsked } from '../../entrypoints/cli-help.js';

const intVar = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);
const rateVar = z.coerce.number().min(0).max(1).optional();
/** `15000` or `15000-45000` (uniform between the two). */
const delayVar = z
  .string()
  .regex(/^\d+(-\d+)?$/, 'milliseconds, or a range such as 15000-45000')
  .transform((v) => {
    const [min, max = min] = v.split('-').map(Number) as [number, number?];
    return { min, max };
  })
  .optional();
const jsonVar = z
  .string()
  .transform((v, ctx) => {
    try {
      return JSON.parse(v) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be JSON, as the body of POST /_local/faults' });
      return z.NEVER;
    }
  })
  .optional();

const envSchema = z.object({
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ECS_LOCAL_PORT: intVar(4010, 0, 65535),
  ECS_LOCAL_HOST: z.string().min(1).default('127.0.0.1'),
  ECS_LOCAL_TASK_DEFINITIONS_DIR: z.string().min(1).default('deploy/ecs'),
  ECS_LOCAL_PROJECT_ROOT: z.string().min(1).optional(),
  ECS_LOCAL_THROTTLE_RATE: rateVar,
  ECS_LOCAL_FAILURE_RATE: rateVar,
  ECS_LOCAL_TASK_START_DELAY_MS: delayVar,
  ECS_LOCAL_START_FAILURE_RATE: rateVar,
  ECS_LOCAL_PROFILE: z.enum(['default', 'fargate']).default('default'),
  ECS_LOCAL_TIME_SCALE: z.coerce.number().min(1).max(1_000).default(1),
  ECS_LOCAL_SEED: z.coerce.number().int().optional(),
  ECS_LOCAL_FAULTS: jsonVar,
  ECS_LOCAL_STOP_TIMEOUT_MS: intVar(30_000, 0, 600_000),
  ECS_LOCAL_REGION: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region such as us-east-1')
    .optional(),
  /** Comma-separated: the only clusters that exist. Unset: any valid cluster name is accepted. */
  ECS_LOCAL_CLUSTERS: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,255}(\s*,\s*[A-Za-z0-9_-]{1,255})*$/, 'comma-separated cluster names')
    .optional(),
  /** When set, each task's output goes to <dir>/<taskId>.log instead of this console. */
  ECS_LOCAL_TASK_LOG_DIR: z.string().min(1).optional(),
  ECS_LOCAL_MAX_STOPPED_TASKS: intVar(10_000, 1, 1_000_000),
});

function readEnv(): z.infer<typeof envSchema> {
  // An empty variable means "not set".
  const cleaned = Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    exitForSettings(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  return parsed.data;
}

type Env = ReturnType<typeof readEnv>;

function endpointOptions(
  env: Env,
  endpoints: { databaseUrl: string; redisUrl: string },
  logger: Logger,
  region: string,
): StartLocalEcsOptions {
  return {
    port: env.ECS_LOCAL_PORT,
    host: env.ECS_LOCAL_HOST,
    taskDefinitionsDir: env.ECS_LOCAL_TASK_DEFINITIONS_DIR,
    projectRoot: env.ECS_LOCAL_PROJECT_ROOT ?? process.cwd(),
    env: { DATABASE_URL: endpoints.databaseUrl, REDIS_URL: endpoints.redisUrl },
    profile: env.ECS_LOCAL_PROFILE,
    timeScale: env.ECS_LOCAL_TIME_SCALE,
    ...(env.ECS_LOCAL_SEED === undefined ? {} : { seed: env.ECS_LOCAL_SEED }),
    faults: {
      ...(env.ECS_LOCAL_THROTTLE_RATE === undefined ? {} : { throttleRate: env.ECS_LOCAL_THROTTLE_RATE }),
      ...(env.ECS_LOCAL_FAILURE_RATE === undefined ? {} : { failureRate: env.ECS_LOCAL_FAILURE_RATE }),
      ...(env.ECS_LOCAL_TASK_START_DELAY_MS === undefined ? {} : { taskStartDelayMs: env.ECS_LOCAL_TASK_START_DELAY_MS }),
      ...(env.ECS_LOCAL_START_FAILURE_RATE === undefined ? {} : { startFailureRate: env.ECS_LOCAL_START_FAILURE_RATE }),
      ...(typeof env.ECS_LOCAL_FAULTS === 'object' && env.ECS_LOCAL_FAULTS !== null ? (env.ECS_LOCAL_FAULTS as object) : {}),
    },
    stopTimeoutMs: env.ECS_LOCAL_STOP_TIMEOUT_MS,
    region,
    ...(env.ECS_LOCAL_CLUSTERS === undefined ? {} : { clusters: env.ECS_LOCAL_CLUSTERS.split(',').map((c) => c.trim()) }),
    ...(env.ECS_LOCAL_TASK_LOG_DIR === undefined ? {} : { taskLogDir: env.ECS_LOCAL_TASK_LOG_DIR }),
    maxStoppedTasks: env.ECS_LOCAL_MAX_STOPPED_TASKS,
    logger: endpointLogger(logger),
  };
}

/**
 * This endpoint's logger for the lines it writes and those of its tasks: a task's own JSON line
 * arrives with its `service` (its use case), and this logger adds its own (`ecs-local`), which
 * made two `service` keys in one line. The task's is kept as `taskService`.
 */
function endpointLogger(logger: Logger): EcsLocalLogger {
  const oneService = (fields: object): object => {
    if (!('service' in fields)) return fields;
    const { service, ...rest } = fields as { service: unknown };
    return { ...rest, taskService: service };
  };
  return {
    debug: (fields, msg) => logger.debug(oneService(fields), msg),
    info: (fields, msg) => logger.info(oneService(fields), msg),
    warn: (fields, msg) => logger.warn(oneService(fields), msg),
    error: (fields, msg) => logger.error(oneService(fields), msg),
  };
}

/** The first SIGINT/SIGTERM stops the tasks (SIGTERM, then SIGKILL after the grace); a second kills them now. */
function stopOnSignals(ecs: LocalEcs, logger: Logger): void {
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: killing the running tasks');
      ecs.killTasks();
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal }, 'stopping the running tasks (SIGTERM, then SIGKILL after the grace); signal again to kill them now');
    ecs.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        ecs.killTasks();
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

async function main(): Promise<void> {
  exitWithHelpIfAsked(
    process.argv.slice(2),
    `usage: ecs-local
  serves a local ECS API (RunTask, DescribeTasks, ListTasks, StopTask, task definitions) on
  ECS_LOCAL_PORT (4010) and runs each task's container command as a child process. Settings are
  ECS_LOCAL_* environment variables (ECS_LOCAL_PROFILE=fargate for Fargate's cold starts); see docs/ecs.md.`,
  );
  const env = readEnv();
  const logger = createLogger({ level: env.LOG_LEVEL, name: 'ecs-local' });
  const region = env.ECS_LOCAL_REGION ?? 'us-east-1';
  // Tasks must reach the same PostgreSQL and Redis as the dev server: resolve them the same way
  // (DATABASE_URL/REDIS_URL, .data/endpoints.json, the local defaults, else embedded ones).
  const endpoints = await resolveEndpoints(loadConfig(process.env), {
    allowEmbedded: true,
    log: (msg, data) => logger.info(data ?? {}, msg),
  });

  const ecs = await startLocalEcs(endpointOptions(env, endpoints, logger, region));
  logger.info(
    {
      url: ecs.url,
      sdk: `AWS_ENDPOINT_URL_ECS=${ecs.url} AWS_REGION=${region} (any credentials; new ECSClient({ endpoint: '${ecs.url}' }) works too)`,
      admin: [`GET ${ecs.url}/_local/stats`, `POST ${ecs.url}/_local/faults`, `POST ${ecs.url}/_local/reset-stats`],
      profile: env.ECS_LOCAL_PROFILE,
      faults: ecs.faults(),
    },
    `local ECS endpoint ready: point the SDK at it with AWS_ENDPOINT_URL_ECS=${ecs.url}`,
  );

  stopOnSignals(ecs, logger);
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) exitForSettings(err.problems);
  process.stderr.write(`ecs-local: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
