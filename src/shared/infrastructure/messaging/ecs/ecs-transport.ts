import { ECSClient, ListTasksCommand } from '@aws-sdk/client-ecs';
import pg from 'pg';
import type { Logger } from '../../logging/logger.js';
import type { Delivery } from '../subscription.js';
import type { DeliveryDispatcher, DeliveryTransport } from '../transport.js';
import { EcsLauncher, type EcsLaunchSettings } from './ecs-launcher.js';

export interface EcsTransportOptions {
  readonly databaseUrl: string;
  readonly settings: EcsLaunchSettings;
  /** The consumer schema of each use case (from the routing table). */
  readonly schemaOf: (useCase: string) => string;
  /** Connections of the launcher's pool (one in a task, which rarely launches more than one use case at a time). */
  readonly poolSize: number;
  /** Marks the launcher's connections in pg_stat_activity. */
  readonly applicationName?: string;
  /** Region, credentials and endpoint (AWS_ENDPOINT_URL_ECS) come from the standard AWS settings. */
  readonly client?: ECSClient;
}

/**
 * The production transport: the pending deliveries in PostgreSQL are the queue, and a signal
 * means "make sure the use case's task runs" (ECS RunTask, coalesced through the lease). Nothing
 * consumes in this process: each use case runs as its own short-lived task.
 */
export class EcsTransport implements DeliveryTransport {
  readonly name = 'ecs' as const;
  readonly launcher: EcsLauncher;
  private readonly pool: pg.Pool;
  private readonly ecs: ECSClient;

  constructor(
    private readonly options: EcsTransportOptions,
    private readonly logger: Logger,
  ) {
    this.pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolSize, application_name: options.applicationName ?? 'saga:ecs-launcher' });
    this.pool.on('error', (error) => logger.warn({ err: error }, 'ecs launcher pool error'));
    // The launcher retries with its own backoff and token rules; the SDK must not retry underneath it.
    this.ecs = options.client ?? new ECSClient({ maxAttempts: 1 });
    this.launcher = new EcsLauncher(this.pool, this.ecs, options.schemaOf, options.settings, logger);
  }

  async startConsumers(_dispatcher: DeliveryDispatcher): Promise<void> {
    // Consumers are ECS tasks, launched on demand.
  }

  async signal(deliveries: readonly Delivery[]): Promise<void> {
    const useCases = [...new Set(deliveries.map((d) => d.useCase))];
    const results = await Promise.allSettled(useCases.map((u) => this.launcher.ensureRunning(u)));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length > 0) throw new AggregateError(failed.map((f) => f.reason as unknown), 'could not ensure tasks for some use cases');
  }

  /** Launches again for use cases whose tasks died without giving their lease back. */
  async maintain(schemas: readonly string[]): Promise<string[]> {
    const useCases = await this.launcher.expiredLeases(schemas);
    if (useCases.length > 0) this.logger.warn({ useCases }, 'expired task leases: deciding launches again');
    await Promise.allSettled(useCases.map((u) => this.launcher.ensureRunning(u)));
    return useCases;
  }

  async ping(): Promise<void> {
    await this.ecs.send(new ListTasksCommand({ cluster: this.options.settings.cluster, maxResults: 1 }));
  }

  async close(): Promise<void> {
    await this.launcher.drainLaunches();
    await this.pool.end();
    if (!this.options.client) this.ecs.destroy();
  }
}
