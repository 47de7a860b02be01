import type { ModuleDatabase } from '../../persistence/module-database.js';
import type { SessionQuery } from '../../persistence/pg-connections.js';
import { quoteIdent } from '../../persistence/sql-identifier.js';

/**
 * The launch that started a task: its attempt (the RunTask clientToken; null when run by hand)
 * and whether that launch holds the task's share of the lease (ADR 36: its launcher says so with
 * TASK_LEASE_SHARE=launch). A task an older release's launcher started shares the lease row
 * instead, as that launcher counts it: it heartbeats the row and gives its share back there.
 */
export interface TaskLaunch {
  readonly attempt: string | null;
  readonly ownShare: boolean;
  /** The task's own ARN (task metadata): its give-back is recorded by it, so it counts once (ADR 39). */
  readonly taskArn?: string | null;
}

/** The launch attempt holding the task's share, or null when the lease row does. */
export function shareOf(launch: TaskLaunch): string | null {
  return launch.ownShare ? launch.attempt : null;
}

/**
 * A running task keeps its own launch's lease alive (ADR 36): its heartbeat extends its launch
 * attempt's `expires_at`, nobody else's, so a task killed while its siblings run lapses on its
 * own. Its first heartbeat marks its launch attempt running (a task that stops before that failed
 * to start: ADR 19). A heartbeat closes the launch breaker only when it proves the cause of the
 * last failure gone: the task was launched after that failure (a task started long before, still
 * running an older revision, proves nothing about a launch today). A task run by hand, with no
 * launch attempt, keeps the use case's lease row alive instead, and closes the breaker too: an
 * operator ran the use case.
 */
export async function heartbeatLease(db: ModuleDatabase, useCase: string, ttlMs: number, launch: TaskLaunch): Promise<void> {
  const s = quoteIdent(db.schema);
  const launchAttempt = launch.attempt;
  if (launchAttempt !== null) {
    await db.exec(
      `update ${s}.launch_attempts
       set running_at = coalesce(running_at, now()), expires_at = greatest(expires_at, now() + (? * interval '1 millisecond')), updated_at = now()
       where id = ?::uuid`,
      [ttlMs, launchAttempt],
    );
  }
  await db.exec(
    `with proof as (
       select failed_at is null or ?::uuid is null or failed_at < (select created_at from ${s}.launch_attempts where id = ?::uuid) as closes
       from ${s}.task_leases where use_case = ?
     )
     update ${s}.task_leases l
     set expires_at = case when ?::uuid is null then greatest(l.expires_at, now() + (? * interval '1 millisecond')) else l.expires_at end,
         failures = case when proof.closes then 0 else l.failures end,
         start_failures = case when proof.closes then 0 else l.start_failures end,
         retry_at = case when proof.closes then null else l.retry_at end,
         last_failure = case when proof.closes then null else l.last_failure end,
         failed_at = case when proof.closes then null else l.failed_at end,
         updated_at = now()
     from proof
     where l.use_case = ?`,
    [launchAttempt, launchAttempt, useCase, shareOf(launch), ttlMs, useCase],
  );
}

/**
 * The statement giving one task's share back: its own launch attempt's, or (run by hand, or by an
 * older release) the lease row's. Its parameters: `[key]`, or `[arn, attempt id]` for a launch's
 * share, whose give-back is recorded by the task's ARN and applied once (a retry after a lost
 * commit, or the observer seeing the task killed afterwards, releases nothing more); a task that
 * does not know its ARN gives back without a record. `p(n)`: the n-th parameter's placeholder.
 */
function giveBackSql(s: string, ofAttempt: boolean, p: (n: number) => string): string {
  if (ofAttempt)
    return `with task as (select ${p(1)}::text as arn)
     update ${s}.launch_attempts a
     set live_tasks = greatest(a.live_tasks - 1, 0),
         returned_arns = case when task.arn is null then a.returned_arns else a.returned_arns || task.arn end,
         updated_at = now()
     from task
     where a.id = ${p(2)}::uuid and (task.arn is null or not (task.arn = any(a.returned_arns)))`;
  return `update ${s}.task_leases
     set tasks = greatest(tasks - 1, 0),
         expires_at = case when tasks <= 1 then now() else expires_at end,
         holder = case when tasks <= 1 then null else holder end,
         updated_at = now()
     where use_case = ${p(1)}`;
}

