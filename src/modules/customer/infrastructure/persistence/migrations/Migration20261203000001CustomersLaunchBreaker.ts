import { Migration } from '@mikro-orm/migrations';
import { launchBreakerSql } from '../../../../../shared/infrastructure/persistence/messaging-tables.js';

/** The launch breaker on the lease, and what DescribeTasks saw of each launch (ADR 18). */
export class Migration20261203000001CustomersLaunchBreaker extends Migration {
  override async up(): Promise<void> {
    for (const sql of launchBreakerSql('customers')) this.addSql(sql);
  }

  override async down(): Promise<void> {
    this.addSql('drop index if exists "customers".launch_attempts_unobserved_idx');
    for (const column of ['task_definition', 'observed_at', 'outcome'])
      this.addSql(`alter table "customers".launch_attempts drop column if exists ${column}`);
    for (const column of ['failures', 'retry_at', 'last_failure'])
      this.addSql(`alter table "customers".task_leases drop column if exists ${column}`);
  }
}
