import { ConcurrencyError, Money } from '../../../../shared/kernel/index.js';
import type { ModuleDatabase } from '../../../../shared/infrastructure/persistence/module-database.js';
import type { CreditReservationRepositoryPort } from '../../application/ports/credit-reservation.repository.port.js';
import type { CustomerRepositoryPort } from '../../application/ports/customer.repository.port.js';
import { CreditReservation } from '../../domain/credit-reservation.entity.js';
import { Customer } from '../../domain/customer.aggregate.js';
import type { CreditReservationRow, CustomerRow } from './customer.entity-schema.js';

/** What a plain statement returns (the ORM's pg settings leave bigints as strings). */
type CustomerRecord = Pick<CustomerRow, 'id' | 'name' | 'currency' | 'version'> & { creditLimit: number | string; availableCredit: number | string };

function toCustomer(row: CustomerRecord): Customer {
  return Customer.rehydrate({
    id: row.id,
    name: row.name,
    creditLimit: Money.of(Number(row.creditLimit), row.currency),
    availableCredit: Money.of(Number(row.availableCredit), row.currency),
    version: row.version,
  });
}

const CUSTOMER_COLUMNS = `id, name, currency, credit_limit as "creditLimit", available_credit as "availableCredit", version`;

/**
 * Credit is reserved and released on every saga, so these are single parameterised statements in
 * the caller's transaction: no query building, no unit of work, one round trip each.
 */
export class MikroOrmCustomerRepository implements CustomerRepositoryPort {
  constructor(private readonly db: ModuleDatabase) {}

  async add(customer: Customer): Promise<void> {
    const now = new Date();
    await this.db.exec(
      `insert into "customers"."customers" (id, name, currency, credit_limit, available_credit, version, created_at, updated_at) values (?, ?, ?, ?, ?, 1, ?, ?)`,
      [customer.id, customer.name, customer.creditLimit.currency, customer.creditLimit.amount, customer.availableCredit.amount, now, now],
    );
    customer.markPersisted(1);
  }

  async findById(id: string): Promise<Customer | null> {
    const [row] = await this.db.query<CustomerRecord>(`select ${CUSTOMER_COLUMNS} from "customers"."customers" where id = ?`, [id]);
    return row ? toCustomer(row) : null;
  }

  async findByIdForUpdate(id: string): Promise<Customer | null> {
    const [row] = await this.db.query<CustomerRecord>(`select ${CUSTOMER_COLUMNS} from "customers"."customers" where id = ? for update`, [id]);
    return row ? toCustomer(row) : null;
  }

  async save(customer: Customer): Promise<void> {
    const next = customer.version + 1;
    const updated = await this.db.exec(`update "customers"."customers" set available_credit = ?, version = ?, updated_at = ? where id = ? and version = ?`, [
      customer.availableCredit.amount,
      next,
      new Date(),
      customer.id,
      customer.version,
    ]);
    if (updated !== 1) throw new ConcurrencyError('customer', customer.id);
    customer.markPersisted(next);
  }
}

export class MikroOrmCreditReservationRepository implements CreditReservationRepositoryPort {
  constructor(private readonly db: ModuleDatabase) {}

  async findByOrderIdForUpdate(orderId: string): Promise<CreditReservation | null> {
    const [row] = await this.db.query<Pick<CreditReservationRow, 'orderId' | 'customerId' | 'currency' | 'status'> & { amount: number | string }>(
      `select order_id as "orderId", customer_id as "customerId", amount, currency, status from "customers"."credit_reservations" where order_id = ? for update`,
      [orderId],
    );
    return row ? CreditReservation.rehydrate(row.orderId, row.customerId, Money.of(Number(row.amount), row.currency), row.status) : null;
  }

  async save(reservation: CreditReservation): Promise<void> {
    const now = new Date();
    if (reservation.isNew) {
      await this.db.exec(
        `insert into "customers"."credit_reservations" (order_id, customer_id, amount, currency, status, created_at, updated_at) values (?, ?, ?, ?, ?, ?, ?)`,
        [reservation.orderId, reservation.customerId, reservation.amount.amount, reservation.amount.currency, reservation.status, now, now],
      );
      return;
    }
    await this.db.exec(`update "customers"."credit_reservations" set status = ?, updated_at = ? where order_id = ?`, [reservation.status, now, reservation.orderId]);
  }
}
