import { RunTaskCommand, type ECSClient, type RunTaskCommandOutput } from '@aws-sdk/client-ecs';
import { uuidv7 } from '../../../kernel/index.js';
import type { Logger } from '../../logging/logger.js';
import type { PostgresDatabase } from '../../persistence/postgres-database.js';
import { activeSpanEvent, activeTraceparent, annotate, inSpan } from '../../observability/tracing.js';
import type { EcsLaunchSettings, LaunchCounters, LeaseDecision } from './launch-settings.js';
import { tasksToLaunch, wantedTasks } from './launch-policy.js';
import { launchStore, queryable, type Queryable } from './launch-store.js';
import { LaunchObserver } from './launch-observer.js';
import { runTaskInput, taskDefinitionOf } from './run-task-request.js';

export type { EcsLaunchSettings, LaunchCounters } from './launch-settings.js';

/**
 * Launches the ECS task of a use case when its pending deliveries need one, and only then, on
 * AWS's terms (ADR 18):
 * - A lease row per use case (in the consumer module's schema) says how many tasks are believed
 *   to run and until when. A launch holds it for TASK_START_TIMEOUT_MS (a Fargate task takes
 *   tens of seconds to start); a running task heartbeats it. A burst costs a handful of launches.
 * - Each launch decision is a launch-attempt row committed BEFORE the RunTask call; its id is the
 *   clientToken, so the SDK's retries of that call never start a second task, while a new decision
 *   gets a new token.
 * - Every failure (an error after the SDK's retries, a 200 with failures[], a task that failed to
 *   start or exited 78) opens the use case's breaker in PostgreSQL: no RunTask for it, from any
 *   process, until a backoff that doubles per consecutive failure has passed; then one probe.
 *   A task's first heartbeat closes it. After repeated start failures the use case's pending
 *   deliveries are dead-lettered (TASK_FAILED_TO_START), visible and re-drivable.
 * The parts: launch-policy.ts (pure decisions), launch-store.ts (the SQL), run-task-request.ts
 * (the RunTask input), launch-observer.ts (DescribeTasks of what was launched).
 */
export class EcsLauncher {
  readonly counters: LaunchCounters = {
    runTaskCalls: 0,
    tasksStarted: 0,
    launchDecisions: 0,
    throttled: 0,
    placementFailures: 0,
    launchFailures: 0,
    startFailures: 0,
    breakerSkips: 0,
  };
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private readonly observer: LaunchObserver;

  constructor(
    private readonly ecs: ECSClient,
    private readonly schemaOf: (useCase: string) => string,
    /** The database a module's schema lives in: its leases and launch attempts are there (ADR 32). */
    private readonly databaseOf: (schema: string) => PostgresDatabase,
    private readonly settings: EcsLaunchSettings,
    private readonly logger: Logger,
  ) {
    this.observer = new LaunchObserver(ecs, databaseOf, settings, this.counters, logger);
  }

  /** Where a use case's lease and launch attempts live. */
  private databaseOfUseCase(useCase: string): PostgresDatabase {
    return this.databaseOf(this.schemaOf(useCase));
  }

  /** Makes sure enough tasks run for the use case's backlog; coalesces concurrent calls per use case. */
  ensureRunning(useCase: string): Promise<void> {
    const running = this.inFlight.get(useCase);
    if (running) {
      this.again.add(useCase);
      activeSpanEvent('ecs launch coalesced', { 'saga.use_case': useCase });
      return running;
    }
    const work = (async () => {
      try {
        do {
          this.again.delete(useCase);
          await inSpan(`ecs.launch ${useCase}`, { attributes: { 'saga.use_case': useCase } }, () => this.decideAndLaunch(useCase));
        } while (this.again.has(useCase));
      } finally {
        this.inFlight.delete(useCase);
      }
    })();
    this.inFlight.set(useCase, work);
    return work;
  }

  private async decideAndLaunch(useCase: string): Promise<void> {
    const skipped = this.counters.breakerSkips;
    const decision = await this.decide(useCase);
    annotate({ 'saga.launch.decision': decision ? 'launch' : this.counters.breakerSkips > skipped ? 'breaker-open' : 'covered' });
    if (!decision) return;
    annotate({ 'saga.launch.tasks': decision.count, 'saga.launch.attempt_id': decision.attemptId });
    await this.launch(useCase, decision);
  }

  /** Locks the lease, compares the backlog with the tasks it covers, and records a launch decision. */
  private async decide(useCase: string): Promise<LeaseDecision | null> {
    const schema = this.schemaOf(useCase);
    const s = this.settings;
    return this.databaseOfUseCase(useCase).pgTransaction(async (client) => {
      const lease = await launchStore.lockLease(client, schema, useCase);
      if (lease.backingOff) {
        this.counters.breakerSkips += 1;
        return null;
      }
      const backlog = await launchStore.backlog(client, schema, useCase, s.scaleOutBacklog * s.maxTasksPerUseCase);
      const wanted = wantedTasks(backlog, s);
      let count = tasksToLaunch(wanted, lease.current, lease);
      if (count > 0) count = Math.min(count, await this.budgetAllows(client, useCase, lease.current));
      if (count <= 0) return null;
      const attemptId = uuidv7();
      await launchStore.recordDecision(client, schema, {
        useCase,
        attemptId,
        count,
        tasks: lease.current + count,
        holdMs: Math.max(s.leaseTtlMs, s.taskStartTimeoutMs),
        taskDefinition: taskDefinitionOf(s, useCase),
      });
      this.counters.launchDecisions += 1;
      return { attemptId, count };
    });
  }

