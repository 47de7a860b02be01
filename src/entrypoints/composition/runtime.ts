import { Container } from 'inversify';
import type { ModuleInbox } from '../../shared/contract/routing.js';
import { systemClock, type Clock } from '../../shared/kernel/index.js';
import { databaseUrlOf, type Config } from '../../shared/infrastructure/config/config.js';
import { ModuleDatabases, type PlatformSchema } from '../../shared/infrastructure/persistence/module-databases.js';
import type { Logger } from '../../shared/infrastructure/logging/logger.js';
import { DeliverySweeper, purgeMessaging } from '../../shared/infrastructure/messaging/delivery-sweeper.js';
import type { InboxProcessor } from '../../shared/infrastructure/messaging/inbox-processor.js';
import { OutboxCommits } from '../../shared/infrastructure/messaging/outbox-event-bus.js';
import { OutboxRelay } from '../../shared/infrastructure/messaging/outbox-relay.js';
import { RoutingTable } from '../../shared/infrastructure/messaging/routing-table.js';
import type { DeliveryTransport, ReadinessCheck } from '../../shared/infrastructure/messaging/transport.js';
import { DeliveryAdministration } from '../../shared/infrastructure/operations/delivery-administration.js';
import type { ModuleDefinition, ScheduledJob } from '../../shared/infrastructure/composition/module-definition.js';
import { SHARED } from '../../shared/infrastructure/composition/tokens.js';
import { SagaVersions } from '../../shared/infrastructure/operations/saga-versions.js';
import { JobScheduler } from './job-scheduler.js';
import { ModuleHost, type HostedModule } from './module-host.js';

export type { PlatformSchema } from '../../shared/infrastructure/persistence/module-databases.js';

export type { HostedModule } from './module-host.js';

export interface RuntimeOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly databaseUrl: string;
  /** The modules this process hosts (a task hosts one). */
  readonly modules: readonly ModuleDefinition[];
  /** Every module's inbox declaration (from their contracts), so what this process writes reaches all consumers. */
  readonly inboxes: readonly ModuleInbox[];
  readonly transport: (routing: RoutingTable, databases: ModuleDatabases) => DeliveryTransport | Promise<DeliveryTransport>;
  readonly clock?: Clock;
  /** Connections to each database a hosted module lives in (default DB_POOL_SIZE; a task sizes it to its claimers). */
  readonly poolSize?: number;
  /** Names the connections in pg_stat_activity (default `saga`). */
  readonly applicationName?: string;
  /** Schemas the platform itself owns (the console's sessions), migrated with the modules'. */
  readonly platformSchemas?: readonly PlatformSchema[];
}

/**
 * A process's running parts, composed from module definitions: the hosted modules (databases,
 * containers, inbox processors: the dispatcher), the messaging around them (the transport, the
 * outbox relay, the delivery sweeper) and the job scheduler. Entry points choose what to start.
 * Built in dependency order: the transport, the modules, then the relay, which subscribes to the
 * commits of the modules' event buses.
 */
export class Runtime {
  /** The transport's upkeep in a process that runs no other job (see startTransportUpkeep). */
  private upkeep: JobScheduler | undefined;

  private constructor(
    readonly config: Config,
    readonly logger: Logger,
    readonly routing: RoutingTable,
    readonly transport: DeliveryTransport,
    readonly host: ModuleHost,
    readonly relay: OutboxRelay,
    readonly sweeper: DeliverySweeper,
    readonly scheduler: JobScheduler,
    readonly databases: ModuleDatabases,
    /** The platform's own schemas (the console's sessions), migrated with the modules'. */
    private readonly platformSchemas: readonly PlatformSchema[],
  ) {}

