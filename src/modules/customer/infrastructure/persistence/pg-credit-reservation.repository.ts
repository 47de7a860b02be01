import { Money } from '../../../../shared/kernel/index.js';
import type { ModuleDatabase } from '../../../../shared/infrastructure/persistence/module-database.js';
import { quoteIdent } from '../../../../shared/infrastructure/persistence/sql-identifier.js';
import type { CreditReservationRepositoryPort } from '../../application/ports/credit-reservation.repository.port.js';
import { CreditReservation, type CreditReservationStatus } from '../../domain/credit-reservation.entity.js';

/** A credit_reservations row as a plain statement returns it (bigints as strings). */
interface CreditReservationRecord {
  readonly orderId: string;
  readonly customerId: string;
  readonly amount: number | string;
  readonly currency: string;
  readonly status: CreditReservationStatus;
}

/**
 * The credit set aside per order, with hand-written SQL (ADR 20). Not versioned: it is only ever
 * changed under its customer's row lock (ADR 6), which the caller holds.
 */
export class PgCreditReservationRepository implements CreditReservationRepositoryPort {
  private readonly selectForUpdateSql: string;
  private readonly insertSql: string;
  private readonly updateSql: string;

  constructor(private readonly db: ModuleDatabase) {
    const reservations = `${quoteIdent(db.schema)}."credit_reservations"`;
    this.selectForUpdateSql = `select order_id as "orderId", customer_id as "customerId", amount, currency, status from ${reservations} where order_id = ? for update`;
    this.insertSql = `insert into ${reservations} (order_id, customer_id, amount, currency, status, created_at, updated_at) values (?, ?, ?, ?, ?, ?, ?)`;
    // Every field of the entity: none is changed today, but a change would not be dropped.
    this.updateSql = `update ${reservations} set customer_id = ?, amount = ?, currency = ?, status = ?, updated_at = ? where order_id = ?`;
  }

  async findByOrderIdForUpdate(orderId: string): Promise<CreditReservation | null> {
    const [row] = await this.db.query<CreditReservationRecord>(this.selectForUpdateSql, [orderId]);
    return row ? CreditReservation.rehydrate(row.orderId, row.customerId, Money.of(Number(row.amount), row.currency), row.status) : null;
  }

  async save(reservation: CreditReservation): Promise<void> {
    const now = new Date();
    const { orderId, customerId, amount, status } = reservation;
    if (reservation.isNew) {
      await this.db.exec(this.insertSql, [orderId, customerId, amount.amount, amount.currency, status, now, now]);
      return;
    }
    await this.db.exec(this.updateSql, [customerId, amount.amount, amount.currency, status, now, orderId]);
  }
}
