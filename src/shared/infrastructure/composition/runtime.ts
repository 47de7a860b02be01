import { Container } from 'inversify';
import { systemClock, type Clock, type ModuleInbox } from '../../kernel/index.js';
import type { Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import { DeliverySweeper, purgeMessaging } from '../messaging/delivery-sweeper.js';
import { InboxProcessor } from '../messaging/inbox-processor.js';
import { OutboxEventBus } from '../messaging/outbox-event-bus.js';
import { OutboxRelay } from '../messaging/outbox-relay.js';
import { assertSubscriptionsMatchInbox, RoutingTable } from '../messaging/subscription.js';
import type { DeliveryDispatcher, DeliveryTransport } from '../messaging/transport.js';
import { ModuleDatabase } from '../persistence/module-database.js';
import type { ModuleDefinition, ScheduledJob } from './module-definition.js';
import { SHARED } from './tokens.js';

export interface HostedModule {
  readonly definition: ModuleDefinition;
  readonly db: ModuleDatabase;
  readonly container: Container;
  readonly inbox: InboxProcessor;
}

export interface RuntimeOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly databaseUrl: string;
  /** The modules this process hosts (a task hosts one). */
  readonly modules: readonly ModuleDefinition[];
  /** Every module's inbox declaration (from their contracts), so what this process writes reaches all consumers. */
  readonly inboxes: readonly ModuleInbox[];
  readonly transport: (dispatcher: DeliveryDispatcher, routing: RoutingTable) => DeliveryTransport | Promise<DeliveryTransport>;
  readonly clock?: Clock;
  /** Connections per module (default DB_POOL_SIZE; a task sizes it to its claimers). */
  readonly poolSize?: number;
  /** Names the connections in pg_stat_activity (default `saga:<schema>`). */
  readonly applicationName?: string;
}

/**
 * The running parts of a process, composed from module definitions: one database (schema,
 * mappings, migrations) and one container per module, the outbox relay, the inbox processors,
 * the delivery sweeper and the modules' periodic jobs. Entry points choose which parts to start.
 */
export class Runtime implements DeliveryDispatcher {
  readonly modules: readonly HostedModule[];
  readonly routing: RoutingTable;
  readonly relay: OutboxRelay;
  readonly sweeper: DeliverySweeper;
  readonly transport: DeliveryTransport;
  private readonly byUseCase = new Map<string, InboxProcessor>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly runningJobs = new Set<Promise<unknown>>();

  private constructor(
    readonly config: Config,
    readonly logger: Logger,
    modules: HostedModule[],
    routing: RoutingTable,
    transport: DeliveryTransport,
    relay: OutboxRelay,
  ) {
    this.modules = modules;
    this.routing = routing;
    this.transport = transport;
    this.relay = relay;
    this.sweeper = new DeliverySweeper(
      modules.map((m) => m.db),
      transport,
      logger,
      { redeliveryAfterMs: config.REDELIVERY_AFTER_MS, batchSize: config.RELAY_BATCH_SIZE },
    );
    for (const m of modules) {
      for (const useCase of m.inbox.useCases()) this.byUseCase.set(useCase, m.inbox);
    }
  }

  static async create(options: RuntimeOptions): Promise<Runtime> {
    const { config, logger } = options;
    const routing = new RoutingTable(options.inboxes, config.SAGA_STYLE);
    const root = new Container({ defaultScope: 'Singleton' });
    root.bind(SHARED.Config).toConstantValue(config);
    root.bind(SHARED.Logger).toConstantValue(logger);
    root.bind(SHARED.Clock).toConstantValue(options.clock ?? systemClock);

    // The relay needs the transport, the transport needs the dispatcher (this runtime), and the
    // outboxes need the relay: late binding through these holders breaks the cycle.
    let relay: OutboxRelay | undefined;
    let runtime: Runtime | undefined;
    const dispatcher: DeliveryDispatcher = {
      useCases: () => runtime?.useCases() ?? [],
      process: (useCase, messageIds) => {
        if (!runtime) throw new Error('runtime not started');
        return runtime.process(useCase, messageIds);
      },
    };
    const transport = await options.transport(dispatcher, routing);

    const hosted: HostedModule[] = [];
    for (const definition of options.modules) {
      const db = await ModuleDatabase.connect({
        schema: definition.inbox.schema,
        entities: definition.entities,
        migrations: definition.migrations,
        databaseUrl: options.databaseUrl,
        poolSize: options.poolSize ?? config.DB_POOL_SIZE,
        preparedStatements: config.DB_PREPARED_STATEMENTS,
        logger,
        ...(options.applicationName ? { applicationName: options.applicationName } : {}),
      });
      const container = new Container({ parent: root, defaultScope: 'Singleton' });
      container.bind(SHARED.Database).toConstantValue(db);
      container.bind(SHARED.Transaction).toConstantValue(db);
      container.bind(SHARED.EventBus).toConstantValue(new OutboxEventBus(db, `${definition.name}.api`, () => relay?.wake(db)));
      container.load(definition.bindings);
      const subscriptions = definition.subscriptions(container);
      assertSubscriptionsMatchInbox(definition.inbox, subscriptions);
      // Every subscription, whatever the style: the routing table decides (by style) what is
      // delivered, and a delivery routed before a style switch is still handled.
      const inbox = new InboxProcessor(db, subscriptions, logger, {
        maxAttempts: config.DELIVERY_MAX_ATTEMPTS,
        retryBaseMs: config.RETRY_BASE_MS,
        retryMaxMs: config.RETRY_MAX_MS,
      });
      hosted.push({ definition, db, container, inbox });
    }
    relay = new OutboxRelay(
      hosted.map((m) => m.db),
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
    );
    runtime = new Runtime(config, logger, hosted, routing, transport, relay);
    return runtime;
  }

