import type pg from 'pg';
import { quoteIdent } from '../../persistence/sql-identifier.js';
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
export const BUDGET_LOCK = '7310558214590371861';

export interface LockedLease {
  /** Tasks believed to run: the live shares of its launch attempts (and of an older release's lease). */
  readonly current: number;
  /** The breaker is open: no launch before its backoff has passed. */
  readonly backingOff: boolean;
  readonly failures: number;
  /** A launch decided since the breaker opened has not proved itself yet (no heartbeat): the half-open probe. */
  readonly probeInFlight: boolean;
}

export interface BreakerCount {
  readonly failures: number;
  readonly startFailures: number;
  readonly retryInMs: number;
  /** Since the first permanent start failure of the streak (0: none). */
  readonly failingForMs: number;
}

/** An attempt's share holds tasks while its own lease is live. */
export const LIVE_ATTEMPT = 'a.live_tasks > 0 and a.expires_at > now()';

/** Live tasks of the lease row `l`'s use case: its live attempts' shares, plus the row's own count while live (an older release's tasks). */
export function liveTasksOf(s: string): string {
  return `(case when l.expires_at > now() then l.tasks else 0 end
    + coalesce((select sum(a.live_tasks) from ${s}.launch_attempts a where a.use_case = l.use_case and ${LIVE_ATTEMPT}), 0))::int`;
}

/**
 * The SQL of launches, in the consumer module's schema: the lease row of a use case (its lock and
 * its breaker) and its launch-attempt rows, each holding its own share of tasks until its own
 * lease lapses (ADR 36). `db` is a connection in the caller's transaction when it needs one.
 */
