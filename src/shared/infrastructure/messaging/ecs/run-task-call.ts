import { RunTaskCommand, type ECSClient, type RunTaskCommandInput, type RunTaskCommandOutput } from '@aws-sdk/client-ecs';
import type { Logger } from '../../logging/logger.js';
import type { PostgresDatabase } from '../../persistence/postgres-database.js';
import { annotate } from '../../observability/tracing.js';
import type { EcsLaunchSettings, LaunchCounters } from './launch-settings.js';
import { launchStore, queryable } from './launch-store.js';

/** A launch attempt's RunTask: its id is the clientToken, and `request` the exact input every call of it sends. */
export interface RunTaskAttempt {
  readonly useCase: string;
  readonly attemptId: string;
  readonly count: number;
  readonly request: RunTaskCommandInput;
}

/** What a RunTask error says of whether the call was applied. */
type ErrorOutcome = { kind: 'adopt'; arns: string[] } | { kind: 'unknown' } | { kind: 'refused' };

/**
 * Whether a RunTask that failed (after the SDK's retries) may have started tasks. A
 * ConflictException names the tasks its token already started (adopt them); no answer at all (a
 * timeout, a reset connection) or a 5xx may have been applied (outcome unknown: the same request
 * is sent again later, with the same token); any other answer was refused.
 */
function errorOutcome(error: unknown): ErrorOutcome {
  const e = error as { name?: string; code?: string; resourceIds?: string[]; $metadata?: { httpStatusCode?: number } };
  if (e.name === 'ConflictException' && (e.resourceIds?.length ?? 0) > 0) return { kind: 'adopt', arns: e.resourceIds! };
  // No connection was ever made: nothing can have been applied.
  if (e.code === 'ECONNREFUSED') return { kind: 'refused' };
  const status = e.$metadata?.httpStatusCode;
  if (status === undefined || status >= 500) return e.name === 'ThrottlingException' ? { kind: 'refused' } : { kind: 'unknown' };
  return { kind: 'refused' };
}

/**
 * One RunTask call of a launch attempt and what it leaves in PostgreSQL. The SDK retries
 * throttling, 5xx and timeouts with the same clientToken and the same bytes. After that:
 * - tasks placed (or named by a ConflictException): recorded, and a breaker opened by a RunTask
 *   failure closes (ADR 36);
 * - an outcome unknown (no answer, a 5xx): the attempt keeps its share of the lease, so nothing
 *   launches beside tasks it may have started, and the breaker backs off; the maintenance pass
 *   sends the same request again with the same token (ECS answers with the tasks it started, or
 *   starts them now): an orphan is adopted, never duplicated;
 * - refused, or a 200 that placed no task: its share given back and the breaker opened, so a lost
 *   launch costs time, never a message, and a permanent error costs a few calls, not a storm.
 */
export class RunTaskCall {
  constructor(
    private readonly ecs: ECSClient,
    private readonly schemaOf: (useCase: string) => string,
    private readonly databaseOf: (schema: string) => PostgresDatabase,
    private readonly settings: EcsLaunchSettings,
    private readonly counters: LaunchCounters,
    private readonly logger: Logger,
  ) {}

  async send(attempt: RunTaskAttempt): Promise<void> {
    let result: RunTaskCommandOutput;
    try {
      this.counters.runTaskCalls += 1;
      result = await this.ecs.send(new RunTaskCommand(attempt.request));
    } catch (error) {
      const name = (error as { name?: string }).name ?? 'Error';
      if (name === 'ThrottlingException') this.counters.throttled += 1;
      const outcome = errorOutcome(error);
      annotate({ 'saga.launch.outcome': outcome.kind === 'adopt' ? 'adopted' : outcome.kind, 'error.type': name });
      const reason = `${name}: ${error instanceof Error ? error.message : String(error)}`;
      if (outcome.kind === 'adopt') return this.started(attempt, outcome.arns);
      if (outcome.kind === 'unknown') return this.unknown(attempt, reason);
      return this.failed(attempt, reason);
    }
    const arns = (result.tasks ?? []).flatMap((t) => (t.taskArn ? [t.taskArn] : []));
    if (arns.length === 0) {
      this.counters.placementFailures += 1;
      annotate({ 'saga.launch.outcome': 'not-placed' });
      return this.failed(attempt, `placement: ${(result.failures ?? []).map((f) => f.reason ?? 'unknown').join(', ')}`);
    }
    annotate({ 'saga.launch.outcome': 'started', 'saga.launch.started': arns.length });
    return this.started(attempt, arns);
  }

