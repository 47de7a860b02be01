import type { CustomerView } from '../../../src/modules/customer/application/customer.view.js';
import { ReleaseCreditV1, ReserveCreditV1 } from '../../../src/modules/customer/contract/index.js';
import { createMessage, traceparent, type Envelope, type MessageContext, type MoneyJson } from '../../../src/shared/kernel/index.js';
import type { CustomerChanges } from '../../../src/modules/customer/application/customer-changes.js';
import type { GetCustomerQuery } from '../../../src/modules/customer/application/get-customer/get-customer.query.js';
import type { RegisterCustomerHandler } from '../../../src/modules/customer/application/register-customer/register-customer.handler.js';
import { CUSTOMER, customerModule } from '../../../src/modules/customer/customer.module.js';
import { customerInbox } from '../../../src/modules/customer/contract/index.js';
import { customerContainer, testConfig } from './module-containers.js';
import { deliveryTo, type UseCaseOf } from './in-memory-inbox.js';
import { InMemoryEventBus } from './in-memory-event-bus.js';
import { InMemoryCreditReservationRepository, InMemoryCustomerRepository } from './customer-repositories.js';
import { FixedClock } from './fixed-clock.js';
import { InMemoryDatabase } from './in-memory-database.js';

/**
 * The Customer module's use cases over in-memory fakes, wired by customer.module.ts itself: its
 * bindings with the repositories replaced, and its own subscriptions for the use cases that react
 * to messages (a new one needs no line here).
 */
export interface CustomerTestbed {
  readonly db: InMemoryDatabase;
  /** What the module committed to publish (its outbox, after commit). */
  readonly bus: InMemoryEventBus;
  readonly clock: FixedClock;
  readonly customers: InMemoryCustomerRepository;
  readonly reservations: InMemoryCreditReservationRepository;
  readonly changes: CustomerChanges;
  readonly registerCustomer: RegisterCustomerHandler;
  readonly getCustomer: GetCustomerQuery;
  /** Registers a customer (10000 USD by default) and returns it. */
  customer(limit?: number, currency?: string): Promise<CustomerView>;
  /** Delivers a message to a use case through the module's own subscriptions, inside a transaction, as the inbox does. */
  deliver(useCase: UseCaseOf<typeof customerInbox>, message: Envelope): Promise<void>;
  /** Delivers the orchestrator's customer.reserve-credit.v1 for an order; returns the message. */
  reserve(orderId: string, customerId: string, amount: MoneyJson, context?: MessageContext): Promise<Envelope<ReserveCreditV1>>;
  /** Delivers the orchestrator's customer.release-credit.v1 for an order; returns the message. */
  release(orderId: string, customerId: string, context?: MessageContext): Promise<Envelope<ReleaseCreditV1>>;
}

export function customerTestbed(options: { bus?: InMemoryEventBus; clock?: FixedClock } = {}): CustomerTestbed {
  const bus = options.bus ?? new InMemoryEventBus();
  const clock = options.clock ?? new FixedClock();
  const db = new InMemoryDatabase(bus);
  const container = customerContainer(testConfig('choreography'), db, clock);
  const registerCustomer = container.get(CUSTOMER.RegisterCustomer);
  const deliver = deliveryTo(db, customerModule.subscriptions(container));
  const contextFor = (orderId: string): MessageContext => ({ correlationId: orderId, causationId: null, traceparent: traceparent() });
  return {
    db,
    bus,
    clock,
    customers: container.get(CUSTOMER.Customers) as InMemoryCustomerRepository,
    reservations: container.get(CUSTOMER.Reservations) as InMemoryCreditReservationRepository,
    changes: container.get(CUSTOMER.Changes),
    registerCustomer,
    getCustomer: container.get(CUSTOMER.GetCustomer),
    customer: (limit = 10_000, currency = 'USD') =>
      registerCustomer.execute({ name: 'Ada Lovelace', creditLimit: { amount: limit, currency } }),
    deliver,
    reserve: async (orderId, customerId, amount, context = contextFor(orderId)) => {
      const message = createMessage(ReserveCreditV1, { orderId, customerId, amount }, context, clock.now());
      await deliver('customer.reserve-credit', message);
      return message;
    },
    release: async (orderId, customerId, context = contextFor(orderId)) => {
      const message = createMessage(ReleaseCreditV1, { orderId, customerId }, context, clock.now());
      await deliver('customer.release-credit', message);
      return message;
    },
  };
}