export const launchStore = {
  /** Creates the lease row if needed and locks it for the decision's transaction. */
  async lockLease(db: Queryable, schema: string, useCase: string): Promise<LockedLease> {
    const s = quoteIdent(schema);
    await db.query(`insert into ${s}.task_leases (use_case, tasks, expires_at) values ($1, 0, now()) on conflict do nothing`, [useCase]);
    // The lock first, in a statement of its own: the count below then reads with a snapshot taken
    // after it. In one statement, a decision that waited for a task's give-back would still count
    // the share (a launch's share lives in launch_attempts, a row the lock does not re-read).
    await db.query(`select 1 from ${s}.task_leases where use_case = $1 for update`, [useCase]);
    const lease = await db.query<{ tasks: number; backing_off: boolean; failures: number; probe_in_flight: boolean }>(
      `select ${liveTasksOf(s)} as tasks, coalesce(l.retry_at > now(), false) as backing_off, l.failures,
         l.failed_at is not null and exists (
           select 1 from ${s}.launch_attempts a where a.use_case = l.use_case and a.created_at > l.failed_at and a.running_at is null and ${LIVE_ATTEMPT}
         ) as probe_in_flight
       from ${s}.task_leases l where l.use_case = $1`,
      [useCase],
    );
    const row = lease.rows[0];
    return {
      current: row?.tasks ?? 0,
      backingOff: row?.backing_off ?? false,
      failures: row?.failures ?? 0,
      probeInFlight: row?.probe_in_flight ?? false,
    };
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
        .map((schema) => `select l.use_case, ${liveTasksOf(quoteIdent(schema))} as tasks from ${quoteIdent(schema)}.task_leases l`)
        .join(' union all '),
    );
    return new Map(rows.rows.map((r) => [r.use_case, r.tasks]));
  },

  /**
   * Records a launch decision, committed before RunTask: the attempt holds its `count` tasks for
   * `holdMs` (the start timeout); its tasks' heartbeats extend its own lease, nobody else's.
   */
  async recordDecision(
    db: Queryable,
    schema: string,
    decision: { useCase: string; attemptId: string; count: number; holdMs: number; taskDefinition: string; request: string },
  ): Promise<void> {
    const s = quoteIdent(schema);
    await db.query(
      `insert into ${s}.launch_attempts (id, use_case, client_token, task_count, task_definition, marks_running, live_tasks, expires_at, request)
       values ($1, $2, $3, $4, $5, true, $4, now() + ($6 * interval '1 millisecond'), $7)`,
      [
        decision.attemptId,
        decision.useCase,
        decision.attemptId,
        decision.count,
        decision.taskDefinition,
        decision.holdMs,
        decision.request,
      ],
    );
    await db.query(`update ${s}.task_leases set holder = 'launch:' || $2, updated_at = now() where use_case = $1`, [
      decision.useCase,
      decision.attemptId,
    ]);
  },

  /** RunTask placed these tasks; fewer than decided gives the rest of the attempt's own share back (never another launch's). */
  async recordStarted(db: Queryable, schema: string, attemptId: string, arns: readonly string[], notPlaced: number): Promise<void> {
    await db.query(
      `update ${quoteIdent(schema)}.launch_attempts
       set status = 'started', attempts = attempts + 1, task_arns = $2, live_tasks = greatest(live_tasks - $3, 0), updated_at = now() where id = $1`,
      [attemptId, arns, notPlaced],
    );
  },

  /**
   * A RunTask decided after the breaker's last failure placed tasks: the breaker closes, unless
   * that failure was a task's start (then only a heartbeat of a task launched since proves the
   * cause gone). Returns whether it closed.
   */
  async closeBreakerAfterRunTask(db: Queryable, schema: string, useCase: string, attemptId: string): Promise<boolean> {
    const s = quoteIdent(schema);
    const closed = await db.query(
      `update ${s}.task_leases set failures = 0, retry_at = null, failed_at = null, last_failure = null, updated_at = now()
       where use_case = $1 and failures > 0 and not failed_starting
         and (failed_at is null or failed_at < (select created_at from ${s}.launch_attempts where id = $2))`,
      [useCase, attemptId],
    );
    return (closed.rowCount ?? 0) > 0;
  },

  /** A RunTask whose outcome is unknown (maybe applied): pending still, its share held, to be sent again with its token. */
  async recordUnknown(db: Queryable, schema: string, attemptId: string, reason: string): Promise<void> {
    await db.query(
      `update ${quoteIdent(schema)}.launch_attempts set attempts = attempts + 1, last_error = $2, observing_until = null, updated_at = now() where id = $1`,
      [attemptId, reason.slice(0, 1000)],
    );
  },

  async recordFailed(db: Queryable, schema: string, attemptId: string, reason: string): Promise<void> {
    await db.query(
      `update ${quoteIdent(schema)}.launch_attempts set status = 'failed', attempts = attempts + 1, last_error = $2, updated_at = now() where id = $1`,
      [attemptId, reason.slice(0, 1000)],
    );
  },

  /**
   * Gives back `tasks` of the attempt's share and opens the breaker: `retry_at` after a backoff
   * that doubles per consecutive failure (with jitter, capped), decided in SQL so every process
   * agrees. `failed_at` is when the failing launch was decided: only a launch decided after that
   * can close the breaker. A permanent start failure also counts towards dead letters (and starts
   * the streak's clock); a transient one or a failed RunTask does not (the deliveries can wait for
   * a registry, a permission or a quota to come back, but not for code that cannot start).
   */
  async openBreaker(
    db: Queryable,
    schema: string,
    failure: {
      useCase: string;
      attemptId: string;
      tasks: number;
      reason: string;
      /** A launched task did not start (else RunTask failed). */
      atStart: boolean;
      /** ...for a cause no retry fixes: it counts towards dead letters. */
      permanentStart: boolean;
      /** The tasks that did not start: their shares given back once each, recorded by ARN (ADR 39); else `tasks` shares. */
      arns?: readonly string[];
    },
    backoff: { baseMs: number; maxMs: number },
  ): Promise<BreakerCount> {
    const s = quoteIdent(schema);
    const { rows } = await db.query<{ failures: number; start_failures: number; retry_in_ms: number; failing_for_ms: number }>(
      `with given_back as (
         update ${s}.launch_attempts a set
           live_tasks = greatest(a.live_tasks - case when cardinality($9::text[]) = 0 then $2::int
             else (select count(*)::int from unnest($9::text[]) t where not (t = any(a.returned_arns))) end, 0),
           returned_arns = a.returned_arns || array(select t from unnest($9::text[]) t where not (t = any(a.returned_arns))),
           updated_at = now()
         where a.id = $6 returning a.created_at
       )
       update ${s}.task_leases l set
         failures = l.failures + 1,
         start_failures = l.start_failures + case when $7 then 1 else 0 end,
         start_failing_since = case when $7 then coalesce(l.start_failing_since, now()) else l.start_failing_since end,
         failed_starting = $8,
         retry_at = now() + (least($4::float8, $3::float8 * power(2, least(l.failures, 30))) * (0.5 + random() / 2) * interval '1 millisecond'),
         last_failure = left($5, 1000),
         failed_at = greatest(l.failed_at, coalesce((select created_at from given_back), now())),
         updated_at = now()
       where l.use_case = $1
       returning l.failures, l.start_failures, round(extract(epoch from l.retry_at - now()) * 1000)::int as retry_in_ms,
         coalesce(round(extract(epoch from now() - l.start_failing_since) * 1000), 0)::int as failing_for_ms`,
      [
        failure.useCase,
        failure.tasks,
        backoff.baseMs,
        backoff.maxMs,
        failure.reason,
        failure.attemptId,
        failure.permanentStart,
        failure.atStart,
        failure.arns ?? [],
      ],
    );
    const row = rows[0];
    return {
      failures: row?.failures ?? 0,
      startFailures: row?.start_failures ?? 0,
      retryInMs: row?.retry_in_ms ?? 0,
      failingForMs: row?.failing_for_ms ?? 0,
    };
  },

  /**
   * Dead-letters the use case's pending deliveries, except those of `waitingTypes` (compensations
   * and replies a saga waits on: they wait for the task, alarmed); returns how many.
   */
  async deadLetterPending(
    db: Queryable,
    schema: string,
    useCase: string,
    dead: { errorCode: string; reason: string; waitingTypes: readonly string[] },
  ): Promise<number> {
    const rows = await db.query(
      `update ${quoteIdent(schema)}.inbox set status = 'dead', error_code = $2, last_error = left($3, 4000), updated_at = now()
       where use_case = $1 and status = 'pending' and not (type = any($4::text[]))`,
      [useCase, dead.errorCode, dead.reason, dead.waitingTypes],
    );
    return rows.rowCount ?? 0;
  },
};