  module(name: string): HostedModule {
    const m = this.modules.find((x) => x.definition.name === name);
    if (!m) throw new Error(`module ${name} is not hosted by this process`);
    return m;
  }

  /** The hosted use cases that receive messages under the configured saga style (the ones worth a worker). */
  useCases(): string[] {
    const active = new Set(this.routing.activeUseCases());
    return [...this.byUseCase.keys()].filter((u) => active.has(u));
  }

  async process(useCase: string, messageIds: readonly string[]): Promise<void> {
    await this.inboxOf(useCase).process(useCase, messageIds);
  }

  inboxOf(useCase: string): InboxProcessor {
    const inbox = this.byUseCase.get(useCase);
    if (!inbox) throw new Error(`use case ${useCase} is not hosted by this process`);
    return inbox;
  }

  async migrate(): Promise<void> {
    for (const m of this.modules) await m.db.migrate();
  }

  async pendingMigrations(): Promise<string[]> {
    const pending: string[] = [];
    for (const m of this.modules) pending.push(...(await m.db.pendingMigrations()));
    return pending;
  }

  jobs(): ScheduledJob[] {
    const retention = { doneMs: this.config.RETENTION_DONE_MS, deadMs: this.config.RETENTION_DEAD_MS };
    return [
      { name: 'messaging.sweep-deliveries', intervalMs: this.config.SWEEP_INTERVAL_MS, run: () => this.sweeper.sweepOnce() },
      ...(this.transport.maintain
        ? [{ name: `messaging.${this.transport.name}-maintenance`, intervalMs: this.config.SWEEP_INTERVAL_MS, run: () => this.transport.maintain!(this.modules.map((m) => m.db.schema)) }]
        : []),
      ...this.modules.map((m) => ({
        name: `messaging.purge-${m.db.schema}`,
        intervalMs: this.config.CLEANUP_INTERVAL_MS,
        run: () => purgeMessaging(m.db, retention),
      })),
      ...this.modules.flatMap((m) => m.definition.jobs?.(m.container) ?? []),
    ];
  }

  /** Runs every periodic job once (the sweeper task's whole work). */
  async runJobsOnce(): Promise<void> {
    for (const job of this.jobs()) {
      try {
        await job.run();
      } catch (error) {
        this.logger.error({ err: error, job: job.name }, 'job failed');
      }
    }
  }

  startConsumers(): Promise<void> {
    return this.transport.startConsumers(this);
  }

  startRelay(): void {
    this.relay.start();
  }

  startJobs(): void {
    for (const job of this.jobs()) {
      let running = false;
      const timer = setInterval(() => {
        if (running) return;
        running = true;
        const run = job
          .run()
          .catch((error: unknown) => this.logger.error({ err: error, job: job.name }, 'job failed'))
          .finally(() => {
            running = false;
            this.runningJobs.delete(run);
          });
        this.runningJobs.add(run);
      }, job.intervalMs);
      timer.unref();
      this.timers.push(timer);
    }
  }

  /** Stops in order: no new work, then the transport (finishing messages in flight), then the databases. */
  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await this.relay.stop();
    await Promise.allSettled([...this.runningJobs]);
    await this.transport.close();
    await Promise.allSettled(this.modules.map((m) => m.db.close()));
  }
}
