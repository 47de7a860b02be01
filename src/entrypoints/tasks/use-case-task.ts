import { isUseCaseId } from '../../shared/kernel/index.js';
import { ConfigError, databaseUrlOf, loadConfig, type Config } from '../../shared/infrastructure/config/config.js';
import type { ModuleDefinition } from '../../shared/infrastructure/composition/module-definition.js';
import { Runtime } from '../composition/runtime.js';
import { createTransport } from '../composition/transports.js';
import { createLogger, type Logger } from '../../shared/infrastructure/logging/logger.js';
import type { TaskLaunch } from '../../shared/infrastructure/messaging/ecs/task-lease.js';
import { Doorbell, InboxListener } from '../../shared/infrastructure/messaging/inbox-listener.js';
import { isConnectionLoss } from '../../shared/infrastructure/persistence/pg-connections.js';
import {
  shutdownTracing,
  spanContextOf,
  startSpan,
  ROOT_CONTEXT,
  SpanKind,
  recordError,
} from '../../shared/infrastructure/observability/tracing.js';
import { startTracing } from '../../shared/infrastructure/observability/tracing-sdk.js';
import type { ModuleInbox } from '../../shared/contract/routing.js';
import { onStopRequested } from './stop-signal.js';
import { drain, type StopReason, type TaskLife } from './task-drain.js';
import { giveBackLast } from './give-back.js';
import { taskIdentity } from './task-identity.js';

/** `make`'s value; a ConfigError it throws exits 78 with its message (a task's configuration refused). */
function orExit78<T>(make: () => T): T {
  try {
    return make();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }
}

