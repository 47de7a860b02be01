import { quoteIdent } from '../../persistence/sql-identifier.js';
import type { PostgresDatabase } from '../../persistence/postgres-database.js';
import { liveTasksOf, type Queryable } from './launch-store.js';

/** A launch attempt a maintenance pass claimed. */
export interface ClaimedAttempt {
  readonly id: string;
  readonly use_case: string;
  readonly task_arns: string[];
  /** Its tasks already seen stopped (accounted once). */
  readonly stopped_arns: string[];
  /** Its start was resolved: its tasks still counted are watched until they stop. */
  readonly resolved: boolean;
  readonly running: boolean;
  readonly marks_running: boolean;
  readonly overdue: boolean;
  readonly stale: boolean;
  /** A lease period past its start timeout: a task that would not stop is left to its alarm. */
  readonly long_overdue: boolean;
}

/**
 * The SQL of watching launched tasks until they stop (the observer's and the maintenance pass's):
 * claims, what was seen stopped, shares released, launches whose own lease lapsed (ADR 36).
 */
export const watchStore = {
  /**
   * Tasks seen dead (killed, crashed): their shares given back now, from their own attempt's,
   * except a task that gave its share back itself before it was killed (a SIGKILL at the stop
   * timeout after its give-back): each ARN is given back once (ADR 39).
   */
  async releaseCrashed(db: Queryable, schema: string, attemptId: string, arns: readonly string[]): Promise<void> {
    if (arns.length === 0) return;
    await db.query(
      `update ${quoteIdent(schema)}.launch_attempts a
       set live_tasks = greatest(a.live_tasks - (select count(*) from unnest($2::text[]) t where not (t = any(a.returned_arns))), 0),
           returned_arns = a.returned_arns || array(select t from unnest($2::text[]) t where not (t = any(a.returned_arns))),
           updated_at = now()
       where a.id = $1`,
      [attemptId, arns],
    );
  },

  /**
   * An attempt never holds more shares than it has tasks neither seen stopped nor given back: a
   * task that exited 0 without giving its launch's share back (an older release's task, which
   * gives the lease row's back instead) has its share released here. Returns how many were released.
   */
  async boundToUnstopped(db: Queryable, schema: string, attemptId: string): Promise<number> {
    const holding = `cardinality(array(select unnest(a.task_arns) except select unnest(a.stopped_arns || a.returned_arns)))`;
    const { rows } = await db.query<{ released: number }>(
      `with before as (select live_tasks from ${quoteIdent(schema)}.launch_attempts where id = $1 for update)
       update ${quoteIdent(schema)}.launch_attempts a
       set live_tasks = ${holding}, updated_at = now()
       from before
       where a.id = $1 and a.status = 'started' and a.live_tasks > ${holding}
       returning (before.live_tasks - a.live_tasks)::int as released`,
      [attemptId],
    );
    return rows[0]?.released ?? 0;
  },

  /**
   * Accounts these tasks of the attempt as seen stopped, once (false when another pass already
   * did), and with `resolved` marks its start resolved with that outcome.
   */
  async markStopped(db: Queryable, schema: string, attemptId: string, arns: readonly string[], resolved: string | null): Promise<boolean> {
    const marked = await db.query(
      `update ${quoteIdent(schema)}.launch_attempts
       set stopped_arns = stopped_arns || $2::text[], observing_until = null, updated_at = now(),
           observed_at = case when $3::text is null then observed_at else now() end, outcome = coalesce($3::text, outcome)
       where id = $1 and not (stopped_arns && $2::text[]) and ($3::text is null or observed_at is null)`,
      [attemptId, arns, resolved],
    );
    return (marked.rowCount ?? 0) > 0;
  },

  /**
   * Claims for `claimMs` up to 100 launched attempts whose start is unresolved or whose tasks are
   * still counted (several processes observe; each looks at the ones it claimed).
   * `overdueMs`: the start timeout; `staleMs`: a lease period.
   */
  async claimObservable(
    database: PostgresDatabase,
    schema: string,
    times: { overdueMs: number; staleMs: number; claimMs: number; longOverdueMs: number },
  ): Promise<ClaimedAttempt[]> {
    const s = quoteIdent(schema);
    const { rows } = await database.pgQuery<ClaimedAttempt>(
      `update ${s}.launch_attempts a set observing_until = now() + ($3 * interval '1 millisecond')
       from (
         select id from ${s}.launch_attempts
         where status = 'started' and (observed_at is null or live_tasks > 0) and (observing_until is null or observing_until < now())
         order by created_at limit 100 for update skip locked
       ) claimed
       where a.id = claimed.id
       returning a.id, a.use_case, a.task_arns, a.stopped_arns, a.observed_at is not null as resolved, a.running_at is not null as running,
         a.marks_running, a.created_at < now() - ($1 * interval '1 millisecond') as overdue, a.created_at < now() - ($2 * interval '1 millisecond') as stale,
         a.created_at < now() - ($4 * interval '1 millisecond') as long_overdue`,
      [times.overdueMs, times.staleMs, times.claimMs, times.longOverdueMs],
    );
    return rows;
  },

  /**
   * Claims RunTask calls whose outcome is unknown (status pending after a call, share still held),
   * whose breaker backoff has passed: their exact request, to send again with the same token.
   */
  async claimUnknown(
    database: PostgresDatabase,
    schema: string,
    claimMs: number,
  ): Promise<Array<{ id: string; use_case: string; task_count: number; request: string }>> {
    const s = quoteIdent(schema);
    const { rows } = await database.pgQuery<{ id: string; use_case: string; task_count: number; request: string }>(
      `update ${s}.launch_attempts a set observing_until = now() + ($1 * interval '1 millisecond')
       from (
         select a.id from ${s}.launch_attempts a join ${s}.task_leases l on l.use_case = a.use_case
         where a.status = 'pending' and a.attempts > 0 and a.request is not null and a.live_tasks > 0 and a.expires_at > now()
           and (a.observing_until is null or a.observing_until < now()) and (l.retry_at is null or l.retry_at <= now())
         order by a.created_at limit 20 for update of a skip locked
       ) claimed
       where a.id = claimed.id
       returning a.id, a.use_case, a.task_count, a.request`,
      [claimMs],
    );
    return rows;
  },

  async unclaim(database: PostgresDatabase, schema: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await database.pgQuery(`update ${quoteIdent(schema)}.launch_attempts set observing_until = null where id = any($1::uuid[])`, [ids]);
  },

  /**
   * Launch attempts whose tasks stopped heartbeating (killed, and not seen stopped: DescribeTasks
   * failing), and an older release's leases likewise: their shares released so a launch is
   * decided again. Returns their use cases.
   */
  async releaseExpired(database: PostgresDatabase, schema: string): Promise<string[]> {
    const s = quoteIdent(schema);
    const attempts = await database.pgQuery<{ use_case: string }>(
      `update ${s}.launch_attempts set live_tasks = 0, updated_at = now() where live_tasks > 0 and expires_at < now() returning use_case`,
    );
    const leases = await database.pgQuery<{ use_case: string }>(
      `update ${s}.task_leases set tasks = 0, holder = null, reset_at = now(), updated_at = now() where expires_at < now() and tasks > 0 returning use_case`,
    );
    return [...new Set([...attempts.rows, ...leases.rows].map((r) => r.use_case))];
  },

  /** Use cases with due deliveries and no live task, whose breaker is closed or whose backoff has passed. */
  async needingTasks(database: PostgresDatabase, schema: string): Promise<string[]> {
    const s = quoteIdent(schema);
    const rows = await database.pgQuery<{ use_case: string }>(
      `select l.use_case from ${s}.task_leases l
       where (l.retry_at is null or l.retry_at <= now()) and ${liveTasksOf(s)} = 0
         and exists (select 1 from ${s}.inbox i where i.use_case = l.use_case and i.status = 'pending' and i.available_at <= now())`,
    );
    return rows.rows.map((r) => r.use_case);
  },
};
