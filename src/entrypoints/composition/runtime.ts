import type { MigrationObject } from '@mikro-orm/core';
import { Container } from 'inversify';
import type { ModuleInbox } from '../../shared/contract/routing.js';
import { systemClock, type Clock } from '../../shared/kernel/index.js';
import type { Config } from '../../shared/infrastructure/config/config.js';
import type { Logger } from '../../shared/infrastructure/logging/logger.js';
import { DeliverySweeper, purgeMessaging } from '../../shared/infrastructure/messaging/delivery-sweeper.js';
import type { InboxProcessor } from '../../shared/infrastructure/messaging/inbox-processor.js';
import { OutboxCommits } from '../../shared/infrastructure/messaging/outbox-event-bus.js';
import { OutboxRelay } from '../../shared/infrastructure/messaging/outbox-relay.js';
import { RoutingTable } from '../../shared/infrastructure/messaging/subscription.js';
import type { DeliveryTransport } from '../../shared/infrastructure/messaging/transport.js';
import type { ModuleDefinition, ScheduledJob } from '../../shared/infrastructure/composition/module-definition.js';
import { SHARED } from '../../shared/infrastructure/composition/tokens.js';
import { ModuleDatabase } from '../../shared/infrastructure/persistence/module-database.js';
import { JobScheduler } from './job-scheduler.js';
import { ModuleHost, type HostedModule } from './module-host.js';

export type { HostedModule } from './module-host.js';

export interface RuntimeOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly databaseUrl: string;
  /** The modules this process hosts (a task hosts one). */
  readonly modules: readonly ModuleDefinition[];
  /** Every module's inbox declaration (from their contracts), so what this process writes reaches all consumers. */
  readonly inboxes: readonly ModuleInbox[];
  readonly transport: (routing: RoutingTable) => DeliveryTransport | Promise<DeliveryTransport>;
  readonly clock?: Clock;
  /** Connections per module (default DB_POOL_SIZE; a task sizes it to its claimers). */
  readonly poolSize?: number;
  /** Names the connections in pg_stat_activity (default `saga:<schema>`). */
  readonly applicationName?: string;
  /** Schemas the platform itself owns (the console's sessions), migrated with the modules'. */
  readonly platformSchemas?: readonly PlatformSchema[];
}

/**
 * A schema no module owns, kept by the platform in DATABASE_URL's database (the operator console's
 * sessions): its migrations run and are checked with the modules', on a connection of their own.
 */
export interface PlatformSchema {
  readonly schema: string;
  migrations(): Promise<readonly MigrationObject[]>;
}

/**
 * A process's running parts, composed from module definitions: the hosted modules (databases,
 * containers, inbox processors: the dispatcher), the messaging around them (the transport, the
 * outbox relay, the delivery sweeper) and the job scheduler. Entry points choose what to start.
 * Built in dependency order: the transport, the modules, then the relay, which subscribes to the
 * commits of the modules' event buses.
 */
export class Runtime {
  private constructor(
    readonly config: Config,
    readonly logger: Logger,
    readonly routing: RoutingTable,
    readonly transport: DeliveryTransport,
    readonly host: ModuleHost,
    readonly relay: OutboxRelay,
    readonly sweeper: DeliverySweeper,
    readonly scheduler: JobScheduler,
    private readonly platform: { readonly schemas: readonly PlatformSchema[]; readonly databaseUrl: string },
  ) {}