function loadTaskConfig(): Config {
  return orExit78(() => loadConfig(process.env));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The launch attempt (the RunTask clientToken) that started this task, when a launcher did. */
function launchAttemptOf(value: string | undefined): string | null {
  return value !== undefined && UUID.test(value) ? value : null;
}

/**
 * The container command of one use case's ECS task. It hosts only its own module, drains ALL
 * due deliveries of its use case (SKIP LOCKED, so several tasks can share a backlog), relays the
 * outbox rows its use case wrote (which launches the next use case's task), and exits 0 when
 * idle for TASK_IDLE_GRACE_MS or at TASK_MAX_RUNTIME_MS (launching its successor if work remains).
 * SIGTERM (StopTask, spot interruption) finishes the message in hand and exits cleanly.
 * While idle it waits for its use case's NOTIFY (one dedicated connection LISTENs, opened beside
 * the runtime so as not to delay the first delivery) or its fallback poll, whichever comes first.
 * A fatal error exits non-zero; its deliveries stay pending and the sweeper relaunches.
 * `inboxes`: every module's inbox of the task's composition (its bundle's), to route what it writes.
 */
export async function runUseCaseTask(module: ModuleDefinition, useCase: string, inboxes: readonly ModuleInbox[]): Promise<void> {
  const config = loadTaskConfig();
  // The launch attempt (the RunTask clientToken) ties this task's logs to the decision that started it.
  const launchAttempt = launchAttemptOf(process.env['TASK_LAUNCH_ATTEMPT']);
  const logger = createLogger({ level: config.LOG_LEVEL, name: useCase }).child({ launchAttempt });
  const life = await taskSpan(useCase, launchAttempt, logger);
  const exit = async (code: number, attributes: Record<string, string | number> = {}): Promise<never> => {
    life.setAttributes({ 'process.exit.code': code, ...attributes });
    life.end();
    await shutdownTracing();
    process.exit(code);
  };
  if (!isUseCaseId(useCase) || !module.inbox.routes.some((r) => r.useCase === useCase)) {
    logger.fatal({ useCase }, 'unknown use case for this module');
    return exit(78);
  }
  if (!config.DATABASE_URL) {
    logger.fatal('DATABASE_URL is required');
    return exit(78);
  }
  const databaseUrl = config.DATABASE_URL;
  // Its own module's database: the relays NOTIFY there, and its deliveries and lease live there.
  const ownDatabaseUrl = orExit78(() =>
    databaseUrlOf(
      config,
      module.name,
      databaseUrl,
      inboxes.map((i) => i.module),
    ),
  );
  const { taskArn, tag } = await taskIdentity(logger);
  logger.info({ connections: `saga-task:${useCase}#${tag}` }, 'task starting');
  // Rung by a notification of a new delivery, by LISTEN (re)starting, and by a stop request.
  const doorbell = new Doorbell();
  const unsubscribe = onStopRequested(() => doorbell.ring());
  const task: TaskRounds = {
    module,
    useCase,
    inboxes,
    config,
    logger,
    life,
    launch: taskLaunch(launchAttempt, taskArn),
    databaseUrl,
    ownDatabaseUrl,
    tag,
    doorbell,
    startedAt: Date.now(),
  };
  try {
    const reason = await runRounds(task);
    logger.info({ reason }, 'task finished');
    unsubscribe();
    return await exit(0, { 'saga.task.stop_reason': reason });
  } catch (error) {
    const failure = exitOf(error);
    logger.fatal({ err: error }, failure.message);
    life.fail(error);
    unsubscribe();
    return exit(failure.code);
  }
}

/** Whose share the task holds: its launch's when its launcher says so (ADR 36), else the lease row's; and its ARN (ADR 39). */
function taskLaunch(attempt: string | null, taskArn: string | null): TaskLaunch {
  return { attempt, ownShare: attempt !== null && process.env['TASK_LEASE_SHARE'] === 'launch', taskArn };
}

interface TaskRounds {
  readonly module: ModuleDefinition;
  readonly useCase: string;
  readonly inboxes: readonly ModuleInbox[];
  readonly config: Config;
  readonly logger: Logger;
  readonly life: TaskLife;
  readonly launch: TaskLaunch;
  readonly databaseUrl: string;
  /** Its own module's database: the relays NOTIFY there, and its deliveries and lease live there. */
  readonly ownDatabaseUrl: string;
  readonly tag: string;
  readonly doorbell: Doorbell;
  /** When the task began its work: its time limit counts from there, across rounds. */
  readonly startedAt: number;
}

/**
 * The task's work: one round (open, drain, close), unless a delivery arrives while the drained
 * task closes; then it opens and drains again. A drained task gives its share back last, once
 * nothing of it holds a connection. Whatever fails, its connections are closed before it throws.
 */
async function runRounds(t: TaskRounds): Promise<StopReason> {
  const { config, useCase, doorbell } = t;
  const applicationName = `saga-task:${useCase}#${t.tag}`;
  for (;;) {
    const listener = config.TASK_WAKE_NOTIFY ? listen(t.ownDatabaseUrl, useCase, t.tag, t.logger, () => doorbell.ring()) : undefined;
    let runtime: Runtime | undefined;
    let reason: StopReason;
    try {
      runtime = await taskRuntime({ module: t.module, inboxes: t.inboxes }, config, t.logger, t.databaseUrl, applicationName);
      const idlePollMs = config.TASK_IDLE_POLL_MS ?? (listener ? 500 : 25);
      const wait = (ms: number) => doorbell.wait(Math.min(ms, idlePollMs));
      reason = await drain(runtime, useCase, t.launch, config, t.logger, wait, t.life, t.startedAt);
    } catch (error) {
      await listener?.close().catch(() => undefined);
      await runtime?.close().catch(() => undefined);
      throw error;
    }
    await closeAfter(reason, listener, runtime, t.logger);
    if (reason !== 'drained') return reason;
    const given = await giveBackLast({
      databaseUrl: t.ownDatabaseUrl,
      applicationName,
      schema: t.module.inbox.schema,
      useCase,
      launch: t.launch,
      logger: t.logger,
      toleranceMs: config.DB_OUTAGE_TOLERANCE_MS,
    });
    if (given) return reason;
    t.logger.info('a delivery arrived while the drained task closed: draining again');
  }
}

/**
 * Closes the task's connections once its work is done. Stopped at its time limit or by a signal,
 * it has given its share back already: a failure to close then ends it cleanly (exit 0), since a
 * non-zero exit would have the observer release its share a second time, a sibling's in effect.
 */
async function closeAfter(reason: StopReason, listener: InboxListener | undefined, runtime: Runtime, logger: Logger): Promise<void> {
  try {
    await listener?.close();
    await runtime.close();
  } catch (error) {
    if (reason === 'drained') throw error;
    logger.warn({ err: error, reason }, 'task could not close cleanly after giving its share back; exiting 0');
  }
}

/** The task's LISTEN connection, started in the background (the first delivery never waits for it). */
function listen(databaseUrl: string, useCase: string, tag: string, logger: Logger, onWake: () => void): InboxListener {
  const listener = new InboxListener({ databaseUrl, useCase, logger, applicationName: `saga-listen:${useCase}#${tag}`, onWake });
  listener.start();
  return listener;
}

/**
 * Starts tracing in the task (when OTEL_* asks for it: the platform's own spans only, the bundle
 * cannot be instrumented) and the span of the task's life, from its spawn to its exit: a trace of
 * its own, linked to the launch decision that started it (TRACEPARENT, set by the launcher).
 */
async function taskSpan(useCase: string, launchAttempt: string | null, logger: Logger): Promise<TaskLife> {
  try {
    await startTracing({
      serviceName: `saga-task-${useCase}`,
      instrument: false,
      attributes: { 'saga.use_case': useCase, ...(launchAttempt ? { 'saga.launch.attempt_id': launchAttempt } : {}) },
    });
  } catch (error) {
    logger.fatal({ err: error }, 'tracing configuration refused');
    process.exit(78);
  }
  const launch = spanContextOf(process.env['TRACEPARENT']);
  const span = startSpan(`ecs.task ${useCase}`, {
    kind: SpanKind.CONSUMER,
    attributes: { 'saga.use_case': useCase, ...(launchAttempt ? { 'saga.launch.attempt_id': launchAttempt } : {}) },
    links: launch ? [{ context: launch }] : [],
    parent: ROOT_CONTEXT,
  });
  // Timed from the process's spawn, not from this line: what a cold task costs is part of its life.
  span?.addEvent('spawned', {}, performance.timeOrigin);
  return {
    event: (name, attributes) => span?.addEvent(name, attributes),
    setAttributes: (attributes) => span?.setAttributes(attributes),
    fail: (error) => {
      if (span) recordError(span, error);
    },
    end: () => span?.end(),
  };
}

/** The task's runtime: its own module only, routed with every contract of its composition. */
function taskRuntime(
  { module, inboxes }: { module: ModuleDefinition; inboxes: readonly ModuleInbox[] },
  config: Config,
  logger: Logger,
  databaseUrl: string,
  applicationName: string,
): Promise<Runtime> {
  return Runtime.create({
    config,
    logger,
    databaseUrl,
    modules: [module],
    inboxes,
    // One connection per claimer and one for the relay, the lease heartbeat and the launches: what
    // the connection budget counts per task (with the LISTEN connection). Other modules' databases,
    // if any, get one connection each, opened when this task first writes a message there.
    poolSize: config.TASK_CONCURRENCY + 1,
    applicationName,
    transport: (routing, databases) =>
      createTransport({
        config,
        logger,
        databases,
        routing,
        deferEcsDriver: true,
        ...(config.REDIS_URL ? { redisUrl: config.REDIS_URL } : {}),
      }),
  });
}

/** How a failed task exits: what the launcher makes of its exit code (ADR 19). */
function exitOf(error: unknown): { code: number; message: string } {
  // A setting the composition refuses (e.g. the transport's) is a configuration error, like one of loadConfig: EX_CONFIG.
  if (error instanceof ConfigError) return { code: 78, message: 'configuration refused' };
  // Its database unreachable (a failover, a full connection table, a network blip): EX_TEMPFAIL.
  // Before its first heartbeat the launcher backs off from it without counting it as a task that
  // cannot start; after it, the task's share of the lease is released. Mid-backlog a task first
  // waits DB_OUTAGE_TOLERANCE_MS for PostgreSQL to come back. A wrong URL, a missing database or
  // bad credentials exit 1: they are failures.
  if (isConnectionLoss(error)) return { code: 75, message: 'database unreachable' };
  return { code: 1, message: 'task failed' };
}
