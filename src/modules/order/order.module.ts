import { ContainerModule, type Container, type ServiceIdentifier } from 'inversify';
import type { SagaStyle } from '../../shared/contract/routing.js';
import { SHARED } from '../../shared/infrastructure/composition/tokens.js';
import type { ModuleDefinition } from '../../shared/infrastructure/composition/module-definition.js';
import { handledBy, subscriptionsOf, type Subscription } from '../../shared/infrastructure/messaging/subscription.js';
import { CreditReleasedV1, CreditReservationFailedV1, CreditReservedV1 } from '../customer/contract/index.js';
import { ApproveOrderOnCreditReserved } from './application/approve-order/approve-order-on-credit-reserved.handler.js';
import { CancelOrderHandler } from './application/cancel-order/cancel-order.handler.js';
import { ExpireOverdueOrdersHandler } from './application/expire-overdue-orders/expire-overdue-orders.handler.js';
import { GetOrderQuery } from './application/get-order/get-order.query.js';
import { ListOrdersQuery } from './application/list-orders/list-orders.query.js';
import { OrderChanges } from './application/order-changes.js';
import { PlaceOrderSagaRepliesHandler } from './application/place-order-saga/place-order-saga-replies.handler.js';
import { PlaceOrderSagaOrchestrator } from './application/place-order-saga/place-order-saga.orchestrator.js';
import { PlaceOrderHandler } from './application/place-order/place-order.handler.js';
import type { IdempotencyStorePort } from './application/ports/idempotency.port.js';
import type { OrderRepositoryPort } from './application/ports/order.repository.port.js';
import type { SagaCoordinatorPort, SagaCoordinatorsPort } from './application/ports/saga-coordinator.port.js';
import type { PlaceOrderSagaRepositoryPort } from './application/ports/saga.repository.port.js';
import type { SagaLogPort } from './application/ports/saga-log.port.js';
import { RecordCreditReleaseOnCreditReleased } from './application/record-credit-release/record-credit-release-on-credit-released.handler.js';
import { RejectOrderOnCreditReservationFailed } from './application/reject-order/reject-order-on-credit-reservation-failed.handler.js';
import { ChoreographySagaCoordinator } from './application/saga-coordination/choreography.saga-coordinator.js';
import { OrchestrationSagaCoordinator } from './application/saga-coordination/orchestration.saga-coordinator.js';
import { SagaCoordinators } from './application/saga-coordination/saga-coordinators.js';
import { orderInbox } from './contract/order.inbox.js';
import { OrderApprovedV1, OrderCancelledV1, OrderCreatedV1, OrderRejectedV1 } from './contract/order.messages.js';
import { PLACE_ORDER_SAGA_DEFINITIONS } from './domain/place-order-saga.definitions.js';
import { PgSagaInstances } from './infrastructure/operations/pg-saga-instances.js';
import { orderScopes } from './contract/order.scopes.js';
import { orderConsistency } from './infrastructure/operations/order-consistency.js';
import { registerOrderRoutes } from './infrastructure/http/order.routes.js';
import { OrderSchema, SagaStepSchema } from './infrastructure/persistence/order.entity-schema.js';
import { PgIdempotencyStore } from './infrastructure/persistence/pg-idempotency-store.repository.js';
import { PgOrderRepository } from './infrastructure/persistence/pg-order.repository.js';
import { PgPlaceOrderSagaRepository } from './infrastructure/persistence/pg-place-order-saga.repository.js';
import { PgSagaLog } from './infrastructure/persistence/pg-saga-log.repository.js';
import { sagaDurationMetric } from './infrastructure/operations/order-metrics.js';
import { PgOrderSagaView } from './infrastructure/operations/pg-order-saga-view.js';

