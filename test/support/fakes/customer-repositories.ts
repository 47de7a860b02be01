import { ConcurrencyError, type Money } from '../../../src/shared/kernel/index.js';
import type { CreditReservationRepositoryPort } from '../../../src/modules/customer/application/ports/credit-reservation.repository.port.js';
import type { CustomerRepositoryPort } from '../../../src/modules/customer/application/ports/customer.repository.port.js';
import { CreditReservation, type CreditReservationStatus } from '../../../src/modules/customer/domain/credit-reservation.entity.js';
import { Customer, type CustomerSnapshot } from '../../../src/modules/customer/domain/customer.aggregate.js';
import { CheckViolation, InMemoryTable, UniqueViolation, type InMemoryDatabase } from './in-memory-database.js';

/** The customers table's CHECK constraints: the last line behind the domain's invariant (ADR 6). */
function checked(row: CustomerSnapshot): CustomerSnapshot {
  if (row.creditLimit.isNegative()) throw new CheckViolation('customers', 'customers_credit_limit_check');
  if (row.availableCredit.isNegative() || row.availableCredit.greaterThan(row.creditLimit))
    throw new CheckViolation('customers', 'available_credit_within_limit');
  return row;
}

/** Same contract as PgCustomerRepository (test/integration/persistence proves it): version 1 on insert, +1 per save of the whole state, stale saves refused. */
export class InMemoryCustomerRepository extends InMemoryTable<string, CustomerSnapshot> implements CustomerRepositoryPort {
  constructor(db: InMemoryDatabase) {
    super(db);
  }

  async add(customer: Customer): Promise<void> {
    await this.fault('add');
    if (this.rows.has(customer.id)) throw new UniqueViolation('customers', customer.id);
    this.rows.set(customer.id, checked({ ...customer.snapshot(), version: 1 }));
    customer.markPersisted(1);
  }

  async findById(id: string): Promise<Customer | null> {
    const row = this.rows.get(id);
    return row ? Customer.rehydrate(row) : null;
  }

  async findByIdForUpdate(id: string): Promise<Customer | null> {
    this.db.assertInTransaction('CustomerRepository.findByIdForUpdate');
    return this.findById(id);
  }

  async save(customer: Customer): Promise<void> {
    await this.fault('save');
    const stored = this.rows.get(customer.id);
    if (!stored || stored.version !== customer.version) throw new ConcurrencyError('customer', customer.id);
    const next = customer.version + 1;
    this.rows.set(customer.id, checked({ ...customer.snapshot(), version: next }));
    customer.markPersisted(next);
  }

  /** Test access to what is stored, without going through the port. */
  stored(id: string): CustomerSnapshot | undefined {
    return this.rows.get(id);
  }
}

export interface CreditReservationRow {
  readonly orderId: string;
  readonly customerId: string;
  readonly amount: Money;
  readonly status: CreditReservationStatus;
}

/** Same contract as PgCreditReservationRepository: a new reservation is inserted (one per order), a loaded one updated whole. */
export class InMemoryCreditReservationRepository
  extends InMemoryTable<string, CreditReservationRow>
  implements CreditReservationRepositoryPort
{
  constructor(db: InMemoryDatabase) {
    super(db);
  }

  async findByOrderIdForUpdate(orderId: string): Promise<CreditReservation | null> {
    this.db.assertInTransaction('CreditReservationRepository.findByOrderIdForUpdate');
    const row = this.rows.get(orderId);
    return row ? CreditReservation.rehydrate(row.orderId, row.customerId, row.amount, row.status) : null;
  }

  async save(reservation: CreditReservation): Promise<void> {
    await this.fault('save');
    const stored = this.rows.get(reservation.orderId);
    if (reservation.isNew) {
      if (stored) throw new UniqueViolation('credit_reservations', reservation.orderId);
      this.rows.set(reservation.orderId, {
        orderId: reservation.orderId,
        customerId: reservation.customerId,
        amount: reservation.amount,
        status: reservation.status,
      });
      return;
    }
    if (stored)
      this.rows.set(reservation.orderId, {
        orderId: reservation.orderId,
        customerId: reservation.customerId,
        amount: reservation.amount,
        status: reservation.status,
      });
  }

  stored(orderId: string): CreditReservationRow | undefined {
    return this.rows.get(orderId);
  }

  all(): CreditReservationRow[] {
    return [...this.rows.values()];
  }
}
