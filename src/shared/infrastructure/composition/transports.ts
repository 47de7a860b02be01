import type { Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import { MemoryTransport } from '../messaging/memory-transport.js';
import type { RoutingTable } from '../messaging/subscription.js';
import type { DeliveryTransport } from '../messaging/transport.js';

export interface TransportContext {
  readonly config: Config;
  readonly logger: Logger;
  readonly databaseUrl: string;
  readonly redisUrl?: string;
  readonly routing: RoutingTable;
}

/**
 * The transport EVENT_BUS names: in-process calls, BullMQ queues, or ECS task launches. Drivers
 * are imported on demand, so an ECS task never loads BullMQ and a dev server never loads the AWS SDK.
 */
export async function createTransport({ config, logger, databaseUrl, redisUrl, routing }: TransportContext): Promise<DeliveryTransport> {
  switch (config.EVENT_BUS) {
    case 'memory':
      return new MemoryTransport(logger);
    case 'bullmq': {
      if (!redisUrl) throw new Error('EVENT_BUS=bullmq needs REDIS_URL');
      const { BullMqTransport } = await import('../messaging/bullmq-transport.js');
      return new BullMqTransport({ redisUrl, prefix: config.BULLMQ_PREFIX, concurrency: config.WORKER_CONCURRENCY }, logger);
    }
    case 'ecs': {
      const { EcsTransport } = await import('../messaging/ecs/ecs-transport.js');
      return new EcsTransport(
        {
          databaseUrl,
          schemaOf: (useCase) => routing.schemaOf(useCase),
          settings: {
            cluster: config.ECS_CLUSTER,
            subnets: config.ECS_SUBNETS,
            securityGroups: config.ECS_SECURITY_GROUPS,
            assignPublicIp: config.ECS_ASSIGN_PUBLIC_IP,
            ...(config.ECS_LAUNCH_TYPE ? { launchType: config.ECS_LAUNCH_TYPE } : {}),
            capacityProviderStrategy: config.ECS_CAPACITY_PROVIDER_STRATEGY,
            taskDefinitionPrefix: config.ECS_TASK_DEFINITION_PREFIX,
            containerName: config.ECS_CONTAINER_NAME,
            maxTasksPerUseCase: config.ECS_MAX_TASKS_PER_USE_CASE,
            scaleOutBacklog: config.ECS_SCALE_OUT_BACKLOG,
            leaseTtlMs: config.LEASE_TTL_MS,
            maxLaunchRetries: config.ECS_MAX_LAUNCH_RETRIES,
            retryBaseMs: config.ECS_RETRY_BASE_MS,
          },
        },
        logger,
      );
    }
  }
}
