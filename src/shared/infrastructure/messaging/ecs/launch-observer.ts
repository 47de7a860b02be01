import { DescribeTasksCommand, StopTaskCommand, type ECSClient, type Task } from '@aws-sdk/client-ecs';
import type { Logger } from '../../logging/logger.js';
import type { PostgresDatabase } from '../../persistence/postgres-database.js';
import type { EcsLaunchSettings, LaunchCounters } from './launch-settings.js';
import { deadLetterDue, startOutcome, type StartOutcome } from './launch-policy.js';
import { classifyStartFailure } from './start-failure-class.js';
import { launchStore, type Queryable } from './launch-store.js';
import { watchStore, type ClaimedAttempt } from './launch-watch-store.js';

type FailedTask = {
  readonly arn: string;
  readonly stopCode: string;
  readonly reason: string;
  readonly start: boolean;
  readonly exitCode?: number | undefined;
};

type Observed = { readonly arn: string; readonly task: Task | undefined; readonly outcome: StartOutcome };

/** What one pass saw: use cases with a start failure, and use cases whose dead tasks' shares it released. */
export type ObservedPass = { readonly startFailed: string[]; readonly released: string[] };

/** RunTask's and DescribeTasks' limit of tasks a call. */
const DESCRIBE_CHUNK = 100;

/**
 * Watches every launched task until it stops (DescribeTasks, 100 ARNs a call, from the long-lived
 * processes' maintenance pass). Its start first: a task that stopped before its first heartbeat
 * (TaskFailedToStart, exit 78, any other exit of its own) or has not heartbeated after
 * TASK_START_TIMEOUT_MS (stopped then) is a start failure: it gives its share back and opens the
 * breaker, and after repeated ones the use case's pending deliveries are dead-lettered. Then its
 * life: a task seen stopped without having given its share back (SIGKILL, OOM, a non-zero exit)
 * gives it back at once, whatever its siblings do (ADR 36). Several processes run this pass: each
 * claims the attempts it looks at, and what it saw of a task is applied once, in the transaction
 * that records the task stopped.
 */
export class LaunchObserver {
  constructor(
    private readonly ecs: ECSClient,
    private readonly databaseOf: (schema: string) => PostgresDatabase,
    private readonly settings: EcsLaunchSettings,
    private readonly counters: LaunchCounters,
    private readonly logger: Logger,
  ) {}

  async observe(schemas: readonly string[]): Promise<ObservedPass> {
    const startFailed = new Set<string>();
    const released = new Set<string>();
    // One database or one DescribeTasks refused costs that schema's pass, not the others'.
    for (const schema of schemas) {
      await this.observeSchema(schema, startFailed, released).catch((error: unknown) => {
        this.logger.warn({ err: error, schema }, 'could not describe the launched tasks of a schema; next pass retries');
      });
    }
    return { startFailed: [...startFailed], released: [...released] };
  }

  private async observeSchema(schema: string, startFailed: Set<string>, released: Set<string>): Promise<void> {
    const database = this.databaseOf(schema);
    const { taskStartTimeoutMs, leaseTtlMs } = this.settings;
    const rows = await watchStore.claimObservable(database, schema, {
      overdueMs: taskStartTimeoutMs,
      staleMs: leaseTtlMs,
      claimMs: Math.max(leaseTtlMs, 30_000),
      longOverdueMs: taskStartTimeoutMs + leaseTtlMs,
    });
    if (rows.length === 0) return;
    try {
      const byArn = await this.describe(rows.flatMap(watchedArns));
      for (const attempt of rows) {
        const observed = watchedArns(attempt).map((arn) => {
          const task = byArn.get(arn);
          return { arn, task, outcome: startOutcome(task, attempt) };
        });
        if (!attempt.resolved) {
          if (observed.some((o) => o.outcome.kind === 'starting')) continue;
          // Resolved only once its tasks that did not start in time are stopped: resolved, it is not watched again.
          if (!(await this.stopFailed(attempt, observed))) continue;
          const result = await this.resolveStart(database, schema, attempt, observed);
          if (result.startFailed) startFailed.add(attempt.use_case);
          if (result.released) released.add(attempt.use_case);
        } else if (await this.releaseStopped(database, schema, attempt, observed)) {
          released.add(attempt.use_case);
        }
      }
    } finally {
      await watchStore
        .unclaim(
          database,
          schema,
          rows.map((r) => r.id),
        )
        .catch(() => undefined);
    }
  }

