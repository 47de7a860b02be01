import {
  checkConnectionBudget,
  ConfigError,
  maxEcsTasks,
  taskDefinitionRevisions,
  type Config,
} from '../../shared/infrastructure/config/config.js';
import type { ModuleDatabases } from '../../shared/infrastructure/persistence/module-databases.js';
import { taskFamilyOf } from '../../shared/infrastructure/messaging/ecs/task-family.js';
import type { Logger } from '../../shared/infrastructure/logging/logger.js';
import { MemoryTransport } from '../../shared/infrastructure/messaging/memory-transport.js';
import type { RoutingTable } from '../../shared/infrastructure/messaging/routing-table.js';
import type { DeliveryTransport } from '../../shared/infrastructure/messaging/transport.js';
import { DeferredEcsTransport } from './deferred-ecs-transport.js';
import type { EcsLaunchSettings } from '../../shared/infrastructure/messaging/ecs/ecs-launcher.js';

export interface TransportContext {
  readonly config: Config;
  readonly logger: Logger;
  /** The process's databases (the ECS launcher borrows from their pools). */
  readonly databases: ModuleDatabases;
  readonly redisUrl?: string;
  readonly routing: RoutingTable;
  /**
   * Load the ECS driver (the AWS SDK) on the first signal rather than now: a use-case task needs
   * it only to launch the next task, after its own first delivery.
   */
  readonly deferEcsDriver?: boolean;
}

/**
 * The transport EVENT_BUS names: in-process calls, BullMQ queues, or ECS task launches. Drivers
 * are imported on demand, so an ECS task never loads BullMQ and a dev server never loads the AWS SDK;
 * with `deferEcsDriver`, a task loads the AWS SDK only once it has something to launch.
 */
export async function createTransport(context: TransportContext): Promise<DeliveryTransport> {
  const { config, logger, redisUrl } = context;
  switch (config.EVENT_BUS) {
    case 'memory':
      return new MemoryTransport(logger, config.DELIVERY_BATCH_SIZE);
    case 'bullmq': {
      if (!redisUrl)
        throw new ConfigError([
          'REDIS_URL: required with EVENT_BUS=bullmq, the default (the Redis the BullMQ queues live in, e.g. redis://127.0.0.1:6379)',
        ]);
      const { BullMqTransport } = await import('../../shared/infrastructure/messaging/bullmq-transport.js');
      return new BullMqTransport(
        { redisUrl, prefix: config.BULLMQ_PREFIX, concurrency: config.WORKER_CONCURRENCY, batchSize: config.DELIVERY_BATCH_SIZE },
        logger,
      );
    }
    case 'ecs':
      return ecsTransport(context);
  }
}

/** RunTask launches, checked against the connection budget and the pinned revisions. */
function ecsTransport({
  config,
  logger,
  databases,
  routing,
  deferEcsDriver,
}: TransportContext): DeliveryTransport | Promise<DeliveryTransport> {
  const activeUseCases = routing.activeUseCases().map((useCase) => ({ useCase, schema: routing.schemaOf(useCase) }));
  const databaseCount = databases.databases().length;
  const maxTasks = maxEcsTasks(config, databaseCount);
  const revisions = taskDefinitionRevisions(config);
  // Long-lived processes check the arithmetic and the pins once; a task inherits the launching process's.
  if (!deferEcsDriver) {
    checkConnectionBudget(config, activeUseCases.length, databaseCount);
    checkPinnedRevisions(
      config,
      revisions,
      activeUseCases.map((u) => u.useCase),
    );
  }
  const load = async () => {
    const { EcsTransport } = await import('../../shared/infrastructure/messaging/ecs/ecs-transport.js');
    return new EcsTransport(
      {
        schemaOf: (useCase) => routing.schemaOf(useCase),
        databaseOf: (schema) => databases.of(schema).database,
        sdk: {
          maxAttempts: config.ECS_SDK_MAX_ATTEMPTS,
          requestTimeoutMs: config.ECS_REQUEST_TIMEOUT_MS,
          connectionTimeoutMs: config.ECS_CONNECT_TIMEOUT_MS,
        },
        settings: launchSettings(config, maxTasks, revisions, activeUseCases, routing.waitingMessageTypes()),
      },
      logger,
    );
  };
  return deferEcsDriver ? new DeferredEcsTransport(load) : load();
}

