import { Migration } from '@mikro-orm/migrations';

/**
 * Each place-order saga instance records the version of the definition it started under (ADR 37).
 * Instances started before versions existed followed version 1, and so does a row written by a
 * release that predates this column while it still runs beside this one: the default says so.
 */
export class Migration20261207000000OrderingSagaDefinitionVersion extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "ordering"."saga_instances" add column if not exists definition_version integer not null default 1`);
    this.addSql(
      `alter table "ordering"."saga_instances" add constraint saga_instances_definition_version_check check (definition_version >= 1)`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "ordering"."saga_instances" drop column if exists definition_version`);
  }
}
