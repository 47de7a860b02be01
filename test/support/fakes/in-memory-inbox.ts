import type { Subscription } from '../../../src/shared/infrastructure/messaging/subscription.js';
import type { InMemoryEventBus } from './in-memory-event-bus.js';
import type { ModuleInbox, SagaStyle } from '../../../src/shared/contract/routing.js';
import type { Envelope } from '../../../src/shared/kernel/index.js';
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

/** The use cases a module's contract routes messages to (literal when the inbox is declared `as const`). */
export type UseCaseOf<I extends ModuleInbox> = I['routes'][number]['useCase'];

/**
 * Delivers a message to one use case of a module through the module's own subscriptions (what
 * its `subscriptions(container)` returns, the handlers the inbox runs), inside its transaction, as
 * the inbox does: a testbed never wires a reacting use case a second time by hand.
 */
export function deliveryTo(
  db: InMemoryDatabase,
  subscriptions: readonly Subscription[],
): (useCase: string, message: Envelope) => Promise<void> {
  return (useCase, message) => {
    const subscription = subscriptions.find((s) => s.useCase === useCase && s.message.type === message.type);
    if (!subscription) throw new Error(`no subscription of ${useCase} to ${message.type}`);
    return db.run(() => subscription.handle(message));
  };
}
