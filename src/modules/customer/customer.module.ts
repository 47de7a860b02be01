import { ContainerModule, type Container, type ServiceIdentifier } from 'inversify';
import { SHARED } from '../../shared/infrastructure/composition/tokens.js';
import type { ModuleDefinition } from '../../shared/infrastructure/composition/module-definition.js';
import { handledBy, subscriptionsOf, type Subscription } from '../../shared/infrastructure/messaging/subscription.js';
import { OrderCancelledV1, OrderCreatedV1, OrderRejectedV1 } from '../order/contract/index.js';
import { CustomerChanges } from './application/customer-changes.js';
import { GetCustomerQuery } from './application/get-customer/get-customer.query.js';
import type { CreditReservationRepositoryPort } from './application/ports/credit-reservation.repository.port.js';
import type { CustomerRepositoryPort } from './application/ports/customer.repository.port.js';
import { RegisterCustomerHandler } from './application/register-customer/register-customer.handler.js';
import { ReleaseCreditHandler } from './application/release-credit/release-credit.handler.js';
import { ReserveCreditHandler } from './application/reserve-credit/reserve-credit.handler.js';
import { customerInbox } from './contract/customer.inbox.js';
import { customerScopes } from './contract/customer.scopes.js';
import { customerConsistency } from './infrastructure/operations/customer-consistency.js';
import {
  CreditReleasedV1,
  CreditReservationFailedV1,
  CreditReservedV1,
  ReleaseCreditV1,
  ReserveCreditV1,
} from './contract/customer.messages.js';
import { registerCustomerRoutes } from './infrastructure/http/customer.routes.js';
import { PgCreditReservationRepository } from './infrastructure/persistence/pg-credit-reservation.repository.js';
import { PgCustomerRepository } from './infrastructure/persistence/pg-customer.repository.js';

export const CUSTOMER = {
  Customers: Symbol.for('customer.CustomerRepository') as ServiceIdentifier<CustomerRepositoryPort>,
  Reservations: Symbol.for('customer.CreditReservationRepository') as ServiceIdentifier<CreditReservationRepositoryPort>,
  Changes: Symbol.for('customer.CustomerChanges') as ServiceIdentifier<CustomerChanges>,
  RegisterCustomer: Symbol.for('customer.RegisterCustomer') as ServiceIdentifier<RegisterCustomerHandler>,
  GetCustomer: Symbol.for('customer.GetCustomer') as ServiceIdentifier<GetCustomerQuery>,
} as const;

/** The Customer module's wiring: application classes stay free of the container. */
const bindings = new ContainerModule(({ bind }) => {
  bind(CUSTOMER.Customers).toDynamicValue((c) => new PgCustomerRepository(c.get(SHARED.Database)));
  bind(CUSTOMER.Reservations).toDynamicValue((c) => new PgCreditReservationRepository(c.get(SHARED.Database)));
  bind(CUSTOMER.Changes).toDynamicValue(
    (c) => new CustomerChanges(c.get(CUSTOMER.Customers), c.get(CUSTOMER.Reservations), c.get(SHARED.EventBus)),
  );
  bind(CUSTOMER.RegisterCustomer).toDynamicValue(
    (c) => new RegisterCustomerHandler(c.get(SHARED.Transaction), c.get(CUSTOMER.Changes), c.get(SHARED.Clock)),
  );
  bind(CUSTOMER.GetCustomer).toDynamicValue((c) => new GetCustomerQuery(c.get(CUSTOMER.Customers)));
});

function subscriptions(container: Container): Subscription[] {
  const customers = container.get(CUSTOMER.Customers);
  const reservations = container.get(CUSTOMER.Reservations);
  const changes = container.get(CUSTOMER.Changes);
  const clock = container.get(SHARED.Clock);
  const reserve = new ReserveCreditHandler(customers, reservations, changes, clock);
  const release = new ReleaseCreditHandler(customers, reservations, changes, clock);
  return subscriptionsOf(customerInbox, {
    'customer.reserve-credit': {
      'order.created.v1': handledBy(OrderCreatedV1, reserve),
      'customer.reserve-credit.v1': handledBy(ReserveCreditV1, reserve),
    },
    'customer.release-credit': {
      'order.rejected.v1': handledBy(OrderRejectedV1, release),
      'order.cancelled.v1': handledBy(OrderCancelledV1, release),
      'customer.release-credit.v1': handledBy(ReleaseCreditV1, release),
    },
  });
}

export const customerModule: ModuleDefinition = {
  name: 'customer',
  inbox: customerInbox,
  entities: [], // every table is read and written with hand-written SQL (ADR 20)
  migrations: async () => (await import('./infrastructure/persistence/migrations/index.js')).customerMigrations,
  bindings,
  subscriptions,
  scopes: customerScopes,
  consistency: customerConsistency,
  messages: [CreditReservedV1, CreditReservationFailedV1, CreditReleasedV1, ReserveCreditV1, ReleaseCreditV1],
  registerRoutes(app, container) {
    registerCustomerRoutes(app, { register: container.get(CUSTOMER.RegisterCustomer), get: container.get(CUSTOMER.GetCustomer) });
  },
};
