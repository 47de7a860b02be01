import type { ModuleDatabase } from '../../persistence/module-database.js';
import { quoteIdent } from '../../persistence/messaging-tables.js';

/**
 * A running task keeps its use case's lease alive, so the relay does not launch another for the
 * same backlog. A heartbeat also proves that a task of the use case started: it closes the launch
 * breaker (ADR 18).
 */
export async function heartbeatLease(db: ModuleDatabase, useCase: string, ttlMs: number): Promise<void> {
  await db.exec(
    `update ${quoteIdent(db.schema)}.task_leases
     set expires_at = greatest(expires_at, now() + (? * interval '1 millisecond')), failures = 0, retry_at = null, last_failure = null, updated_at = now()
     where use_case = ?`,
    [ttlMs, useCase],
  );
}

/**
 * Gives up this task's share of the lease, but only in a transaction that saw no due delivery
 * under the lease's lock: a delivery committed before the relay checked the lease is always
 * seen here (and drained), and one committed after finds the lease released and launches a task.
 */
export function releaseLeaseIfIdle(db: ModuleDatabase, useCase: string): Promise<boolean> {
  const s = quoteIdent(db.schema);
  return db.run(async () => {
    await db.query(`select tasks from ${s}.task_leases where use_case = ? for update`, [useCase]);
    const due = await db.query(`select 1 from ${s}.inbox where use_case = ? and status = 'pending' and available_at <= now() limit 1`, [useCase]);
    if (due.length > 0) return false;
    await db.exec(
      `update ${s}.task_leases
       set tasks = greatest(tasks - 1, 0),
           expires_at = case when tasks <= 1 then now() else expires_at end,
           holder = case when tasks <= 1 then null else holder end,
           updated_at = now()
       where use_case = ?`,
      [useCase],
    );
    return true;
  });
}

/** Gives up this task's share unconditionally (stopping at its time limit or on SIGTERM); the caller relaunches if work remains. */
export async function releaseLease(db: ModuleDatabase, useCase: string): Promise<void> {
  await db.exec(
    `update ${quoteIdent(db.schema)}.task_leases
     set tasks = greatest(tasks - 1, 0), expires_at = case when tasks <= 1 then now() else expires_at end, updated_at = now()
     where use_case = ?`,
    [useCase],
  );
}