  /**
   * How many more tasks the connection budget allows this use case, decided under one advisory
   * lock shared by every launcher (launches are rare; this keeps two of them from both taking the
   * last room). Running tasks are counted from the live leases of every active use case, and each
   * use case without a task keeps room for one: scale-out never takes the room a first launch
   * needs. A use case without a task always gets one (the startup check makes that fit).
   */
  private async budgetAllows(client: Queryable, useCase: string, current: number): Promise<number> {
    // The budget is a database's: only the use cases whose leases live in this one share it.
    const database = this.databaseOfUseCase(useCase);
    const sharing = this.settings.activeUseCases.filter((u) => this.databaseOf(u.schema) === database);
    const live = await launchStore.liveTasksUnderBudgetLock(client, [...new Set(sharing.map((u) => u.schema))]);
    let running = current;
    let waiting = 0;
    for (const other of sharing) {
      if (other.useCase === useCase) continue;
      const tasks = live.get(other.useCase) ?? 0;
      running += tasks;
      if (tasks === 0) waiting += 1;
    }
    const room = this.settings.maxTasks - running - waiting;
    if (current === 0) return Math.max(1, room);
    if (room <= 0)
      this.logger.info({ useCase, running, maxTasks: this.settings.maxTasks }, 'connection budget reached: no more tasks for this backlog');
    return room;
  }

  /**
   * One RunTask call for a decision; the SDK retries throttling, 5xx and timeouts with the same
   * clientToken (a call that was applied returns the same tasks). Whatever fails after that, or a
   * 200 that placed no task, gives the lease back and opens the breaker: the pending deliveries
   * stay, and the next launch is decided after the backoff, so a lost launch costs time, never a
   * message, and a permanent error (AccessDenied, a wrong cluster) costs a few calls, not a storm.
   */
  private async launch(useCase: string, decision: LeaseDecision): Promise<void> {
    let result: RunTaskCommandOutput;
    try {
      this.counters.runTaskCalls += 1;
      result = await this.ecs.send(new RunTaskCommand(runTaskInput(this.settings, useCase, decision, activeTraceparent())));
    } catch (error) {
      const name = (error as { name?: string }).name ?? 'Error';
      if (name === 'ThrottlingException') this.counters.throttled += 1;
      annotate({ 'saga.launch.outcome': 'failed', 'error.type': name });
      await this.launchFailed(useCase, decision, `${name}: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    const arns = (result.tasks ?? []).flatMap((t) => (t.taskArn ? [t.taskArn] : []));
    if (arns.length === 0) {
      this.counters.placementFailures += 1;
      annotate({ 'saga.launch.outcome': 'not-placed' });
      await this.launchFailed(useCase, decision, `placement: ${(result.failures ?? []).map((f) => f.reason ?? 'unknown').join(', ')}`);
      return;
    }
    this.counters.tasksStarted += arns.length;
    annotate({ 'saga.launch.outcome': 'started', 'saga.launch.started': arns.length });
    this.logger.info({ useCase, tasks: arns.length, clientToken: decision.attemptId }, 'ecs tasks launched');
    // The tasks run whatever happens below: a failure to record them is not a failed launch (no
    // breaker). The attempt stays pending and unobserved; the lease lapses at its start timeout
    // unless the tasks heartbeat it first.
    try {
      // Partly placed: the lease counts only what started; the next signal decides about the rest.
      await launchStore.recordStarted(
        queryable(this.databaseOfUseCase(useCase)),
        this.schemaOf(useCase),
        useCase,
        decision.attemptId,
        arns,
        decision.count - arns.length,
      );
    } catch (error) {
      this.logger.error(
        { err: error, useCase, taskArns: arns, clientToken: decision.attemptId },
        'ecs tasks launched but not recorded; their lease lapses by itself',
      );
    }
  }

  /** A RunTask that failed: recorded, and the breaker opened. Never throws: the lease lapses by itself if PostgreSQL cannot take it. */
  private async launchFailed(useCase: string, decision: LeaseDecision, reason: string): Promise<void> {
    this.counters.launchFailures += 1;
    try {
      const schema = this.schemaOf(useCase);
      const database = queryable(this.databaseOfUseCase(useCase));
      await launchStore.recordFailed(database, schema, decision.attemptId, reason);
      const breaker = await launchStore.openBreaker(
        database,
        schema,
        { useCase, attemptId: decision.attemptId, tasks: decision.count, reason, start: false },
        { baseMs: this.settings.breakerBaseMs, maxMs: this.settings.breakerMaxMs },
      );
      this.logger.error(
        { useCase, reason, clientToken: decision.attemptId, ...breaker },
        'RunTask failed; no launch for this use case before the backoff',
      );
    } catch (cause) {
      this.logger.error(
        { err: cause, useCase, reason },
        'RunTask failed, and the failure could not be recorded; the lease lapses by itself',
      );
    }
  }

  /** DescribeTasks of the launched tasks (see LaunchObserver). Returns the use cases that had a start failure. */
  observeLaunches(schemas: readonly string[]): Promise<string[]> {
    return this.observer.observe(schemas);
  }

  /** Leases whose tasks stopped heartbeating (a task killed mid-batch): reset them so a launch is decided again. */
  async expiredLeases(schemas: readonly string[]): Promise<string[]> {
    const useCases: string[] = [];
    for (const schema of schemas) useCases.push(...(await launchStore.resetExpiredLeases(this.databaseOf(schema), schema)));
    return useCases;
  }

  /**
   * Use cases with due deliveries and no live lease, whose breaker is closed or whose backoff has
   * passed (the breaker's half-open probe: one launch decides whether it closes).
   */
  async needingTasks(schemas: readonly string[]): Promise<string[]> {
    const useCases: string[] = [];
    for (const schema of schemas) useCases.push(...(await launchStore.needingTasks(this.databaseOf(schema), schema)));
    return useCases;
  }

  async drainLaunches(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight.values()]);
  }
}
