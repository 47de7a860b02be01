import { DescribeTasksCommand, StopTaskCommand, type ECSClient, type Task } from '@aws-sdk/client-ecs';
import type { Logger } from '../../logging/logger.js';
import type { PostgresDatabase } from '../../persistence/postgres-database.js';
import type { EcsLaunchSettings, LaunchCounters } from './launch-settings.js';
import { startOutcome, type StartOutcome } from './launch-policy.js';
import { launchStore, type ClaimedAttempt, type Queryable } from './launch-store.js';

interface FailedTask {
  readonly arn: string;
  readonly stopCode: string;
  readonly reason: string;
  readonly start: boolean;
}

type Outcomes = ReadonlyArray<{ arn: string; outcome: StartOutcome }>;

/**
 * Looks at the tasks launched but not yet resolved (DescribeTasks, 100 ARNs a call). A task that
 * stopped before its first heartbeat (TaskFailedToStart: an image that cannot be pulled, a secret
 * that cannot be read; exit 78: a configuration it refused; any other exit of its own) or that
 * has not heartbeated after TASK_START_TIMEOUT_MS (stopped then) is a start failure: it gives its
 * share of the lease back and opens the breaker, and after repeated ones the use case's pending
 * deliveries are dead-lettered. A task that heartbeated and then died gives its share back.
 * Several processes run this pass (API replicas, the sweeper): each claims the attempts it looks
 * at, and an attempt's outcome is applied once, in the transaction that marks it observed.
 */
export class LaunchObserver {
  constructor(
    private readonly ecs: ECSClient,
    private readonly databaseOf: (schema: string) => PostgresDatabase,
    private readonly settings: EcsLaunchSettings,
    private readonly counters: LaunchCounters,
    private readonly logger: Logger,
  ) {}

  /** One pass over the schemas' launched attempts. Returns the use cases that had a start failure. */
  async observe(schemas: readonly string[]): Promise<string[]> {
    const failed: string[] = [];
    for (const schema of schemas) failed.push(...(await this.observeSchema(schema)));
    return [...new Set(failed)];
  }

  private async observeSchema(schema: string): Promise<string[]> {
    const database = this.databaseOf(schema);
    const { taskStartTimeoutMs, leaseTtlMs } = this.settings;
    const rows = await launchStore.claimUnobserved(database, schema, {
      overdueMs: taskStartTimeoutMs,
      staleMs: leaseTtlMs,
      claimMs: Math.max(leaseTtlMs, 30_000),
    });
    if (rows.length === 0) return [];
    let byArn: Map<string | undefined, Task>;
    try {
      byArn = await this.describe(rows.flatMap((r) => r.task_arns));
    } catch (error) {
      await launchStore
        .unclaim(
          database,
          schema,
          rows.map((r) => r.id),
        )
        .catch(() => undefined);
      throw error;
    }
    const failed: string[] = [];
    const unresolved: string[] = [];
    for (const attempt of rows) {
      const outcomes = attempt.task_arns.map((arn) => ({ arn, outcome: startOutcome(byArn.get(arn), attempt) }));
      if (outcomes.some((o) => o.outcome.kind === 'starting')) {
        unresolved.push(attempt.id);
        continue;
      }
      await this.stopFailed(outcomes);
      if (await this.resolve(database, schema, attempt, outcomes)) failed.push(attempt.use_case);
    }
    await launchStore.unclaim(database, schema, unresolved);
    return failed;
  }

  /** Stops the tasks that did not start in time (they would otherwise keep a Fargate task billed). */
  private async stopFailed(outcomes: Outcomes): Promise<void> {
    for (const { arn, outcome } of outcomes) {
      if (outcome.kind === 'failed' && outcome.stopTask) {
        await this.ecs
          .send(new StopTaskCommand({ cluster: this.settings.cluster, task: arn, reason: outcome.reason }))
          .catch(() => undefined);
      }
    }
  }

