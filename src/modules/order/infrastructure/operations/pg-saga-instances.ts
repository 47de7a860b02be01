import type { ModuleDatabase } from '../../../../shared/infrastructure/persistence/module-database.js';
import { quoteIdent } from '../../../../shared/infrastructure/persistence/sql-identifier.js';
import type { SagaInstanceCount, SagaInstancesPort } from '../../../../shared/infrastructure/operations/saga-versions.js';

/** The place-order saga's instances by definition version and state, from the Order schema (ADR 37). */
export class PgSagaInstances implements SagaInstancesPort {
  private readonly sql: string;

  constructor(private readonly db: ModuleDatabase) {
    this.sql = `select type as saga, definition_version as "definitionVersion", state, count(*)::int as instances
      from ${quoteIdent(db.schema)}."saga_instances" group by type, definition_version, state order by type, definition_version, state`;
  }

  countByVersion(): Promise<SagaInstanceCount[]> {
    return this.db.query<SagaInstanceCount>(this.sql);
  }
}
