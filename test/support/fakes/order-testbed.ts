import { ApproveOrderOnCreditReserved } from '../../../src/modules/order/application/approve-order/approve-order-on-credit-reserved.handler.js';
import { CancelOrderHandler } from '../../../src/modules/order/application/cancel-order/cancel-order.handler.js';
import { ExpireOverdueOrdersHandler } from '../../../src/modules/order/application/expire-overdue-orders/expire-overdue-orders.handler.js';
import { GetOrderQuery } from '../../../src/modules/order/application/get-order/get-order.query.js';
import { ListOrdersQuery } from '../../../src/modules/order/application/list-orders/list-orders.query.js';
import { OrderChanges } from '../../../src/modules/order/application/order-changes.js';
import type { OrderView } from '../../../src/modules/order/application/order.view.js';
import { PlaceOrderSagaRepliesHandler } from '../../../src/modules/order/application/place-order-saga/place-order-saga-replies.handler.js';
import { PlaceOrderSagaOrchestrator } from '../../../src/modules/order/application/place-order-saga/place-order-saga.orchestrator.js';
import { PlaceOrderHandler, type PlaceOrderCommand } from '../../../src/modules/order/application/place-order/place-order.handler.js';
import { ChoreographySagaCoordinator } from '../../../src/modules/order/application/saga-coordination/choreography.saga-coordinator.js';
import { OrchestrationSagaCoordinator } from '../../../src/modules/order/application/saga-coordination/orchestration.saga-coordinator.js';
import { SagaCoordinators } from '../../../src/modules/order/application/saga-coordination/saga-coordinators.js';
import { RecordCreditReleaseOnCreditReleased } from '../../../src/modules/order/application/record-credit-release/record-credit-release-on-credit-released.handler.js';
import { RejectOrderOnCreditReservationFailed } from '../../../src/modules/order/application/reject-order/reject-order-on-credit-reservation-failed.handler.js';
import { InMemoryEventBus } from './in-memory-event-bus.js';
import { declaredOnly } from './module-containers.js';
import { orderInbox } from '../../../src/modules/order/contract/index.js';
import {
  contextOf,
  createMessage,
  uuidv7,
  type Envelope,
  type MessageDefinition,
  type MessageHandler,
} from '../../../src/shared/kernel/index.js';
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

/** The Order module's use cases over in-memory fakes, wired as order.module.ts wires them. */
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
  readonly sagaCoordinators: SagaCoordinators;
  readonly placeOrder: PlaceOrderHandler;
  readonly cancelOrder: CancelOrderHandler;
  readonly getOrder: GetOrderQuery;
  readonly listOrders: ListOrdersQuery;
  readonly expireOverdueOrders: ExpireOverdueOrdersHandler;
  readonly approveOrder: ApproveOrderOnCreditReserved;
  readonly rejectOrder: RejectOrderOnCreditReservationFailed;
  readonly recordCreditRelease: RecordCreditReleaseOnCreditReleased;
  readonly sagaReplies: PlaceOrderSagaRepliesHandler;
  /** Places an order of 6000 USD for a new customer id unless told otherwise. */
  order(overrides?: Partial<PlaceOrderCommand>): Promise<OrderView>;
  /** Runs a message handler as the inbox does: inside a transaction. */
  deliver<P>(handler: MessageHandler<P>, message: Envelope<P>): Promise<void>;
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
  const orders = new InMemoryOrderRepository(db);
  const sagas = new InMemoryPlaceOrderSagaRepository(db);
  const sagaLog = new InMemorySagaLog(db);
  const idempotency = new InMemoryIdempotencyStore(db);
  const changes = new OrderChanges(orders, declaredOnly(db.eventBus, orderInbox), sagaLog, clock);
  const orchestrator = new PlaceOrderSagaOrchestrator(sagas, orders, changes, clock);
  const sagaCoordinators = new SagaCoordinators(
    [new ChoreographySagaCoordinator(orders, changes, clock), new OrchestrationSagaCoordinator(orchestrator, sagas, changes)],
    style,
  );
  const placeOrder = new PlaceOrderHandler(db, orders, idempotency, sagaCoordinators, clock, {
    deadlineMs: options.deadlineMs ?? DEFAULT_DEADLINE_MS,
  });
  return {
    style,
    db,
    bus,
    clock,
    orders,
    sagas,
    sagaLog,
    idempotency,
    changes,
    orchestrator,
    sagaCoordinators,
    placeOrder,
    cancelOrder: new CancelOrderHandler(db, orders, sagaCoordinators, clock),
    getOrder: new GetOrderQuery(orders, sagaCoordinators, sagaLog),
    listOrders: new ListOrdersQuery(orders),
    expireOverdueOrders: new ExpireOverdueOrdersHandler(db, sagaCoordinators, clock, undefined, options.expiryBatchSize),
    approveOrder: new ApproveOrderOnCreditReserved(orders, changes, clock),
    rejectOrder: new RejectOrderOnCreditReservationFailed(orders, changes, clock),
    recordCreditRelease: new RecordCreditReleaseOnCreditReleased(changes),
    sagaReplies: new PlaceOrderSagaRepliesHandler(orchestrator),
    order: async (overrides = {}) =>
      (await placeOrder.execute({ customerId: uuidv7(), total: { amount: 6_000, currency: 'USD' }, ...overrides })).order,
    deliver: (handler, message) => db.run(() => handler.handle(message)),
    creditRequestOf: (orderId) => {
      const type = style === 'choreography' ? 'order.created.v1' : 'customer.reserve-credit.v1';
      const request = bus.published.find((m) => m.type === type && m.correlationId === orderId);
      if (!request) throw new Error(`order ${orderId} published no ${type}`);
      return request;
    },
    replyTo: (cause, definition, payload) => createMessage(definition, payload, contextOf(cause), clock.now()),
  };
}
