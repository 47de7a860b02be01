import type { ModuleDatabase } from '../persistence/module-database.js';
import { quoteIdent } from '../persistence/sql-identifier.js';

export interface DeadLetter {
  readonly schema: string;
  readonly useCase: string;
  readonly messageId: string;
  readonly type: string;
  readonly correlationId: string;
  readonly attempts: number;
  readonly errorCode: string | null;
  readonly error: string | null;
  readonly deadSince: string;
  readonly envelope: unknown;
}

interface DeadRow {
  use_case: string;
  message_id: string;
  type: string;
  correlation_id: string;
  attempts: number;
  error_code: string | null;
  last_error: string | null;
  updated_at: Date;
  envelope: unknown;
}

export async function listDeadLetters(db: ModuleDatabase, options: { limit: number; useCase?: string }): Promise<DeadLetter[]> {
  const rows = await db.query<DeadRow>(
    `select use_case, message_id, type, correlation_id, attempts, error_code, last_error, updated_at, envelope
     from ${quoteIdent(db.schema)}.inbox where status = 'dead' ${options.useCase ? 'and use_case = ?' : ''}
     order by updated_at desc limit ?`,
    options.useCase ? [options.useCase, options.limit] : [options.limit],
  );
  return rows.map((r) => ({
    schema: db.schema,
    useCase: r.use_case,
    messageId: r.message_id,
    type: r.type,
    correlationId: r.correlation_id,
    attempts: r.attempts,
    errorCode: r.error_code,
    error: r.last_error,
    deadSince: new Date(r.updated_at).toISOString(),
    envelope: r.envelope,
  }));
}

/**
 * Puts dead deliveries back to pending with a fresh attempt budget; the sweeper signals them on
 * its next pass. With `envelope`, the stored message is replaced first (to repair a poison message).
 */
export async function redriveDeadLetters(
  db: ModuleDatabase,
  filter: { messageId?: string; useCase?: string; all?: boolean },
): Promise<number> {
  if (!filter.messageId && !filter.useCase && !filter.all) throw new Error('redrive needs a messageId, a useCase or all');
  const conditions = ["status = 'dead'"];
  const params: unknown[] = [];
  if (filter.messageId) {
    conditions.push('message_id = ?');
    params.push(filter.messageId);
  }
  if (filter.useCase) {
    conditions.push('use_case = ?');
    params.push(filter.useCase);
  }
  const s = quoteIdent(db.schema);
  // A re-drive says the cause is fixed: the use cases' launch breakers close, so their tasks launch
  // now rather than after a backoff of minutes, and start failures are counted from zero again.
  const rows = await db.query<{ n: number }>(
    `with redriven as (
       update ${s}.inbox set status = 'pending', attempts = 0, available_at = now(), signaled_at = null, updated_at = now()
       where ${conditions.join(' and ')}
       returning use_case
     ), closed as (
       update ${s}.task_leases set failures = 0, start_failures = 0, retry_at = null, failed_at = null, last_failure = null, failed_starting = false, start_failing_since = null, updated_at = now()
       where use_case in (select use_case from redriven) and (failures > 0 or retry_at is not null)
     )
     select count(*)::int as n from redriven`,
    params,
  );
  return rows[0]?.n ?? 0;
}
