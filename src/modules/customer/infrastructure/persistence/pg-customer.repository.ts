import { ConcurrencyError, Money } from '../../../../shared/kernel/index.js';
import type { ModuleDatabase } from '../../../../shared/infrastructure/persistence/module-database.js';
import { quoteIdent } from '../../../../shared/infrastructure/persistence/sql-identifier.js';
import type { CustomerRepositoryPort } from '../../application/ports/customer.repository.port.js';
import { Customer } from '../../domain/customer.aggregate.js';

/** A customers row as a plain statement returns it (the pg settings leave bigints as strings). */
interface CustomerRecord {
  readonly id: string;
  readonly name: string;
  readonly currency: string;
  readonly creditLimit: number | string;
  readonly availableCredit: number | string;
  readonly version: number;
}

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
 * Customers in the module's schema, with hand-written SQL (ADR 20): credit is reserved and
 * released on every saga, so these are single parameterised statements in the caller's
 * transaction: no query building, no unit of work, one round trip each.
 */
export class PgCustomerRepository implements CustomerRepositoryPort {
  private readonly insertSql: string;
  private readonly selectSql: string;
  private readonly selectForUpdateSql: string;
  private readonly updateSql: string;

  constructor(private readonly db: ModuleDatabase) {
    const customers = `${quoteIdent(db.schema)}."customers"`;
    this.insertSql = `insert into ${customers} (id, name, currency, credit_limit, available_credit, version, created_at, updated_at) values (?, ?, ?, ?, ?, 1, ?, ?)`;
    this.selectSql = `select ${CUSTOMER_COLUMNS} from ${customers} where id = ?`;
    this.selectForUpdateSql = `select ${CUSTOMER_COLUMNS} from ${customers} where id = ? for update`;
    // Every field of the snapshot: a changed limit or name is stored, not silently dropped.
    this.updateSql = `update ${customers} set name = ?, currency = ?, credit_limit = ?, available_credit = ?, version = ?, updated_at = ? where id = ? and version = ?`;
  }

  async add(customer: Customer): Promise<void> {
    const now = new Date();
    const s = customer.snapshot();
    await this.db.exec(this.insertSql, [s.id, s.name, s.creditLimit.currency, s.creditLimit.amount, s.availableCredit.amount, now, now]);
    customer.markPersisted(1);
  }

  async findById(id: string): Promise<Customer | null> {
    const [row] = await this.db.query<CustomerRecord>(this.selectSql, [id]);
    return row ? toCustomer(row) : null;
  }

  async findByIdForUpdate(id: string): Promise<Customer | null> {
    const [row] = await this.db.query<CustomerRecord>(this.selectForUpdateSql, [id]);
    return row ? toCustomer(row) : null;
  }

  async save(customer: Customer): Promise<void> {
    const s = customer.snapshot();
    const next = s.version + 1;
    const updated = await this.db.exec(this.updateSql, [
      s.name,
      s.creditLimit.currency,
      s.creditLimit.amount,
      s.availableCredit.amount,
      next,
      new Date(),
      s.id,
      s.version,
    ]);
    if (updated !== 1) throw new ConcurrencyError('customer', s.id);
    customer.markPersisted(next);
  }
}
