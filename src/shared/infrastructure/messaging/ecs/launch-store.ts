import type pg from 'pg';
import { quoteIdent } from '../../persistence/messaging-tables.js';
import type { PostgresDatabase } from '../../persistence/postgres-database.js';
import type { Backlog } from './launch-policy.js';

/** A database or a connection in a transaction, in `pg`'s terms. */
export interface Queryable {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

export function queryable(database: PostgresDatabase): Queryable {
  return { query: (text, values) => database.pgQuery(text, values) };
}

/** The advisory lock under which launch decisions check the connection budget (any fixed number unique to it). */
const BUDGET_LOCK = '7310558214590371861';

export interface LockedLease {
  /** Tasks believed to run (0 once the lease lapsed). */
  readonly current: number;
  /** The breaker is open: no launch before its backoff has passed. */
  readonly backingOff: boolean;
  readonly failures: number;
}

export interface BreakerCount {
  readonly failures: number;
  readonly startFailures: number;
  readonly retryInMs: number;
}

/** A launch attempt a maintenance pass claimed. */
export interface ClaimedAttempt {
  readonly id: string;
  readonly use_case: string;
  readonly task_arns: string[];
  readonly running: boolean;
  readonly marks_running: boolean;
  readonly overdue: boolean;
  readonly stale: boolean;
}

/**
 * The SQL of launches, in the consumer module's schema: the lease row of a use case (tasks
 * believed to run, until when, and its breaker) and its launch-attempt rows. Every statement
 * takes the schema; `db` is a connection in the caller's transaction when it needs one.
 */
export const launchStore = {
  /** Creates the lease row if needed and locks it for the decision's transaction. */
  async lockLease(db: Queryable, schema: string, useCase: string): Promise<LockedLease> {
    const s = quoteIdent(schema);
    await db.query(`insert into ${s}.task_leases (use_case, tasks, expires_at) values ($1, 0, now()) on conflict do nothing`, [useCase]);
    const lease = await db.query<{ tasks: number; live: boolean; backing_off: boolean; failures: number }>(
      `select tasks, expires_at > now() as live, coalesce(retry_at > now(), false) as backing_off, failures from ${s}.task_leases where use_case = $1 for update`,
      [useCase],
    );
    const row = lease.rows[0];
    return { current: row?.live ? row.tasks : 0, backingOff: row?.backing_off ?? false, failures: row?.failures ?? 0 };
  },

  /** The due backlog of a use case, counted up to `limit`. */
  async backlog(db: Queryable, schema: string, useCase: string, limit: number): Promise<Backlog> {
    const s = quoteIdent(schema);
    const { rows } = await db.query<{ n: number; keys: number }>(
      `select count(*)::int as n, count(distinct k)::int as keys from (
         select coalesce(delivery_key, message_id::text) as k from ${s}.inbox where use_case = $1 and status = 'pending' and available_at <= now() limit $2
       ) due`,
      [useCase, limit],
    );
    return { deliveries: rows[0]?.n ?? 0, keys: rows[0]?.keys ?? 0 };
  },

  /** Live tasks per use case in these schemas, under the budget's advisory lock (held to the end of the transaction). */
  async liveTasksUnderBudgetLock(db: Queryable, schemas: readonly string[]): Promise<Map<string, number>> {
    await db.query('select pg_advisory_xact_lock($1)', [BUDGET_LOCK]);
    const rows = await db.query<{ use_case: string; tasks: number }>(
      schemas
        .map(
          (schema) => `select use_case, case when expires_at > now() then tasks else 0 end as tasks from ${quoteIdent(schema)}.task_leases`,
        )
        .join(' union all '),
    );
    return new Map(rows.rows.map((r) => [r.use_case, r.tasks]));
  },

  /** Records a launch decision: the lease holds `tasks` until `holdMs` from now, and the attempt row is committed before RunTask. */
  async recordDecision(
    db: Queryable,
    schema: string,
    decision: { useCase: string; attemptId: string; count: number; tasks: number; holdMs: number; taskDefinition: string },
  ): Promise<void> {
    const s = quoteIdent(schema);
    // Until the task is seen running (its heartbeat) or stopped, the launch holds the lease.
    await db.query(
      `update ${s}.task_leases set tasks = $2, expires_at = now() + ($3 * interval '1 millisecond'), holder = 'launch:' || $4, updated_at = now() where use_case = $1`,
      [decision.useCase, decision.tasks, decision.holdMs, decision.attemptId],
    );
    await db.query(
      `insert into ${s}.launch_attempts (id, use_case, client_token, task_count, task_definition, marks_running) values ($1, $2, $3, $4, $5, true)`,
      [decision.attemptId, decision.useCase, decision.attemptId, decision.count, decision.taskDefinition],
    );
  },

  /** RunTask placed these tasks; fewer than decided gives the rest of the lease back. */
  async recordStarted(
    db: Queryable,
    schema: string,
    useCase: string,
    attemptId: string,
    arns: readonly string[],
    notPlaced: number,
  ): Promise<void> {
    const s = quoteIdent(schema);
    await db.query(`update ${s}.launch_attempts set status = 'started', attempts = 1, task_arns = $2, updated_at = now() where id = $1`, [
      attemptId,
      arns,
    ]);
    if (notPlaced > 0) {
      await db.query(`update ${s}.task_leases set tasks = greatest(tasks - $2, 0) where use_case = $1`, [useCase, notPlaced]);
    }
  },

  async recordFailed(db: Queryable, schema: string, attemptId: string, reason: string): Promise<void> {
    await db.query(
      `update ${quoteIdent(schema)}.launch_attempts set status = 'failed', attempts = 1, last_error = $2, updated_at = now() where id = $1`,
      [attemptId, reason.slice(0, 1000)],
    );
  },

  /**
   * Gives back the attempt's `tasks` of the lease (unless the lease was reset since the attempt:
   * they are not counted any more) and opens the breaker: `retry_at` after a backoff that doubles
   * per consecutive failure (with jitter, capped), decided in SQL so every process agrees.
   * `failed_at` is when the failing launch was decided: only a task launched after that can close
   * the breaker (its heartbeat). A start failure also counts towards dead letters; a failed RunTask
   * does not (the deliveries can wait for a permission or a quota to be fixed, but not for code that cannot start).
   */
  async openBreaker(
    db: Queryable,
    schema: string,
    failure: { useCase: string; attemptId: string; tasks: number; reason: string; start: boolean },
    backoff: { baseMs: number; maxMs: number },
  ): Promise<BreakerCount> {
    const s = quoteIdent(schema);
    const { rows } = await db.query<{ failures: number; start_failures: number; retry_in_ms: number }>(
      `with counted as (
         select l.use_case, case when l.reset_at is null or l.reset_at < (select created_at from ${s}.launch_attempts where id = $6) then $2::int else 0 end as share
         from ${s}.task_leases l where l.use_case = $1
       )
       update ${s}.task_leases l set
         tasks = greatest(l.tasks - counted.share, 0),
         expires_at = case when l.tasks - counted.share <= 0 then now() else l.expires_at end,
         holder = case when l.tasks - counted.share <= 0 then null else l.holder end,
         failures = l.failures + 1,
         start_failures = l.start_failures + case when $7 then 1 else 0 end,
         retry_at = now() + (least($4::float8, $3::float8 * power(2, least(l.failures, 30))) * (0.5 + random() / 2) * interval '1 millisecond'),
         last_failure = left($5, 1000),
         failed_at = greatest(l.failed_at, coalesce((select created_at from ${s}.launch_attempts where id = $6), now())),
         updated_at = now()
       from counted
       where l.use_case = counted.use_case
       returning l.failures, l.start_failures, round(extract(epoch from l.retry_at - now()) * 1000)::int as retry_in_ms`,
      [failure.useCase, failure.tasks, backoff.baseMs, backoff.maxMs, failure.reason, failure.attemptId, failure.start],
    );
    return { failures: rows[0]?.failures ?? 0, startFailures: rows[0]?.start_failures ?? 0, retryInMs: rows[0]?.retry_in_ms ?? 0 };
  },

  /** A task that heartbeated, then died without giving its share of the lease back: given back now, unless the lease was reset since its launch. */
  async releaseCrashed(db: Queryable, schema: string, useCase: string, attemptId: string): Promise<void> {
    const s = quoteIdent(schema);
    await db.query(
      `update ${s}.task_leases set tasks = greatest(tasks - 1, 0), expires_at = case when tasks <= 1 then now() else expires_at end, updated_at = now()
       where use_case = $1 and (reset_at is null or reset_at < (select created_at from ${s}.launch_attempts where id = $2))`,
      [useCase, attemptId],
    );
  },

  /** Dead-letters every pending delivery of the use case; returns how many. */
  async deadLetterPending(db: Queryable, schema: string, useCase: string, errorCode: string, reason: string): Promise<number> {
    const dead = await db.query(
      `update ${quoteIdent(schema)}.inbox set status = 'dead', error_code = $2, last_error = left($3, 4000), updated_at = now()
       where use_case = $1 and status = 'pending'`,
      [useCase, errorCode, reason],
    );
    return dead.rowCount ?? 0;
  },

  /**
   * Claims up to 100 launched, unresolved attempts for `claimMs` (several processes observe; each
   * looks at the ones it claimed). `overdueMs`: the start timeout; `staleMs`: a lease period.
   */
  async claimUnobserved(
    database: PostgresDatabase,
    schema: string,
    times: { overdueMs: number; staleMs: number; claimMs: number },
  ): Promise<ClaimedAttempt[]> {
    const s = quoteIdent(schema);
    const { rows } = await database.pgQuery<ClaimedAttempt>(
      `update ${s}.launch_attempts a set observing_until = now() + ($3 * interval '1 millisecond')
       from (
         select id from ${s}.launch_attempts
         where status = 'started' and observed_at is null and (observing_until is null or observing_until < now())
         order by created_at limit 100 for update skip locked
       ) claimed
       where a.id = claimed.id
       returning a.id, a.use_case, a.task_arns, a.running_at is not null as running, a.marks_running,
         a.created_at < now() - ($1 * interval '1 millisecond') as overdue, a.created_at < now() - ($2 * interval '1 millisecond') as stale`,
      [times.overdueMs, times.staleMs, times.claimMs],
    );
    return rows;
  },

  async unclaim(database: PostgresDatabase, schema: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await database.pgQuery(`update ${quoteIdent(schema)}.launch_attempts set observing_until = null where id = any($1::uuid[])`, [ids]);
  },

  /** Marks the attempt observed with its outcome; false when another pass already did. */
  async markObserved(db: Queryable, schema: string, attemptId: string, outcome: string): Promise<boolean> {
    const marked = await db.query(
      `update ${quoteIdent(schema)}.launch_attempts set observed_at = now(), observing_until = null, outcome = $2, updated_at = now() where id = $1 and observed_at is null`,
      [attemptId, outcome],
    );
    return (marked.rowCount ?? 0) > 0;
  },

  /** Leases whose tasks stopped heartbeating (a task killed mid-batch): reset them so a launch is decided again. */
  async resetExpiredLeases(database: PostgresDatabase, schema: string): Promise<string[]> {
    const rows = await database.pgQuery<{ use_case: string }>(
      `update ${quoteIdent(schema)}.task_leases set tasks = 0, holder = null, reset_at = now(), updated_at = now() where expires_at < now() and tasks > 0 returning use_case`,
    );
    return rows.rows.map((r) => r.use_case);
  },

  /** Use cases with due deliveries and no live lease, whose breaker is closed or whose backoff has passed. */
  async needingTasks(database: PostgresDatabase, schema: string): Promise<string[]> {
    const s = quoteIdent(schema);
    const rows = await database.pgQuery<{ use_case: string }>(
      `select l.use_case from ${s}.task_leases l
       where (l.retry_at is null or l.retry_at <= now()) and (l.tasks = 0 or l.expires_at <= now())
         and exists (select 1 from ${s}.inbox i where i.use_case = l.use_case and i.status = 'pending' and i.available_at <= now())`,
    );
    return rows.rows.map((r) => r.use_case);
  },
};