export const ORDER = {
  Orders: Symbol.for('order.OrderRepository') as ServiceIdentifier<OrderRepositoryPort>,
  Sagas: Symbol.for('order.PlaceOrderSagaRepository') as ServiceIdentifier<PlaceOrderSagaRepositoryPort>,
  SagaLog: Symbol.for('order.SagaLog') as ServiceIdentifier<SagaLogPort>,
  Idempotency: Symbol.for('order.IdempotencyStore') as ServiceIdentifier<IdempotencyStorePort>,
  Changes: Symbol.for('order.OrderChanges') as ServiceIdentifier<OrderChanges>,
  Orchestrator: Symbol.for('order.PlaceOrderSagaOrchestrator') as ServiceIdentifier<PlaceOrderSagaOrchestrator>,
  SagaCoordinators: Symbol.for('order.SagaCoordinators') as ServiceIdentifier<SagaCoordinatorsPort>,
  PlaceOrder: Symbol.for('order.PlaceOrder') as ServiceIdentifier<PlaceOrderHandler>,
  CancelOrder: Symbol.for('order.CancelOrder') as ServiceIdentifier<CancelOrderHandler>,
  GetOrder: Symbol.for('order.GetOrder') as ServiceIdentifier<GetOrderQuery>,
  ListOrders: Symbol.for('order.ListOrders') as ServiceIdentifier<ListOrdersQuery>,
  ExpireOverdueOrders: Symbol.for('order.ExpireOverdueOrders') as ServiceIdentifier<ExpireOverdueOrdersHandler>,
} as const;

/** The Order module's wiring: application classes stay free of the container. */
const bindings = new ContainerModule(({ bind }) => {
  bind(ORDER.Orders).toDynamicValue((c) => new PgOrderRepository(c.get(SHARED.Database)));
  bind(ORDER.Sagas).toDynamicValue((c) => new PgPlaceOrderSagaRepository(c.get(SHARED.Database)));
  bind(ORDER.SagaLog).toDynamicValue((c) => new PgSagaLog(c.get(SHARED.Database)));
  bind(ORDER.Idempotency).toDynamicValue((c) => new PgIdempotencyStore(c.get(SHARED.Database)));
  bind(ORDER.Changes).toDynamicValue(
    (c) => new OrderChanges(c.get(ORDER.Orders), c.get(SHARED.EventBus), c.get(ORDER.SagaLog), c.get(SHARED.Clock)),
  );
  bind(ORDER.Orchestrator).toDynamicValue(
    (c) => new PlaceOrderSagaOrchestrator(c.get(ORDER.Sagas), c.get(ORDER.Orders), c.get(ORDER.Changes), c.get(SHARED.Clock)),
  );
  // One coordinator per style (a Record: a style without one does not compile); new orders take
  // the configured style, an order already placed keeps its own (ADR 21).
  bind(ORDER.SagaCoordinators).toDynamicValue((c) => {
    const byStyle: Record<SagaStyle, SagaCoordinatorPort> = {
      choreography: new ChoreographySagaCoordinator(c.get(ORDER.Orders), c.get(ORDER.Changes), c.get(SHARED.Clock)),
      orchestration: new OrchestrationSagaCoordinator(c.get(ORDER.Orchestrator), c.get(ORDER.Sagas), c.get(ORDER.Changes)),
    };
    return new SagaCoordinators(Object.values(byStyle), c.get(SHARED.Config).SAGA_STYLE);
  });
  bind(ORDER.PlaceOrder).toDynamicValue(
    (c) =>
      new PlaceOrderHandler(
        c.get(SHARED.Transaction),
        c.get(ORDER.Orders),
        c.get(ORDER.Idempotency),
        c.get(ORDER.SagaCoordinators),
        c.get(SHARED.Clock),
        {
          deadlineMs: c.get(SHARED.Config).ORDER_DEADLINE_MS,
        },
      ),
  );
  bind(ORDER.CancelOrder).toDynamicValue(
    (c) => new CancelOrderHandler(c.get(SHARED.Transaction), c.get(ORDER.Orders), c.get(ORDER.SagaCoordinators), c.get(SHARED.Clock)),
  );
  bind(ORDER.GetOrder).toDynamicValue((c) => new GetOrderQuery(c.get(ORDER.Orders), c.get(ORDER.SagaCoordinators), c.get(ORDER.SagaLog)));
  bind(ORDER.ListOrders).toDynamicValue((c) => new ListOrdersQuery(c.get(ORDER.Orders)));
  bind(ORDER.ExpireOverdueOrders).toDynamicValue(
    (c) =>
      new ExpireOverdueOrdersHandler(c.get(SHARED.Transaction), c.get(ORDER.SagaCoordinators), c.get(SHARED.Clock), ({ id, error }) =>
        c
          .get(SHARED.Logger)
          .warn({ err: error, orderId: id, correlationId: id }, 'could not expire an overdue order; the next run retries'),
      ),
  );
});

