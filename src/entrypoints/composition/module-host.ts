import { Container } from 'inversify';
import type { ModuleDefinition } from '../../shared/infrastructure/composition/module-definition.js';
import { SHARED } from '../../shared/infrastructure/composition/tokens.js';
import type { Config } from '../../shared/infrastructure/config/config.js';
import type { Logger } from '../../shared/infrastructure/logging/logger.js';
import { InboxProcessor } from '../../shared/infrastructure/messaging/inbox-processor.js';
import { OutboxEventBus, type OutboxCommits } from '../../shared/infrastructure/messaging/outbox-event-bus.js';
import { assertSubscriptionsMatchInbox } from '../../shared/infrastructure/messaging/subscription.js';
import { type RoutingTable } from '../../shared/infrastructure/messaging/routing-table.js';
import type { DeliveryDispatcher } from '../../shared/infrastructure/messaging/transport.js';
import { migrateMessaging, pendingMessagingMigrations } from '../../shared/infrastructure/persistence/messaging-migrations.js';
import type { ModuleDatabase } from '../../shared/infrastructure/persistence/module-database.js';
import type { ModuleDatabases } from '../../shared/infrastructure/persistence/module-databases.js';

export interface HostedModule {
  readonly definition: ModuleDefinition;
  readonly db: ModuleDatabase;
  readonly container: Container;
  readonly inbox: InboxProcessor;
}

export interface ModuleHostOptions {
  readonly config: Config;
  readonly logger: Logger;
  /** The process's databases: each hosted module's schema in its database's pool. */
  readonly databases: ModuleDatabases;
  readonly modules: readonly ModuleDefinition[];
  readonly routing: RoutingTable;
  /** The parent of every module's container: what all modules share (config, logger, clock). */
  readonly root: Container;
  /** Where each module's event bus reports the commits that wrote outbox rows. */
  readonly commits: OutboxCommits;
}

/**
 * The modules a process hosts: for each, its database (its schema in its database's pool, its
 * migrations), its container and the inbox processor of its subscriptions. It is the dispatcher
 * transports call with the deliveries of a use case.
 */
export class ModuleHost implements DeliveryDispatcher {
  private readonly byUseCase = new Map<string, InboxProcessor>();

  private constructor(
    readonly modules: readonly HostedModule[],
    private readonly routing: RoutingTable,
  ) {
    for (const m of modules) {
      for (const useCase of m.inbox.useCases()) this.byUseCase.set(useCase, m.inbox);
    }
  }

  static create(options: ModuleHostOptions): ModuleHost {
    return new ModuleHost(
      options.modules.map((definition) => host(definition, options)),
      options.routing,
    );
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

  /** Each module's own migrations, then the platform's messaging tables in its schema. */
  async migrate(): Promise<void> {
    for (const m of this.modules) {
      await m.db.migrate();
      await migrateMessaging(m.db);
    }
  }

  async pendingMigrations(): Promise<string[]> {
    const pending: string[] = [];
    for (const m of this.modules) pending.push(...(await m.db.pendingMigrations()), ...(await pendingMessagingMigrations(m.db)));
    return pending;
  }
}

function host(definition: ModuleDefinition, options: ModuleHostOptions): HostedModule {
  const { config, logger } = options;
  const db = options.databases.of(definition.inbox.schema);
  const container = new Container({ parent: options.root, defaultScope: 'Singleton' });
  container.bind(SHARED.Database).toConstantValue(db);
  container.bind(SHARED.Transaction).toConstantValue(db);
  const publications = { module: definition.name, types: new Set(definition.inbox.publishes) };
  container.bind(SHARED.EventBus).toConstantValue(new OutboxEventBus(db, `${definition.name}.api`, options.commits, publications));
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
  return { definition, db, container, inbox };
}