/** A row when the task (`$2`) has given its launch's (`$1`) share back. */
function returnedSql(s: string): string {
  return `select 1 from ${s}.launch_attempts where id = $1::uuid and $2::text = any(returned_arns)`;
}

/** Whether this task's give-back is recorded by its ARN, so that applying it again gives nothing more back. */
export function givesBackOnce(launch: TaskLaunch): boolean {
  return shareOf(launch) !== null && Boolean(launch.taskArn);
}

/** giveBackSql's parameters for this task. */
function giveBackParams(useCase: string, launch: TaskLaunch): unknown[] {
  const share = shareOf(launch);
  return share === null ? [useCase] : [launch.taskArn ?? null, share];
}

/** Gives up one task's share (see giveBackSql). */
async function giveBack(db: ModuleDatabase, useCase: string, launch: TaskLaunch): Promise<void> {
  await db.exec(
    giveBackSql(quoteIdent(db.schema), shareOf(launch) !== null, () => '?'),
    giveBackParams(useCase, launch),
  );
}

/** Locks the use case's lease row, then looks for a due delivery (`param`: the use case's parameter, `?` or `$n`). */
function lockedDueSql(s: string, param: string): [lock: string, due: string] {
  return [
    `select tasks from ${s}.task_leases where use_case = ${param} for update`,
    `select 1 from ${s}.inbox where use_case = ${param} and status = 'pending' and available_at <= now() limit 1`,
  ];
}

/**
 * Whether no delivery of the use case is due, seen under the lease's lock; nothing is given back
 * (a drained task then closes its pools and gives its share back with `giveBackIfIdle`).
 */
export function idleUnderLease(db: ModuleDatabase, useCase: string): Promise<boolean> {
  const [lock, due] = lockedDueSql(quoteIdent(db.schema), '?');
  return db.run(async () => {
    await db.query(lock, [useCase]);
    return (await db.query(due, [useCase])).length === 0;
  });
}

/**
 * A drained task's last act: gives its share back on a connection of its own, opened once its
 * pools and its LISTEN connection are closed, so that no launch counts its share free while it
 * still holds a connection (the connection budget is what the shares stand for). Only in a
 * transaction that saw no due delivery under the lease's lock: a delivery committed before the
 * relay checked the lease is always seen here (and the task drains again), and one committed
 * after finds the share released and launches a task. False: work arrived, nothing given back.
 */
export async function giveBackIfIdle(query: SessionQuery, schema: string, useCase: string, launch: TaskLaunch): Promise<boolean> {
  const share = shareOf(launch);
  const s = quoteIdent(schema);
  const [lock, due] = lockedDueSql(s, '$1');
  await query(lock, [useCase]);
  // Given back already: a retry whose first commit's answer was lost (ADR 39).
  if (share !== null && launch.taskArn && (await query(returnedSql(s), [share, launch.taskArn])).length > 0) return true;
  if ((await query(due, [useCase])).length > 0) return false;
  await query(
    giveBackSql(s, share !== null, (n) => `$${n}`),
    giveBackParams(useCase, launch),
  );
  return true;
}

/** Gives up this task's share unconditionally (stopping at its time limit or on SIGTERM); the caller relaunches if work remains. */
export async function releaseLease(db: ModuleDatabase, useCase: string, launch: TaskLaunch): Promise<void> {
  await db.run(async () => {
    // Under the lease's lock, like every launch decision: a decision never counts a share being given back.
    await db.query(`select tasks from ${quoteIdent(db.schema)}.task_leases where use_case = ? for update`, [useCase]);
    await giveBack(db, useCase, launch);
  });
}