function subscriptions(container: Container): Subscription[] {
  const changes = container.get(ORDER.Changes);
  const orders = container.get(ORDER.Orders);
  const clock = container.get(SHARED.Clock);
  const replies = new PlaceOrderSagaRepliesHandler(container.get(ORDER.Orchestrator));
  return subscriptionsOf(orderInbox, {
    'order.approve-order': {
      'customer.credit-reserved.v1': handledBy(CreditReservedV1, new ApproveOrderOnCreditReserved(orders, changes, clock)),
    },
    'order.reject-order': {
      'customer.credit-reservation-failed.v1': handledBy(
        CreditReservationFailedV1,
        new RejectOrderOnCreditReservationFailed(orders, changes, clock),
      ),
    },
    'order.record-credit-release': {
      'customer.credit-released.v1': handledBy(CreditReleasedV1, new RecordCreditReleaseOnCreditReleased(changes)),
    },
    'order.place-order-saga': {
      'customer.credit-reserved.v1': handledBy(CreditReservedV1, replies),
      'customer.credit-reservation-failed.v1': handledBy(CreditReservationFailedV1, replies),
      'customer.credit-released.v1': handledBy(CreditReleasedV1, replies),
    },
  });
}

export const orderModule: ModuleDefinition = {
  name: 'order',
  inbox: orderInbox,
  entities: [OrderSchema, SagaStepSchema],
  migrations: async () => (await import('./infrastructure/persistence/migrations/index.js')).orderMigrations,
  bindings,
  subscriptions,
  scopes: orderScopes,
  consistency: orderConsistency,
  registerRoutes(app, container) {
    registerOrderRoutes(app, {
      place: container.get(ORDER.PlaceOrder),
      cancel: container.get(ORDER.CancelOrder),
      get: container.get(ORDER.GetOrder),
      list: container.get(ORDER.ListOrders),
    });
  },
  sagaView: (container) => new PgOrderSagaView(container.get(SHARED.Database)),
  messages: [OrderCreatedV1, OrderApprovedV1, OrderRejectedV1, OrderCancelledV1],
  sagas: { definitions: PLACE_ORDER_SAGA_DEFINITIONS, instances: (container) => new PgSagaInstances(container.get(SHARED.Database)) },
  metrics: (container) => [sagaDurationMetric(container.get(SHARED.Database), container.get(SHARED.Config).ORDER_DEADLINE_MS)],
  jobs(container) {
    const config = container.get(SHARED.Config);
    return [
      {
        name: 'order.expire-overdue-orders',
        intervalMs: Math.min(1_000, config.ORDER_DEADLINE_MS),
        run: () => container.get(ORDER.ExpireOverdueOrders).execute(),
      },
      {
        name: 'order.purge-idempotency-keys',
        intervalMs: config.CLEANUP_INTERVAL_MS,
        run: () => container.get(ORDER.Idempotency).purgeOlderThan(config.RETENTION_IDEMPOTENCY_MS),
      },
    ];
  },
};