  static async create(options: RuntimeOptions): Promise<Runtime> {
    const { config, logger } = options;
    const routing = new RoutingTable(options.inboxes, config.SAGA_STYLE);
    const root = new Container({ defaultScope: 'Singleton' });
    root.bind(SHARED.Config).toConstantValue(config);
    root.bind(SHARED.Logger).toConstantValue(logger);
    root.bind(SHARED.Clock).toConstantValue(options.clock ?? systemClock);

    const databases = await openDatabases(options);
    const transport = await options.transport(routing, databases);
    const commits = new OutboxCommits();
    const host = ModuleHost.create({ config, logger, databases, modules: options.modules, routing, root, commits });
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
        notify: transport.launchesTasks && config.TASK_WAKE_NOTIFY,
      },
      commits,
      (schema) => databases.of(schema),
    );
    const sweeper = new DeliverySweeper(dbs, transport, logger, {
      redeliveryAfterMs: config.REDELIVERY_AFTER_MS,
      batchSize: config.RELAY_BATCH_SIZE,
    });
    const scheduler = new JobScheduler(jobsOf(config, host, sweeper, transport), logger);
    return new Runtime(config, logger, routing, transport, host, relay, sweeper, scheduler, databases, options.platformSchemas ?? []);
  }

  private administrationOnce: DeliveryAdministration | undefined;

  /** The operators' view of the hosted inboxes (dead letters, delivery statistics): the /admin routes', the console's, the metrics' and the CLI's. */
  get administration(): DeliveryAdministration {
    return (this.administrationOnce ??= new DeliveryAdministration(
      this.modules.map((m) => ({ db: m.db, useCases: m.definition.inbox.routes.map((r) => r.useCase) })),
    ));
  }

  /** What /health/ready checks, on the API as on the worker's metrics server: every hosted database, then the transport's own. */
  readiness(): ReadinessCheck[] {
    return [
      { name: 'postgres', check: () => Promise.all(this.modules.map((m) => m.db.ping())).then(() => undefined) },
      ...this.transport.readiness(),
    ];
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
    for (const p of this.platformSchemas) await this.databases.of(p.schema).migrate();
  }

  async pendingMigrations(): Promise<string[]> {
    const pending = await this.host.pendingMigrations();
    for (const p of this.platformSchemas) pending.push(...(await this.databases.of(p.schema).pendingMigrations()));
    return pending;
  }

  /** The hosted modules' saga instances by definition version (ADR 37). */
  sagaVersions(): SagaVersions {
    return new SagaVersions(
      this.modules.flatMap((m) => (m.definition.sagas ? [{ sagas: m.definition.sagas, container: m.container }] : [])),
    );
  }

  /** Runs every periodic job once (the sweeper task's whole work); returns the jobs that failed. */
  runJobsOnce(): ReturnType<JobScheduler['runOnce']> {
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

  /**
   * The transport's upkeep alone, every `intervalMs`, for a long-lived process that runs no other
   * job (the API on ECS: every launched task watched until it stops, ADR 36). Nothing without one.
   */
  startTransportUpkeep(intervalMs: number): void {
    const job = this.scheduler.jobs.find((j) => j.name === `messaging.${this.transport.name}-maintenance`);
    if (!job || this.upkeep) return;
    this.upkeep = new JobScheduler([{ ...job, intervalMs }], this.logger);
    this.upkeep.start();
  }

  /** Stops in order: no new work, then the transport (finishing messages in flight), then the databases. */
  async close(): Promise<void> {
    const jobsStopped = Promise.all([this.scheduler.stop(), this.upkeep?.stop()]);
    await this.relay.stop();
    await jobsStopped;
    await this.transport.close();
    await this.databases.close();
  }
}

/**
 * One pool per database (ADR 32): the hosted modules' schemas, and every other module's that
 * this process writes messages to, each in its database (`<MODULE>_DATABASE_URL`, else the
 * process's database URL). A variable naming no module is refused (ConfigError).
 */
function openDatabases(options: RuntimeOptions): Promise<ModuleDatabases> {
  const { config, logger } = options;
  const modules = options.inboxes.map((i) => i.module);
  return ModuleDatabases.open({
    hosted: options.modules.map((m) => ({ module: m.name, schema: m.inbox.schema, entities: m.entities, migrations: m.migrations })),
    reached: options.inboxes.map((i) => ({ module: i.module, schema: i.schema })),
    platform: options.platformSchemas ?? [],
    defaultUrl: options.databaseUrl,
    urlOf: (module) => databaseUrlOf(config, module, options.databaseUrl, modules),
    poolSize: options.poolSize ?? config.DB_POOL_SIZE,
    preparedStatements: config.DB_PREPARED_STATEMENTS,
    logger,
    ...(options.applicationName ? { applicationName: options.applicationName } : {}),
  });
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
