import { CancelOrderHandler } from '../../../src/modules/order/application/cancel-order/cancel-order.handler.js';
import { ExpireOverdueOrdersHandler } from '../../../src/modules/order/application/expire-overdue-orders/expire-overdue-orders.handler.js';
import { GetOrderQuery } from '../../../src/modules/order/application/get-order/get-order.query.js';
import { ListOrdersQuery } from '../../../src/modules/order/application/list-orders/list-orders.query.js';
import { OrderChanges } from '../../../src/modules/order/application/order-changes.js';
import type { OrderView } from '../../../src/modules/order/application/order.view.js';
import { PlaceOrderSagaOrchestrator } from '../../../src/modules/order/application/place-order-saga/place-order-saga.orchestrator.js';
import { PlaceOrderHandler, type PlaceOrderCommand } from '../../../src/modules/order/application/place-order/place-order.handler.js';
import { InMemoryEventBus } from './in-memory-event-bus.js';
import { orderInbox } from '../../../src/modules/order/contract/index.js';
import { contextOf, createMessage, uuidv7, type Envelope, type MessageDefinition } from '../../../src/shared/kernel/index.js';
import { ORDER, orderModule } from '../../../src/modules/order/order.module.js';
import type { SagaCoordinatorsPort } from '../../../src/modules/order/application/ports/saga-coordinator.port.js';
import { orderContainer, testConfig } from './module-containers.js';
import { deliveryTo, type UseCaseOf } from './in-memory-inbox.js';
import type { SagaStyle } from '../../../src/shared/contract/routing.js';
import { FixedClock } from './fixed-clock.js';
import { InMemoryDatabase } from './in-memory-database.js';
import {
  InMemoryIdempotencyStore,
  InMemoryOrderRepository,
  InMemoryPlaceOrderSagaRepository,
  InMemorySagaLog,
} from './order-repositories.js';

export const DEFAULT_DEADLINE_MS = 60_000;

/**
 * The Order module's use cases over in-memory fakes, wired by order.module.ts itself: its bindings
 * with the repositories replaced, and its own subscriptions for the use cases that react to
 * messages (a new one needs no line here).
 */
export interface OrderTestbed {
  readonly style: SagaStyle;
  readonly db: InMemoryDatabase;
  /** What the module committed to publish (its outbox, after commit). */
  readonly bus: InMemoryEventBus;
  readonly clock: FixedClock;
  readonly orders: InMemoryOrderRepository;
  readonly sagas: InMemoryPlaceOrderSagaRepository;
  readonly sagaLog: InMemorySagaLog;
  readonly idempotency: InMemoryIdempotencyStore;
  readonly changes: OrderChanges;
  readonly orchestrator: PlaceOrderSagaOrchestrator;
  readonly sagaCoordinators: SagaCoordinatorsPort;
  readonly placeOrder: PlaceOrderHandler;
  readonly cancelOrder: CancelOrderHandler;
  readonly getOrder: GetOrderQuery;
  readonly listOrders: ListOrdersQuery;
  readonly expireOverdueOrders: ExpireOverdueOrdersHandler;
  /** Places an order of 6000 USD for a new customer id unless told otherwise. */
  order(overrides?: Partial<PlaceOrderCommand>): Promise<OrderView>;
  /** Delivers a message to a use case through the module's own subscriptions, inside a transaction, as the inbox does. */
  deliver(useCase: UseCaseOf<typeof orderInbox>, message: Envelope): Promise<void>;
  /** The order's credit request as published: order.created.v1 (choreography) or customer.reserve-credit.v1 (orchestration). */
  creditRequestOf(orderId: string): Envelope;
  /** A message the Customer module would send in answer to `cause`: same saga, caused by it. */
  replyTo<P>(cause: Envelope, definition: MessageDefinition<P>, payload: P): Envelope<P>;
}

export interface OrderTestbedOptions {
  readonly style?: SagaStyle;
  readonly deadlineMs?: number;
  readonly bus?: InMemoryEventBus;
  readonly clock?: FixedClock;
  /** Batch size of the deadline job. */
  readonly expiryBatchSize?: number;
}

export function orderTestbed(options: OrderTestbedOptions = {}): OrderTestbed {
  const style = options.style ?? 'choreography';
  const bus = options.bus ?? new InMemoryEventBus();
  const clock = options.clock ?? new FixedClock();
  const db = new InMemoryDatabase(bus);
  const config = testConfig(style, { ORDER_DEADLINE_MS: String(options.deadlineMs ?? DEFAULT_DEADLINE_MS) });
  const container = orderContainer(config, db, clock);
  const orders = container.get(ORDER.Orders) as InMemoryOrderRepository;
  const sagaCoordinators = container.get(ORDER.SagaCoordinators);
  const placeOrder = container.get(ORDER.PlaceOrder);
  return {
    style,
    db,
    bus,
    clock,
    orders,
    sagas: container.get(ORDER.Sagas) as InMemoryPlaceOrderSagaRepository,
    sagaLog: container.get(ORDER.SagaLog) as InMemorySagaLog,
    idempotency: container.get(ORDER.Idempotency) as InMemoryIdempotencyStore,
    changes: container.get(ORDER.Changes),
    orchestrator: container.get(ORDER.Orchestrator),
    sagaCoordinators,
    placeOrder,
    cancelOrder: container.get(ORDER.CancelOrder),
    getOrder: container.get(ORDER.GetOrder),
    listOrders: container.get(ORDER.ListOrders),
    // Not the module's binding: that one logs a failed expiry, and the tests choose the batch size.
    expireOverdueOrders: new ExpireOverdueOrdersHandler(db, sagaCoordinators, clock, undefined, options.expiryBatchSize),
    order: async (overrides = {}) =>
      (await placeOrder.execute({ customerId: uuidv7(), total: { amount: 6_000, currency: 'USD' }, ...overrides })).order,
    deliver: deliveryTo(db, orderModule.subscriptions(container)),
    creditRequestOf: (orderId) => {
      const type = style === 'choreography' ? 'order.created.v1' : 'customer.reserve-credit.v1';
      const request = bus.published.find((m) => m.type === type && m.correlationId === orderId);
      if (!request) throw new Error(`order ${orderId} published no ${type}`);
      return request;
    },
    replyTo: (cause, definition, payload) => createMessage(definition, payload, contextOf(cause), clock.now()),
  };
}