  static async create(options: RuntimeOptions): Promise<Runtime> {
    const { config, logger } = options;
    const routing = new RoutingTable(options.inboxes, config.SAGA_STYLE);
    const root = new Container({ defaultScope: 'Singleton' });
    root.bind(SHARED.Config).toConstantValue(config);
    root.bind(SHARED.Logger).toConstantValue(logger);
    root.bind(SHARED.Clock).toConstantValue(options.clock ?? systemClock);

    const transport = await options.transport(routing);
    const commits = new OutboxCommits();
    const host = await ModuleHost.connect({
      config,
      logger,
      databaseUrl: options.databaseUrl,
      modules: options.modules,
      routing,
      root,
      commits,
      poolSize: options.poolSize ?? config.DB_POOL_SIZE,
      ...(options.applicationName ? { applicationName: options.applicationName } : {}),
    });
    const dbs = host.modules.map((m) => m.db);
    const relay = new OutboxRelay(
      dbs,
      routing,
      transport,
      logger,
      // On ECS a running task waits for its use case's NOTIFY instead of polling (TASK_WAKE_NOTIFY).
      {
        batchSize: config.RELAY_BATCH_SIZE,
        pollMs: config.RELAY_POLL_MS,
        lingerMs: config.RELAY_LINGER_MS,
        notify: transport.name === 'ecs' && config.TASK_WAKE_NOTIFY,
      },
      commits,
    );
    const sweeper = new DeliverySweeper(dbs, transport, logger, {
      redeliveryAfterMs: config.REDELIVERY_AFTER_MS,
      batchSize: config.RELAY_BATCH_SIZE,
    });
    const scheduler = new JobScheduler(jobsOf(config, host, sweeper, transport), logger);
    const platform = { schemas: options.platformSchemas ?? [], databaseUrl: options.databaseUrl };
    return new Runtime(config, logger, routing, transport, host, relay, sweeper, scheduler, platform);
  }

  get modules(): readonly HostedModule[] {
    return this.host.modules;
  }

  module(name: string): HostedModule {
    return this.host.module(name);
  }

  useCases(): string[] {
    return this.host.useCases();
  }

  inboxOf(useCase: string): InboxProcessor {
    return this.host.inboxOf(useCase);
  }

  async migrate(): Promise<void> {
    await this.host.migrate();
    for (const schema of this.platform.schemas) await this.onPlatformSchema(schema, (db) => db.migrate());
  }

  async pendingMigrations(): Promise<string[]> {
    const pending = await this.host.pendingMigrations();
    for (const schema of this.platform.schemas) pending.push(...(await this.onPlatformSchema(schema, (db) => db.pendingMigrations())));
    return pending;
  }

  private async onPlatformSchema<T>(schema: PlatformSchema, work: (db: ModuleDatabase) => Promise<T>): Promise<T> {
    const db = await ModuleDatabase.connect({
      schema: schema.schema,
      entities: [],
      migrations: schema.migrations,
      databaseUrl: this.platform.databaseUrl,
      poolSize: 1,
      logger: this.logger,
    });
    try {
      return await work(db);
    } finally {
      await db.close();
    }
  }

  /** Runs every periodic job once (the sweeper task's whole work). */
  runJobsOnce(): Promise<void> {
    return this.scheduler.runOnce();
  }

  startConsumers(): Promise<void> {
    return this.transport.startConsumers(this.host);
  }

  startRelay(): void {
    this.relay.start();
  }

  startJobs(): void {
    this.scheduler.start();
  }

  /** Stops in order: no new work, then the transport (finishing messages in flight), then the databases. */
  async close(): Promise<void> {
    const jobsStopped = this.scheduler.stop();
    await this.relay.stop();
    await jobsStopped;
    await this.transport.close();
    await this.host.close();
  }
}

/** The messaging upkeep every process with a relay needs, then the modules' own jobs. */
function jobsOf(config: Config, host: ModuleHost, sweeper: DeliverySweeper, transport: DeliveryTransport): ScheduledJob[] {
  const retention = { doneMs: config.RETENTION_DONE_MS, deadMs: config.RETENTION_DEAD_MS };
  const schemas = host.modules.map((m) => m.db.schema);
  const maintain = transport.maintain?.bind(transport);
  return [
    { name: 'messaging.sweep-deliveries', intervalMs: config.SWEEP_INTERVAL_MS, run: () => sweeper.sweepOnce() },
    ...(maintain
      ? [{ name: `messaging.${transport.name}-maintenance`, intervalMs: config.SWEEP_INTERVAL_MS, run: () => maintain(schemas) }]
      : []),
    ...host.modules.map((m) => ({
      name: `messaging.purge-${m.db.schema}`,
      intervalMs: config.CLEANUP_INTERVAL_MS,
      run: () => purgeMessaging(m.db, retention),
    })),
    ...host.modules.flatMap((m) => m.definition.jobs?.(m.container) ?? []),
  ];
}