  /**
   * The tasks run whatever happens here: a failure to record them is not a failed launch (no
   * breaker). The attempt then stays pending; its share lapses at its start timeout unless its
   * tasks heartbeat it first.
   */
  private async started(attempt: RunTaskAttempt, arns: readonly string[]): Promise<void> {
    const { useCase, attemptId } = attempt;
    this.counters.tasksStarted += arns.length;
    this.logger.info({ useCase, tasks: arns.length, clientToken: attemptId }, 'ecs tasks launched');
    try {
      const db = queryable(this.databaseOf(this.schemaOf(useCase)));
      // Partly placed: the attempt counts only what started; the next signal decides about the rest.
      await launchStore.recordStarted(db, this.schemaOf(useCase), attemptId, arns, attempt.count - arns.length);
      if (await launchStore.closeBreakerAfterRunTask(db, this.schemaOf(useCase), useCase, attemptId)) {
        this.logger.info({ useCase, clientToken: attemptId }, 'RunTask placed tasks again: launch breaker closed');
      }
    } catch (error) {
      this.logger.error(
        { err: error, useCase, taskArns: arns, clientToken: attemptId },
        'ecs tasks launched but not recorded; their lease lapses by itself',
      );
    }
  }

  /** Maybe applied: the attempt keeps its share and its token, the breaker backs off, the request is sent again later. */
  private async unknown(attempt: RunTaskAttempt, reason: string): Promise<void> {
    const { useCase, attemptId } = attempt;
    this.counters.launchFailures += 1;
    try {
      const schema = this.schemaOf(useCase);
      const db = queryable(this.databaseOf(schema));
      await launchStore.recordUnknown(db, schema, attemptId, reason);
      const breaker = await launchStore.openBreaker(
        db,
        schema,
        { useCase, attemptId, tasks: 0, reason, atStart: false, permanentStart: false },
        { baseMs: this.settings.breakerBaseMs, maxMs: this.settings.breakerMaxMs },
      );
      this.logger.warn(
        { useCase, reason, clientToken: attemptId, ...breaker },
        'RunTask outcome unknown: its share held, the same request is sent again with its token',
      );
    } catch (cause) {
      this.logger.error({ err: cause, useCase, reason }, 'RunTask outcome unknown, and not recorded; the lease lapses by itself');
    }
  }

  /** Refused: recorded, its share given back, and the breaker opened. Never throws: the lease lapses by itself if PostgreSQL cannot take it. */
  private async failed(attempt: RunTaskAttempt, reason: string): Promise<void> {
    const { useCase, attemptId } = attempt;
    this.counters.launchFailures += 1;
    try {
      const schema = this.schemaOf(useCase);
      const db = queryable(this.databaseOf(schema));
      await launchStore.recordFailed(db, schema, attemptId, reason);
      const breaker = await launchStore.openBreaker(
        db,
        schema,
        { useCase, attemptId, tasks: attempt.count, reason, atStart: false, permanentStart: false },
        { baseMs: this.settings.breakerBaseMs, maxMs: this.settings.breakerMaxMs },
      );
      this.logger.error(
        { useCase, reason, clientToken: attemptId, ...breaker },
        'RunTask failed; no launch for this use case before the backoff',
      );
    } catch (cause) {
      this.logger.error(
        { err: cause, useCase, reason },
        'RunTask failed, and the failure could not be recorded; the lease lapses by itself',
      );
    }
  }
}
