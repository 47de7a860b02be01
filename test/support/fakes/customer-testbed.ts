import { CustomerChanges } from '../../../src/modules/customer/application/customer-changes.js';
import { GetCustomerQuery } from '../../../src/modules/customer/application/get-customer/get-customer.query.js';
import { RegisterCustomerHandler } from '../../../src/modules/customer/application/register-customer/register-customer.handler.js';
import { ReleaseCreditHandler } from '../../../src/modules/customer/application/release-credit/release-credit.handler.js';
import { ReserveCreditHandler } from '../../../src/modules/customer/application/reserve-credit/reserve-credit.handler.js';
import type { CustomerView } from '../../../src/modules/customer/application/customer.view.js';
import { ReleaseCreditV1, ReserveCreditV1 } from '../../../src/modules/customer/contract/index.js';
import {
  createMessage,
  traceparent,
  type Envelope,
  type MessageContext,
  type MessageHandler,
  type MoneyJson,
} from '../../../src/shared/kernel/index.js';
import { InMemoryEventBus } from './in-memory-event-bus.js';
import { declaredOnly } from './module-containers.js';
import { customerInbox } from '../../../src/modules/customer/contract/index.js';
import { InMemoryCreditReservationRepository, InMemoryCustomerRepository } from './customer-repositories.js';
import { FixedClock } from './fixed-clock.js';
import { InMemoryDatabase } from './in-memory-database.js';

/** The Customer module's use cases over in-memory fakes, wired as customer.module.ts wires them. */
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
  readonly reserveCredit: ReserveCreditHandler;
  readonly releaseCredit: ReleaseCreditHandler;
  /** Registers a customer (10000 USD by default) and returns it. */
  customer(limit?: number, currency?: string): Promise<CustomerView>;
  /** Runs a message handler as the inbox does: inside a transaction. */
  deliver<P>(handler: MessageHandler<P>, message: Envelope<P>): Promise<void>;
  /** Delivers the orchestrator's customer.reserve-credit.v1 for an order; returns the message. */
  reserve(orderId: string, customerId: string, amount: MoneyJson, context?: MessageContext): Promise<Envelope<ReserveCreditV1>>;
  /** Delivers the orchestrator's customer.release-credit.v1 for an order; returns the message. */
  release(orderId: string, customerId: string, context?: MessageContext): Promise<Envelope<ReleaseCreditV1>>;
}

export function customerTestbed(options: { bus?: InMemoryEventBus; clock?: FixedClock } = {}): CustomerTestbed {
  const bus = options.bus ?? new InMemoryEventBus();
  const clock = options.clock ?? new FixedClock();
  const db = new InMemoryDatabase(bus);
  const customers = new InMemoryCustomerRepository(db);
  const reservations = new InMemoryCreditReservationRepository(db);
  const changes = new CustomerChanges(customers, reservations, declaredOnly(db.eventBus, customerInbox));
  const registerCustomer = new RegisterCustomerHandler(db, changes, clock);
  const reserveCredit = new ReserveCreditHandler(customers, reservations, changes, clock);
  const releaseCredit = new ReleaseCreditHandler(customers, reservations, changes, clock);
  const deliver = <P>(handler: MessageHandler<P>, message: Envelope<P>) => db.run(() => handler.handle(message));
  const contextFor = (orderId: string): MessageContext => ({ correlationId: orderId, causationId: null, traceparent: traceparent() });
  return {
    db,
    bus,
    clock,
    customers,
    reservations,
    changes,
    registerCustomer,
    getCustomer: new GetCustomerQuery(customers),
    reserveCredit,
    releaseCredit,
    customer: (limit = 10_000, currency = 'USD') =>
      registerCustomer.execute({ name: 'Ada Lovelace', creditLimit: { amount: limit, currency } }),
    deliver,
    reserve: async (orderId, customerId, amount, context = contextFor(orderId)) => {
      const message = createMessage(ReserveCreditV1, { orderId, customerId, amount }, context, clock.now());
      await deliver(reserveCredit, message);
      return message;
    },
    release: async (orderId, customerId, context = contextFor(orderId)) => {
      const message = createMessage(ReleaseCreditV1, { orderId, customerId }, context, clock.now());
      await deliver(releaseCredit, message);
      return message;
    },
  };
}
