import type { ServiceIdentifier } from 'inversify';
import type { Clock, EventBusPort, TransactionPort } from '../../kernel/index.js';
import type { Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import type { ModuleDatabase } from '../persistence/module-database.js';

/**
 * What the composition root provides to every module's container. Each module gets its own
 * child container, so `Database` and `EventBus` are that module's schema and outbox.
 */
export const SHARED = {
  Config: Symbol.for('shared.Config') as ServiceIdentifier<Config>,
  Logger: Symbol.for('shared.Logger') as ServiceIdentifier<Logger>,
  Clock: Symbol.for('shared.Clock') as ServiceIdentifier<Clock>,
  Database: Symbol.for('shared.ModuleDatabase') as ServiceIdentifier<ModuleDatabase>,
  Transaction: Symbol.for('shared.Transaction') as ServiceIdentifier<TransactionPort>,
  EventBus: Symbol.for('shared.EventBus') as ServiceIdentifier<EventBusPort>,
} as const;