/** The launcher's settings, from the configuration and the budget's arithmetic. */
function launchSettings(
  config: Config,
  maxTasks: number,
  revisions: ReadonlyMap<string, number>,
  activeUseCases: EcsLaunchSettings['activeUseCases'],
  waitingMessageTypes: EcsLaunchSettings['waitingMessageTypes'],
): EcsLaunchSettings {
  return {
    cluster: config.ECS_CLUSTER,
    subnets: config.ECS_SUBNETS,
    securityGroups: config.ECS_SECURITY_GROUPS,
    assignPublicIp: config.ECS_ASSIGN_PUBLIC_IP,
    ...(config.ECS_LAUNCH_TYPE ? { launchType: config.ECS_LAUNCH_TYPE } : {}),
    capacityProviderStrategy: config.ECS_CAPACITY_PROVIDER_STRATEGY,
    taskDefinitionPrefix: config.ECS_TASK_DEFINITION_PREFIX,
    containerName: config.ECS_CONTAINER_NAME,
    maxTasksPerUseCase: config.ECS_MAX_TASKS_PER_USE_CASE,
    maxTasks,
    taskConcurrency: config.TASK_CONCURRENCY,
    activeUseCases,
    scaleOutBacklog: config.ECS_SCALE_OUT_BACKLOG,
    leaseTtlMs: config.LEASE_TTL_MS,
    taskStartTimeoutMs: config.TASK_START_TIMEOUT_MS,
    breakerBaseMs: config.ECS_RETRY_BASE_MS,
    breakerMaxMs: config.ECS_RETRY_MAX_MS,
    startFailuresBeforeDeadLetter: config.ECS_START_FAILURES_BEFORE_DEAD_LETTER,
    startFailingBeforeDeadLetterMs: config.ECS_START_FAILING_BEFORE_DEAD_LETTER_MS,
    waitingMessageTypes,
    revisions,
    propagatedEnvironment: propagatedEnvironment(config, maxTasks),
  };
}

/** The launch settings every task of a deployment must share; see EcsLaunchSettings.propagatedEnvironment. */
function propagatedEnvironment(config: Config, maxTasks: number): Record<string, string> {
  const settings: Record<string, string | undefined> = {
    SAGA_STYLE: config.SAGA_STYLE,
    EVENT_BUS: 'ecs',
    ECS_CLUSTER: config.ECS_CLUSTER,
    ECS_SUBNETS: config.ECS_SUBNETS.join(','),
    ECS_SECURITY_GROUPS: config.ECS_SECURITY_GROUPS.join(','),
    ECS_ASSIGN_PUBLIC_IP: String(config.ECS_ASSIGN_PUBLIC_IP),
    ECS_LAUNCH_TYPE: config.ECS_LAUNCH_TYPE,
    ECS_CAPACITY_PROVIDER_STRATEGY: config.ECS_CAPACITY_PROVIDER_STRATEGY.join(','),
    ECS_TASK_DEFINITION_PREFIX: config.ECS_TASK_DEFINITION_PREFIX,
    ECS_CONTAINER_NAME: config.ECS_CONTAINER_NAME,
    ECS_MAX_TASKS_PER_USE_CASE: String(config.ECS_MAX_TASKS_PER_USE_CASE),
    ECS_SCALE_OUT_BACKLOG: String(config.ECS_SCALE_OUT_BACKLOG),
    // The budget's arithmetic is the launching process's: tasks size their pools and count launches the same way.
    ECS_MAX_TASKS: String(maxTasks),
    TASK_CONCURRENCY: String(config.TASK_CONCURRENCY),
    ECS_TASK_DEFINITION_REVISIONS: config.ECS_TASK_DEFINITION_REVISIONS.join(','),
    ECS_RETRY_BASE_MS: String(config.ECS_RETRY_BASE_MS),
    ECS_RETRY_MAX_MS: String(config.ECS_RETRY_MAX_MS),
    ECS_START_FAILURES_BEFORE_DEAD_LETTER: String(config.ECS_START_FAILURES_BEFORE_DEAD_LETTER),
    ECS_SDK_MAX_ATTEMPTS: String(config.ECS_SDK_MAX_ATTEMPTS),
    ECS_REQUEST_TIMEOUT_MS: String(config.ECS_REQUEST_TIMEOUT_MS),
    ECS_CONNECT_TIMEOUT_MS: String(config.ECS_CONNECT_TIMEOUT_MS),
    TASK_START_TIMEOUT_MS: String(config.TASK_START_TIMEOUT_MS),
    TASK_IDLE_GRACE_MS: String(config.TASK_IDLE_GRACE_MS),
    LEASE_TTL_MS: String(config.LEASE_TTL_MS),
    // A task LISTENs only if the relays that feed it NOTIFY.
    TASK_WAKE_NOTIFY: String(config.TASK_WAKE_NOTIFY),
    DB_PREPARED_STATEMENTS: String(config.DB_PREPARED_STATEMENTS),
  };
  return Object.fromEntries(Object.entries(settings).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
}

/**
 * In production every active use case runs a pinned `family:revision`: a bare family runs
 * whatever revision was registered last, so one stray registration would change production, and
 * during a release new messages would meet old task code.
 */
function checkPinnedRevisions(config: Config, revisions: ReadonlyMap<string, number>, useCases: readonly string[]): void {
  if (config.NODE_ENV !== 'production') return;
  const missing = useCases.map((u) => `${config.ECS_TASK_DEFINITION_PREFIX}${taskFamilyOf(u)}`).filter((family) => !revisions.has(family));
  if (missing.length > 0) {
    throw new ConfigError([
      `ECS_TASK_DEFINITION_REVISIONS: no pinned revision for ${missing.join(', ')} (register the task definitions first, then pass family:revision for each)`,
    ]);
  }
}
