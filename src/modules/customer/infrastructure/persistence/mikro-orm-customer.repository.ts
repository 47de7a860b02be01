import { LockMode } from '@mikro-orm/core';
import { ConcurrencyError, Money } from '../../../../shared/kernel/index.js';
import type { ModuleDatabase } from '../../../../shared/infrastructure/persistence/module-database.js';
import type { CreditReservationRepositoryPort } from '../../application/ports/credit-reservation.repository.port.js';
import type { CustomerRepositoryPort } from '../../application/ports/customer.repository.port.js';
import { CreditReservation } from '../../domain/credit-reservation.entity.js';
import { Customer } from '../../domain/customer.aggregate.js';
import { CreditReservationSchema, CustomerSchema, type CustomerRow } from './customer.entity-schema.js';

function toCustomer(row: CustomerRow): Customer {
  return Customer.rehydrate({
    id: row.id,
    name: row.name,
    creditLimit: Money.of(Number(row.creditLimit), row.currency),
    availableCredit: Money.of(Number(row.availableCredit), row.currency),
    version: row.version,
  });
}

/** Native inserts and conditional updates (no unit-of-work flush) keep a saga step to a few round trips. */
export class MikroOrmCustomerRepository implements CustomerRepositoryPort {
  constructor(private readonly db: ModuleDatabase) {}

  async add(customer: Customer): Promise<void> {
    const now = new Date();
    await this.db.em().insert(CustomerSchema, {
      id: customer.id,
      name: customer.name,
      currency: customer.creditLimit.currency,
      creditLimit: customer.creditLimit.amount,
      availableCredit: customer.availableCredit.amount,
      version: 1,
      createdAt: now,
      updatedAt: now,
    });
    customer.markPersisted(1);
  }

  async findById(id: string): Promise<Customer | null> {
    const row = await this.db.em().findOne(CustomerSchema, { id }, { disableIdentityMap: true });
    return row ? toCustomer(row) : null;
  }

  async findByIdForUpdate(id: string): Promise<Customer | null> {
    const row = await this.db.em().findOne(CustomerSchema, { id }, { lockMode: LockMode.PESSIMISTIC_WRITE, disableIdentityMap: true });
    return row ? toCustomer(row) : null;
  }

  async save(customer: Customer): Promise<void> {
    const next = customer.version + 1;
    const updated = await this.db
      .em()
      .nativeUpdate(CustomerSchema, { id: customer.id, version: customer.version }, { availableCredit: customer.availableCredit.amount, version: next, updatedAt: new Date() });
    if (updated !== 1) throw new ConcurrencyError('customer', customer.id);
    customer.markPersisted(next);
  }
}

export class MikroOrmCreditReservationRepository implements CreditReservationRepositoryPort {
  constructor(private readonly db: ModuleDatabase) {}

  async findByOrderIdForUpdate(orderId: string): Promise<CreditReservation | null> {
    const row = await this.db
      .em()
      .findOne(CreditReservationSchema, { orderId }, { lockMode: LockMode.PESSIMISTIC_WRITE, disableIdentityMap: true });
    return row ? CreditReservation.rehydrate(row.orderId, row.customerId, Money.of(Number(row.amount), row.currency), row.status) : null;
  }

  async save(reservation: CreditReservation): Promise<void> {
    const now = new Date();
    if (reservation.isNew) {
      await this.db.em().insert(CreditReservationSchema, {
        orderId: reservation.orderId,
        customerId: reservation.customerId,
        amount: reservation.amount.amount,
        currency: reservation.amount.currency,
        status: reservation.status,
        createdAt: now,
        updatedAt: now,
      });
      return;
    }
    await this.db.em().nativeUpdate(CreditReservationSchema, { orderId: reservation.orderId }, { status: reservation.status, updatedAt: now });
  }
}