  /**
   * Stops the tasks that did not start in time: one that starts late would run on a share already
   * given back, billed, beside the tasks launched since. False while a StopTask was refused (a
   * throttle past the SDK's retries, a 5xx): the attempt stays unresolved and the next pass tries
   * again, for a lease period past its start timeout; then the attempt is resolved anyway and the
   * task left to the error logged here.
   */
  private async stopFailed(attempt: ClaimedAttempt, observed: readonly Observed[]): Promise<boolean> {
    let stopped = true;
    for (const { arn, outcome } of observed) {
      if (outcome.kind !== 'failed' || !outcome.stopTask) continue;
      try {
        await this.ecs.send(new StopTaskCommand({ cluster: this.settings.cluster, task: arn, reason: outcome.reason }));
      } catch (error) {
        stopped = false;
        const fields = { err: error, useCase: attempt.use_case, launchAttempt: attempt.id, taskArn: arn };
        if (attempt.long_overdue) this.logger.error(fields, 'could not stop an ecs task that did not start in time; stop it by hand');
        else this.logger.warn(fields, 'could not stop an ecs task that did not start in time; next pass tries again');
      }
    }
    return stopped || attempt.long_overdue;
  }

  /** DescribeTasks of every ARN, 100 a call (the API's limit). */
  private async describe(arns: readonly string[]): Promise<Map<string | undefined, Task>> {
    const byArn = new Map<string | undefined, Task>();
    for (let i = 0; i < arns.length; i += DESCRIBE_CHUNK) {
      const described = await this.ecs.send(
        new DescribeTasksCommand({ cluster: this.settings.cluster, tasks: arns.slice(i, i + DESCRIBE_CHUNK) }),
      );
      for (const task of described.tasks ?? []) byArn.set(task.taskArn, task);
    }
    return byArn;
  }

  /** Applies an attempt's start outcome once. */
  private async resolveStart(
    database: PostgresDatabase,
    schema: string,
    attempt: ClaimedAttempt,
    observed: readonly Observed[],
  ): Promise<{ startFailed: boolean; released: boolean }> {
    let startFailed = false;
    const logs: Array<() => void> = [];
    const crashed = observed.filter((o) => o.outcome.kind === 'crashed');
    const failedTasks: FailedTask[] = observed.flatMap(({ arn, outcome }) =>
      outcome.kind === 'failed'
        ? [{ arn, stopCode: outcome.stopCode, reason: outcome.reason, start: outcome.start, exitCode: outcome.exitCode }]
        : [],
    );
    // Accounted now: what stopped, and what failed to start (its share given back with the breaker, its task stopped).
    const accounted = observed.filter((o) => o.outcome.kind !== 'started' || isGone(o, attempt)).map((o) => o.arn);
    const outcome = observed.map((o) => o.outcome.kind).join(',');
    let unreturned = 0;
    const applied = await database.pgTransaction(async (client) => {
      if (!(await watchStore.markStopped(client, schema, attempt.id, accounted, outcome))) return false;
      await watchStore.releaseCrashed(
        client,
        schema,
        attempt.id,
        crashed.map((o) => o.arn),
      );
      logs.push(...crashed.map((o) => this.crashLog(attempt, o)));
      if (failedTasks.length > 0) {
        startFailed = failedTasks.some((t) => t.start);
        logs.push(await this.attemptFailed(client, schema, attempt, failedTasks));
      }
      unreturned = await watchStore.boundToUnstopped(client, schema, attempt.id);
      return true;
    });
    if (!applied) return { startFailed: false, released: false };
    if (startFailed) this.counters.startFailures += 1;
    for (const log of logs) log();
    if (unreturned > 0) this.unreturnedLog(attempt, unreturned);
    return { startFailed, released: crashed.length + unreturned > 0 };
  }

  /** A started attempt's tasks seen stopped since: those that did not give their share back (not exit 0) give it back now. */
  private async releaseStopped(
    database: PostgresDatabase,
    schema: string,
    attempt: ClaimedAttempt,
    observed: readonly Observed[],
  ): Promise<boolean> {
    const gone = observed.filter((o) => isGone(o, attempt));
    if (gone.length === 0) return false;
    const dead = gone.filter((o) => o.outcome.kind !== 'started');
    let unreturned = 0;
    const applied = await database.pgTransaction(async (client) => {
      if (
        !(await watchStore.markStopped(
          client,
          schema,
          attempt.id,
          gone.map((o) => o.arn),
          null,
        ))
      )
        return false;
      await watchStore.releaseCrashed(
        client,
        schema,
        attempt.id,
        dead.map((o) => o.arn),
      );
      unreturned = await watchStore.boundToUnstopped(client, schema, attempt.id);
      return true;
    });
    if (!applied) return false;
    for (const o of dead) this.crashLog(attempt, o)();
    if (unreturned > 0) this.unreturnedLog(attempt, unreturned);
    return dead.length + unreturned > 0;
  }

