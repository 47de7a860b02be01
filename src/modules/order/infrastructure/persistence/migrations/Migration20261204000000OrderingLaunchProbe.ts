import { Migration } from '@mikro-orm/migrations';
import { launchProbeSql } from '../../../../../shared/infrastructure/persistence/messaging-tables.js';

/** Start failures apart from launch failures, the breaker's probe, and each launch's first heartbeat (ADR 19). */
export class Migration20261204000000OrderingLaunchProbe extends Migration {
  override async up(): Promise<void> {
    for (const sql of launchProbeSql('ordering')) this.addSql(sql);
  }

  override async down(): Promise<void> {
    for (const column of ['running_at', 'observing_until', 'marks_running'])
      this.addSql(`alter table "ordering".launch_attempts drop column if exists ${column}`);
    for (const column of ['start_failures', 'failed_at', 'reset_at'])
      this.addSql(`alter table "ordering".task_leases drop column if exists ${column}`);
  }
}