  /** DescribeTasks of every ARN, 100 a call (the API's limit). */
  private async describe(arns: readonly string[]): Promise<Map<string | undefined, Task>> {
    const byArn = new Map<string | undefined, Task>();
    for (let i = 0; i < arns.length; i += 100) {
      const described = await this.ecs.send(new DescribeTasksCommand({ cluster: this.settings.cluster, tasks: arns.slice(i, i + 100) }));
      for (const task of described.tasks ?? []) byArn.set(task.taskArn, task);
    }
    return byArn;
  }

  /** Applies an attempt's outcome once, with its mark; false when another pass already did. Returns whether a task failed to start. */
  private async resolve(database: PostgresDatabase, schema: string, attempt: ClaimedAttempt, outcomes: Outcomes): Promise<boolean> {
    let startFailed = false;
    const logs: Array<() => void> = [];
    const applied = await database.pgTransaction(async (client) => {
      if (!(await launchStore.markObserved(client, schema, attempt.id, outcomes.map((o) => o.outcome.kind).join(',')))) return false;
      const failedTasks: FailedTask[] = [];
      for (const { arn, outcome } of outcomes) {
        if (outcome.kind === 'crashed') {
          await launchStore.releaseCrashed(client, schema, attempt.use_case, attempt.id);
          logs.push(() =>
            this.logger.warn(
              { useCase: attempt.use_case, taskArn: arn, reason: outcome.reason },
              'ecs task stopped without giving its lease back; deciding a launch again',
            ),
          );
        } else if (outcome.kind === 'failed') {
          failedTasks.push({ arn, stopCode: outcome.stopCode, reason: outcome.reason, start: outcome.start });
        }
      }
      if (failedTasks.length > 0) {
        startFailed = failedTasks.some((t) => t.start);
        logs.push(await this.attemptFailed(client, schema, attempt, failedTasks));
      }
      return true;
    });
    if (!applied) return false;
    if (startFailed) this.counters.startFailures += 1;
    for (const log of logs) log();
    return startFailed;
  }

  /**
   * Opens the breaker for a launch whose tasks did not start (their shares given back) and, when
   * it was a start failure, counts one (one per launch, however many of its tasks failed: one
   * transient cause must not count ten times) and after enough in a row dead-letters the use
   * case's pending deliveries. A task that could not reach its database yet (exit 75) backs off
   * like a failed RunTask, without counting. Returns the log to write once committed.
   */
  private async attemptFailed(db: Queryable, schema: string, attempt: ClaimedAttempt, tasks: readonly FailedTask[]): Promise<() => void> {
    const useCase = attempt.use_case;
    const last = tasks.find((t) => t.start) ?? tasks[0]!;
    const start = tasks.some((t) => t.start);
    const breaker = await launchStore.openBreaker(
      db,
      schema,
      { useCase, attemptId: attempt.id, tasks: tasks.length, reason: `${last.stopCode}: ${last.reason}`, start },
      { baseMs: this.settings.breakerBaseMs, maxMs: this.settings.breakerMaxMs },
    );
    const logEach =
      (message: string, extra: Record<string, unknown> = {}) =>
      () => {
        for (const t of tasks)
          this.logger.error({ useCase, taskArn: t.arn, stopCode: t.stopCode, reason: t.reason, ...breaker, ...extra }, message);
      };
    if (!start) return logEach('ecs task could not reach its database yet; no launch for this use case before the backoff');
    if (breaker.startFailures < this.settings.startFailuresBeforeDeadLetter) return logEach('ecs task failed to start');
    const deadLettered = await launchStore.deadLetterPending(
      db,
      schema,
      useCase,
      'TASK_FAILED_TO_START',
      `${breaker.startFailures} consecutive launches of ${useCase} failed to start; the last: ${last.stopCode}: ${last.reason}`,
    );
    return logEach('ecs tasks keep failing to start: pending deliveries dead-lettered (re-drive them once the cause is fixed)', {
      deadLettered,
    });
  }
}
