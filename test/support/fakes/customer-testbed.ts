import { GetCustomerQuery } from '../../../src/modules/customer/application/get-customer/get-customer.query.js';
import { RegisterCustomerHandler } from '../../../src/modules/customer/application/register-customer/register-customer.handler.js';
import { ReleaseCreditHandler } from '../../../src/modules/customer/application/release-credit/release-credit.handler.js';
import { ReserveCreditHandler } from '../../../src/modules/customer/application/reserve-credit/reserve-credit.handler.js';
import type { CustomerView } from '../../../src/modules/customer/application/customer.view.js';
import { InMemoryEventBus } from './in-memory-event-bus.js';
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
  readonly registerCustomer: RegisterCustomerHandler;
  readonly getCustomer: GetCustomerQuery;
  readonly reserveCredit: ReserveCreditHandler;
  readonly releaseCredit: ReleaseCreditHandler;
  /** Registers a customer (10000 USD by default) and returns it. */
  customer(limit?: number, currency?: string): Promise<CustomerView>;
}

export function customerTestbed(options: { bus?: InMemoryEventBus; clock?: FixedClock } = {}): CustomerTestbed {
  const bus = options.bus ?? new InMemoryEventBus();
  const clock = options.clock ?? new FixedClock();
  const db = new InMemoryDatabase(bus);
  const customers = new InMemoryCustomerRepository(db);
  const reservations = new InMemoryCreditReservationRepository(db);
  const registerCustomer = new RegisterCustomerHandler(db, customers, clock);
  return {
    db,
    bus,
    clock,
    customers,
    reservations,
    registerCustomer,
    getCustomer: new GetCustomerQuery(customers),
    reserveCredit: new ReserveCreditHandler(db, customers, reservations, db.eventBus, clock),
    releaseCredit: new ReleaseCreditHandler(db, customers, reservations, db.eventBus, clock),
    customer: (limit = 10_000, currency = 'USD') => registerCustomer.execute({ name: 'Ada Lovelace', creditLimit: { amount: limit, currency } }),
  };
}