  /** Tasks that stopped cleanly but gave the lease row's share back, not their launch's (an older release's tasks during a roll-out). */
  private unreturnedLog(attempt: ClaimedAttempt, tasks: number): void {
    this.logger.info(
      { useCase: attempt.use_case, launchAttempt: attempt.id, tasks },
      "ecs tasks stopped without giving their launch's share back (an older release's): released",
    );
  }

  private crashLog(attempt: ClaimedAttempt, o: Observed): () => void {
    const reason = o.outcome.kind === 'crashed' || o.outcome.kind === 'failed' ? o.outcome.reason : (o.task?.stoppedReason ?? '');
    return () =>
      this.logger.warn(
        { useCase: attempt.use_case, taskArn: o.arn, stopCode: o.task?.stopCode, reason },
        'ecs task stopped without giving its lease back; its share released, deciding a launch again',
      );
  }

  /**
   * Opens the breaker for a launch whose tasks did not start (their shares given back). A start
   * failure is classified (start-failure-class.ts): a permanent one counts (one per launch, however
   * many of its tasks failed: one cause must not count ten times) and, once enough have gone on
   * for long enough, dead-letters the use case's pending deliveries except those a saga waits on;
   * a transient one only backs off, with an error log to alarm on. A task that could not reach its
   * database yet (exit 75) backs off like a failed RunTask. Returns the log to write once committed.
   */
  private async attemptFailed(db: Queryable, schema: string, attempt: ClaimedAttempt, tasks: readonly FailedTask[]): Promise<() => void> {
    const useCase = attempt.use_case;
    const starts = tasks.filter((t) => t.start);
    const permanent = starts.find((t) => classifyStartFailure(t) === 'permanent');
    const last = permanent ?? starts[0] ?? tasks[0]!;
    const breaker = await launchStore.openBreaker(
      db,
      schema,
      {
        useCase,
        attemptId: attempt.id,
        tasks: tasks.length,
        arns: tasks.map((t) => t.arn),
        reason: `${last.stopCode}: ${last.reason}`,
        atStart: true,
        permanentStart: permanent !== undefined,
      },
      { baseMs: this.settings.breakerBaseMs, maxMs: this.settings.breakerMaxMs },
    );
    const logEach =
      (message: string, extra: Record<string, unknown> = {}) =>
      () => {
        for (const t of tasks)
          this.logger.error({ useCase, taskArn: t.arn, stopCode: t.stopCode, reason: t.reason, ...breaker, ...extra }, message);
      };
    if (starts.length === 0) return logEach('ecs task could not reach its database yet; no launch for this use case before the backoff');
    if (!permanent) return logEach('ecs task failed to start', { class: 'transient', deadLetters: 'never' });
    const due = deadLetterDue(
      { failures: breaker.startFailures, failingForMs: breaker.failingForMs },
      { failures: this.settings.startFailuresBeforeDeadLetter, forMs: this.settings.startFailingBeforeDeadLetterMs },
    );
    if (!due) return logEach('ecs task failed to start', { class: 'permanent' });
    const deadLettered = await launchStore.deadLetterPending(db, schema, useCase, {
      errorCode: 'TASK_FAILED_TO_START',
      reason: `${breaker.startFailures} consecutive launches of ${useCase} failed to start over ${Math.round(breaker.failingForMs / 1000)} s; the last: ${last.stopCode}: ${last.reason}`,
      waitingTypes: this.settings.waitingMessageTypes.get(useCase) ?? [],
    });
    return logEach('ecs tasks keep failing to start: pending deliveries dead-lettered (re-drive them once the cause is fixed)', {
      class: 'permanent',
      deadLettered,
    });
  }
}

/** The attempt's tasks not yet seen stopped. */
function watchedArns(attempt: ClaimedAttempt): string[] {
  const stopped = new Set(attempt.stopped_arns);
  return attempt.task_arns.filter((arn) => !stopped.has(arn));
}

/** Stopped, or unknown to ECS long after its launch. */
function isGone(o: Observed, attempt: ClaimedAttempt): boolean {
  return o.task ? o.task.lastStatus === 'STOPPED' : attempt.stale;
}
