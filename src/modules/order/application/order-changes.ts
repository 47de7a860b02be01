import { createMessage, type Clock, type Envelope, type EventBusPort, type MessageContext } from '../../../shared/kernel/index.js';
import { OrderApprovedV1, OrderCancelledV1, OrderCreatedV1, OrderRejectedV1 } from '../contract/order.messages.js';
import type { Order } from '../domain/order.aggregate.js';
import type { OrderEvent } from '../domain/order.events.js';
import type { OrderRepositoryPort } from './ports/order.repository.port.js';
import type { SagaLogPort, SagaStep } from './ports/saga-log.port.js';

/** Maps the Order aggregate's domain events to the contract messages other modules see. */
export function toContractMessages(events: readonly OrderEvent[], context: MessageContext): Envelope[] {
  return events.map((e) => {
    switch (e.name) {
      case 'OrderPlaced':
        return createMessage(
          OrderCreatedV1,
          { orderId: e.orderId, customerId: e.customerId, total: e.total.toJSON() },
          context,
          e.occurredAt,
        );
      case 'OrderApproved':
        return createMessage(
          OrderApprovedV1,
          { orderId: e.orderId, customerId: e.customerId, total: e.total.toJSON() },
          context,
          e.occurredAt,
        );
      case 'OrderRejected':
        return createMessage(OrderRejectedV1, { orderId: e.orderId, customerId: e.customerId, reason: e.reason }, context, e.occurredAt);
      case 'OrderCancelled':
        return createMessage(
          OrderCancelledV1,
          { orderId: e.orderId, customerId: e.customerId, total: e.total.toJSON() },
          context,
          e.occurredAt,
        );
    }
  });
}

const STEP_OF_EVENT: Record<OrderEvent['name'], string> = {
  OrderPlaced: 'order-placed',
  OrderApproved: 'order-approved',
  OrderRejected: 'order-rejected',
  OrderCancelled: 'order-cancelled',
};

/**
 * Stores an order change the same way everywhere: the row, its contract messages (outbox) and
 * its saga steps, inside the caller's transaction.
 */
export class OrderChanges {
  constructor(
    private readonly orders: OrderRepositoryPort,
    private readonly bus: EventBusPort,
    private readonly sagaLog: SagaLogPort,
    private readonly clock: Clock,
  ) {}

  async commit(
    order: Order,
    context: MessageContext,
    options: { isNew?: boolean; stepsBefore?: SagaStep[]; extraMessages?: Envelope[]; stepsAfter?: SagaStep[] } = {},
  ): Promise<void> {
    const events = order.pullEvents();
    if (options.isNew) await this.orders.add(order);
    else if (events.length > 0) await this.orders.save(order);
    await this.bus.publish([...toContractMessages(events, context), ...(options.extraMessages ?? [])]);
    const steps: SagaStep[] = [
      ...(options.stepsBefore ?? []),
      ...events.map((e) => ({
        name: STEP_OF_EVENT[e.name],
        at: e.occurredAt,
        outcome: 'done' as const,
        ...(e.name === 'OrderRejected' ? { detail: e.reason } : {}),
      })),
      ...(options.stepsAfter ?? []),
    ];
    if (steps.length > 0) await this.sagaLog.append(order.id, steps);
  }

  async commitSteps(orderId: string, steps: readonly SagaStep[]): Promise<void> {
    await this.sagaLog.append(orderId, steps);
  }

  /** A saga step at `at`: pass the instant of the unit of work's other changes, so its step, event and message share one time. */
  step(name: string, outcome: SagaStep['outcome'], detail?: string, at: Date = this.clock.now()): SagaStep {
    return { name, at, outcome, ...(detail ? { detail } : {}) };
  }
}
