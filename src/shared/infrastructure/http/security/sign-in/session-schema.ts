import type { MigrationObject } from '@mikro-orm/core';
import type { PlatformSchema } from '../../../persistence/module-databases.js';

/** The schema the platform keeps the operator console's sessions in, beside the modules' own. */
export const SESSION_SCHEMA_NAME = 'operator_console';

/**
 * Operators' sessions: one row per session, keyed by a hash of its id (a reader of the table
 * cannot use one), with the session's data and when it ends.
 */
async function migrations(): Promise<readonly MigrationObject[]> {
  const { Migration } = await import('@mikro-orm/migrations');
  class Migration20261207000000OperatorConsoleSessions extends Migration {
    override async up(): Promise<void> {
      this.addSql(`create schema if not exists "${SESSION_SCHEMA_NAME}"`);
      this.addSql(`create table "${SESSION_SCHEMA_NAME}".sessions (
        id_hash text primary key,
        data jsonb not null,
        expires_at timestamptz not null
      )`);
      this.addSql(`create index sessions_expires_at_idx on "${SESSION_SCHEMA_NAME}".sessions (expires_at)`);
    }

    override async down(): Promise<void> {
      this.addSql(`drop table if exists "${SESSION_SCHEMA_NAME}".sessions`);
    }
  }
  return [{ name: 'Migration20261207000000OperatorConsoleSessions', class: Migration20261207000000OperatorConsoleSessions }];
}

export const SESSION_SCHEMA: PlatformSchema = { schema: SESSION_SCHEMA_NAME, migrations };
