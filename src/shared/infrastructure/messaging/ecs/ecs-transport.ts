import { ECSClient } from '@aws-sdk/client-ecs';
import type { Logger } from '../../logging/logger.js';
import type { Delivery } from '../subscription.js';
import type { DeliveryDispatcher, DeliveryTransport, ReadinessCheck } from '../transport.js';
import type { PostgresDatabase } from '../../persistence/postgres-database.js';
import { EcsLauncher, type EcsLaunchSettings } from './ecs-launcher.js';

export interface EcsSdkSettings {
  /** Attempts per call, standard retry mode (throttling, 5xx, timeouts); a RunTask retry carries the same clientToken. */
  readonly maxAttempts: number;
  readonly requestTimeoutMs: number;
  readonly connectionTimeoutMs: number;
}

/**
 * The ECS client, with timeouts (the SDK's default socket timeout would let a hung call hold a
 * launch for minutes) and the SDK's standard retries: with an explicit clientToken, the request is
 * serialised once and every retry repeats the same token, so a retried RunTask never starts a
 * second task.
 */
export function createEcsClient(sdk: EcsSdkSettings): ECSClient {
  return new ECSClient({
    maxAttempts: sdk.maxAttempts,
    retryMode: 'standard',
    // Without throwOnRequestTimeout this SDK only logs a warning when requestTimeout passes, and the call goes on waiting.
    requestHandler: { requestTimeout: sdk.requestTimeoutMs, connectionTimeout: sdk.connectionTimeoutMs, throwOnRequestTimeout: true },
  });
}

export interface EcsTransportOptions {
  readonly settings: EcsLaunchSettings;
  /** The consumer schema of each use case (from the routing table). */
  readonly schemaOf: (useCase: string) => string;
  /**
   * The database a module's schema lives in: the launcher borrows connections from its pool for
   * lease decisions and launch attempts (no pool of its own: connections follow databases, ADR 32).
   */
  readonly databaseOf: (schema: string) => PostgresDatabase;
  /** The SDK's behaviour on a slow or failing ECS API (see createEcsClient). */
  readonly sdk: EcsSdkSettings;
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
  readonly launchesTasks = true;
  readonly launcher: EcsLauncher;
  private readonly ecs: ECSClient;

  constructor(
    private readonly options: EcsTransportOptions,
    private readonly logger: Logger,
  ) {
    this.ecs = options.client ?? createEcsClient(options.sdk);
    this.launcher = new EcsLauncher(this.ecs, options.schemaOf, options.databaseOf, options.settings, logger);
  }

  async startConsumers(_dispatcher: DeliveryDispatcher): Promise<void> {
    // Consumers are ECS tasks, launched on demand.
  }

  /**
   * Decides (and makes) the launches in the background: a slow, throttled or hung ECS API delays
   * only the launch of that use case, never the relay that signals, and never another use case.
   */
  async signal(deliveries: readonly Delivery[]): Promise<void> {
    for (const useCase of new Set(deliveries.map((d) => d.useCase))) {
      this.launcher
        .ensureRunning(useCase)
        .catch((error: unknown) => this.logger.warn({ err: error, useCase }, 'could not decide a launch; the sweeper decides again'));
    }
  }

  /**
   * The upkeep of the launches: tasks launched but not seen running (DescribeTasks: start failures
   * open the breaker, a task that died gives its lease back), leases whose tasks stopped
   * heartbeating, and use cases with due work and no task (after a backoff: one probe).
   */
  async maintain(schemas: readonly string[]): Promise<string[]> {
    await this.launcher
      .resendUnknown(schemas)
      .catch((error: unknown) =>
        this.logger.warn({ err: error }, 'could not send again the RunTask calls of unknown outcome; next pass retries'),
      );
    const pass = await this.launcher.observePass(schemas).catch((error: unknown) => {
      this.logger.warn({ err: error }, 'could not describe the launched tasks; next pass retries');
      return { startFailed: [], released: [] };
    });
    const expired = await this.launcher.expiredLeases(schemas);
    if (expired.length > 0) this.logger.warn({ useCases: expired }, 'expired task leases: deciding launches again');
    // A dead task's share released: decide again at once, even while its siblings run (the backlog may want it replaced).
    const useCases = [...new Set([...pass.released, ...expired, ...(await this.launcher.needingTasks(schemas))])];
    await Promise.allSettled(useCases.map((u) => this.launcher.ensureRunning(u)));
    return useCases;
  }

  relaunch(useCase: string): Promise<void> {
    return this.launcher.ensureRunning(useCase);
  }

  /** The ECS API is not a dependency of readiness: PostgreSQL holds the work, and a launch that fails only waits. */
  async ping(): Promise<void> {}

  /** Not the ECS API: PostgreSQL holds the work, and a launch that fails only waits (its health is in /admin/deliveries/stats). */
  readiness(): readonly ReadinessCheck[] {
    return [];
  }

  async close(): Promise<void> {
    await this.launcher.drainLaunches();
    if (!this.options.client) this.ecs.destroy();
  }
}
