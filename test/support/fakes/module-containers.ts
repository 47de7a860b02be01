import { Container } from 'inversify';
import { CUSTOMER, customerModule } from '../../../src/modules/customer/customer.module.js';
import { ORDER, orderModule } from '../../../src/modules/order/order.module.js';
import { SHARED } from '../../../src/shared/infrastructure/composition/tokens.js';
import { loadConfig, type Config } from '../../../src/shared/infrastructure/config/config.js';
import type { ModuleInbox, SagaStyle } from '../../../src/shared/contract/routing.js';
import { UndeclaredPublicationError } from '../../../src/shared/infrastructure/messaging/outbox-event-bus.js';
import { systemClock, type EventBusPort } from '../../../src/shared/kernel/index.js';
import type { ModuleDefinition } from '../../../src/shared/infrastructure/composition/module-definition.js';
import { createLogger } from '../../../src/shared/infrastructure/logging/logger.js';
import { InMemoryCreditReservationRepository, InMemoryCustomerRepository } from './customer-repositories.js';
import type { FixedClock } from './fixed-clock.js';
import type { InMemoryDatabase } from './in-memory-database.js';
import {
  InMemoryIdempotencyStore,
  InMemoryOrderRepository,
  InMemoryPlaceOrderSagaRepository,
  InMemorySagaLog,
} from './order-repositories.js';

export function testConfig(style: SagaStyle, env: Record<string, string> = {}): Config {
  return loadConfig({ SAGA_STYLE: style, EVENT_BUS: 'memory', ...env });
}

/**
 * A module's own composition (its ContainerModule) with the shared services and its
 * repositories replaced by in-memory fakes. No database is bound: resolving one fails.
 */
function moduleContainer(config: Config, db: InMemoryDatabase, clock: FixedClock, inbox: ModuleInbox): Container {
  const container = new Container({ defaultScope: 'Singleton' });
  container.bind(SHARED.Config).toConstantValue(config);
  container.bind(SHARED.Clock).toConstantValue(clock);
  container.bind(SHARED.Transaction).toConstantValue(db);
  container.bind(SHARED.EventBus).toConstantValue(declaredOnly(db.eventBus, inbox));
  return container;
}

/** The module's bus refuses a type its contract does not declare it publishes, as the outbox does. */
export function declaredOnly(bus: EventBusPort, inbox: ModuleInbox): EventBusPort {
  return {
    publish: async (messages) => {
      for (const m of messages) if (!inbox.publishes.includes(m.type)) throw new UndeclaredPublicationError(inbox.module, m.type);
      await bus.publish(messages);
    },
  };
}

export function customerContainer(config: Config, db: InMemoryDatabase, clock: FixedClock): Container {
  const container = moduleContainer(config, db, clock, customerModule.inbox);
  container.load(customerModule.bindings);
  container.rebind(CUSTOMER.Customers).toConstantValue(new InMemoryCustomerRepository(db));
  container.rebind(CUSTOMER.Reservations).toConstantValue(new InMemoryCreditReservationRepository(db));
  return container;
}

export function orderContainer(config: Config, db: InMemoryDatabase, clock: FixedClock): Container {
  const container = moduleContainer(config, db, clock, orderModule.inbox);
  container.load(orderModule.bindings);
  container.rebind(ORDER.Orders).toConstantValue(new InMemoryOrderRepository(db));
  container.rebind(ORDER.Sagas).toConstantValue(new InMemoryPlaceOrderSagaRepository(db));
  container.rebind(ORDER.SagaLog).toConstantValue(new InMemorySagaLog(db));
  container.rebind(ORDER.Idempotency).toConstantValue(new InMemoryIdempotencyStore(db));
  return container;
}

/**
 * Any module's own composition (its ContainerModule) over a database that refuses every query:
 * enough to build what it declares (its subscriptions and their message definitions, its views),
 * never to run it. Derives per-module checks from the module list without a fake per module.
 */
export function unqueriedContainer(definition: ModuleDefinition, config: Config): Container {
  const refuse = () => {
    throw new Error(`module ${definition.name}: this container's database may not be queried`);
  };
  // Not a thenable (the container awaits what looks like a promise); every method refuses.
  const db = new Proxy(
    { schema: definition.inbox.schema },
    { get: (target, key) => (key === 'schema' ? target.schema : key === 'then' || typeof key === 'symbol' ? undefined : refuse) },
  );
  const container = new Container({ defaultScope: 'Singleton' });
  container.bind(SHARED.Config).toConstantValue(config);
  container.bind(SHARED.Clock).toConstantValue(systemClock);
  container.bind(SHARED.Logger).toConstantValue(createLogger({ level: 'silent' }));
  container.bind(SHARED.Database).toConstantValue(db as never);
  container.bind(SHARED.Transaction).toConstantValue(db as never);
  container.bind(SHARED.EventBus).toConstantValue(db as never);
  container.load(definition.bindings);
  return container;
}
