import type { Logger } from '../logging/logger.js';
import { detached } from '../observability/tracing.js';
import type { Delivery } from './subscription.js';
import { batchesOf, type DeliveryDispatcher, type DeliveryTransport, type ReadinessCheck } from './transport.js';

/**
 * Carries signals by calling the dispatcher in the same process, asynchronously (never inside
 * the publisher's call stack). Deliveries still live in PostgreSQL, so semantics match the other
 * transports: at-least-once, retries and dead letters in the inbox.
 */
export class MemoryTransport implements DeliveryTransport {
  readonly name = 'memory' as const;
  readonly launchesTasks = false;
  private dispatcher: DeliveryDispatcher | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;

  constructor(
    private readonly logger: Logger,
    /** Deliveries of one use case handled per call (one transaction). */
    private readonly batchSize = 1,
  ) {}

  async startConsumers(dispatcher: DeliveryDispatcher): Promise<void> {
    this.dispatcher = dispatcher;
  }

  async signal(deliveries: readonly Delivery[]): Promise<void> {
    const dispatcher = this.dispatcher;
    if (!dispatcher || this.closed) return;
    const served = new Set(dispatcher.useCases());
    for (const { useCase, messageIds } of batchesOf(deliveries, this.batchSize)) {
      if (!served.has(useCase)) continue;
      // Detached from the relay pass that signalled: the delivery's own spans trace it.
      const run = detached(() =>
        new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
          await dispatcher.process(useCase, messageIds);
        }),
      )
        .catch((error: unknown) => this.logger.error({ err: error, useCase, messageIds }, 'in-memory delivery failed'))
        .finally(() => this.inFlight.delete(run));
      this.inFlight.add(run);
    }
  }

  async ping(): Promise<void> {}

  readiness(): readonly ReadinessCheck[] {
    return [{ name: 'memory', check: () => this.ping() }];
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
  }
}
