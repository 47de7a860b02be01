import { Migration } from '@mikro-orm/migrations';
import { deliveryKeysSql } from '../../../../../shared/infrastructure/persistence/messaging-tables.js';

/** Each pending delivery carries the key of the aggregate its handler locks (ADR 16). */
export class Migration20261203000000CustomersDeliveryKeys extends Migration {
  override async up(): Promise<void> {
    for (const sql of deliveryKeysSql('customers')) this.addSql(sql);
  }

  override async down(): Promise<void> {
    this.addSql('drop index if exists "customers".inbox_pending_key_idx');
    this.addSql('alter table "customers".inbox drop column if exists delivery_key');
  }
}
