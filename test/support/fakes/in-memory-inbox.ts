import type { Subscription } from '../../../src/shared/infrastructure/messaging/subscription.js';
import type { InMemoryEventBus } from './in-memory-event-bus.js';
import type { SagaStyle } from '../../../src/shared/contract/routing.js';
import { InMemoryTable, type InMemoryDatabase } from './in-memory-database.js';

/** Deliveries marked done, keyed by use case and message id, as in a module's inbox table. */
class DoneDeliveries extends InMemoryTable<string, true> {
  constructor(db: InMemoryDatabase) {
    super(db);
  }

  async has(useCase: string, messageId: string): Promise<boolean> {
    return this.rows.has(`${useCase}/${messageId}`);
  }

  async add(useCase: string, messageId: string): Promise<void> {
    this.rows.set(`${useCase}/${messageId}`, true);
  }
}

/**
 * Serves a module's subscriptions from the in-memory bus the way InboxProcessor serves them
 * from PostgreSQL: only those active under `style`, each run in the module's transaction
 * together with marking its delivery done, so a redelivered message has no second effect.
 * `skipDoneCheck` hands redeliveries to the use cases anyway, to prove they are idempotent
 * on their own.
 */
export function serveSubscriptions(
  bus: InMemoryEventBus,
  db: InMemoryDatabase,
  subscriptions: readonly Subscription[],
  style: SagaStyle,
  options: { skipDoneCheck?: boolean } = {},
): void {
  const done = new DoneDeliveries(db);
  for (const s of subscriptions) {
    if (!s.styles.includes(style)) continue;
    bus.subscribe(
      s.message,
      (message) =>
        db.run(async () => {
          if (!options.skipDoneCheck && (await done.has(s.useCase, message.id))) return;
          await s.handle(message);
          await done.add(s.useCase, message.id);
        }),
      { name: s.useCase },
    );
  }
}
