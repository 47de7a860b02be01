import type { ECSClient, RunTaskCommandInput } from '@aws-sdk/client-ecs';
import { uuidv7 } from '../../../kernel/index.js';
import type { Logger } from '../../logging/logger.js';
import type { PostgresDatabase } from '../../persistence/postgres-database.js';
import { activeSpanEvent, activeTraceparent, annotate, inSpan } from '../../observability/tracing.js';
import type { EcsLaunchSettings, LaunchCounters, LeaseDecision } from './launch-settings.js';
import { tasksToLaunch, wantedTasks } from './launch-policy.js';
import { launchStore, type Queryable } from './launch-store.js';
import { watchStore } from './launch-watch-store.js';
import { LaunchObserver, type ObservedPass } from './launch-observer.js';
import { runTaskInput, taskDefinitionOf } from './run-task-request.js';
import { RunTaskCall } from './run-task-call.js';

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
 * The parts: launch-policy.ts (pure decisions), launch-store.ts and launch-watch-store.ts (the SQL), run-task-request.ts
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
  private readonly caller: RunTaskCall;

  constructor(
    private readonly ecs: ECSClient,
    private readonly schemaOf: (useCase: string) => string,
    /** The database a module's schema lives in: its leases and launch attempts are there (ADR 32). */
    private readonly databaseOf: (schema: string) => PostgresDatabase,
    private readonly settings: EcsLaunchSettings,
    private readonly logger: Logger,
  ) {
    this.observer = new LaunchObserver(ecs, databaseOf, settings, this.counters, logger);
    this.caller = new RunTaskCall(ecs, schemaOf, databaseOf, settings, this.counters, logger);
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
  private async decide(useCase: string): Promise<(LeaseDecision & { request: RunTaskCommandInput }) | null> {
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
      // Built once, recorded with the decision: every call of this attempt sends these bytes with this token.
      const request = runTaskInput(s, useCase, { attemptId, count }, activeTraceparent());
      await launchStore.recordDecision(client, schema, {
        request: JSON.stringify(request),
        useCase,
        attemptId,
        count,
        holdMs: Math.max(s.leaseTtlMs, s.taskStartTimeoutMs),
        taskDefinition: taskDefinitionOf(s, useCase),
      });
      this.counters.launchDecisions += 1;
      return { attemptId, count, request };
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

  /** The decision's RunTask (run-task-call.ts): its exact request was recorded with the decision. */
  private async launch(useCase: string, decision: LeaseDecision & { request: RunTaskCommandInput }): Promise<void> {
    await this.caller.send({ useCase, attemptId: decision.attemptId, count: decision.count, request: decision.request });
  }

  /**
   * RunTask calls whose outcome was unknown (no answer, a 5xx), sent again byte for byte with the
   * same token once the breaker's backoff has passed: ECS answers with the tasks the first call
   * started (adopted, never duplicated), or starts them now.
   */
  async resendUnknown(schemas: readonly string[]): Promise<void> {
    for (const schema of schemas) {
      const database = this.databaseOf(schema);
      const claimed = await watchStore.claimUnknown(database, schema, Math.max(this.settings.leaseTtlMs, 30_000));
      for (const a of claimed) {
        await this.caller.send({
          useCase: a.use_case,
          attemptId: a.id,
          count: a.task_count,
          request: JSON.parse(a.request) as RunTaskCommandInput,
        });
      }
      await watchStore.unclaim(
        database,
        schema,
        claimed.map((a) => a.id),
      );
    }
  }

  /** DescribeTasks of the launched tasks (see LaunchObserver). Returns the use cases that had a start failure. */
  async observeLaunches(schemas: readonly string[]): Promise<string[]> {
    return (await this.observer.observe(schemas)).startFailed;
  }

  /** DescribeTasks of the launched tasks: the use cases with a start failure, and those whose dead tasks' shares were released. */
  observePass(schemas: readonly string[]): Promise<ObservedPass> {
    return this.observer.observe(schemas);
  }

  /** Launches whose tasks stopped heartbeating (killed, and not seen stopped): their shares released so a launch is decided again. */
  async expiredLeases(schemas: readonly string[]): Promise<string[]> {
    const useCases: string[] = [];
    for (const schema of schemas) useCases.push(...(await watchStore.releaseExpired(this.databaseOf(schema), schema)));
    return useCases;
  }

  /**
   * Use cases with due deliveries and no live lease, whose breaker is closed or whose backoff has
   * passed (the breaker's half-open probe: one launch decides whether it closes).
   */
  async needingTasks(schemas: readonly string[]): Promise<string[]> {
    const useCases: string[] = [];
    for (const schema of schemas) useCases.push(...(await watchStore.needingTasks(this.databaseOf(schema), schema)));
    return useCases;
  }

  async drainLaunches(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight.values()]);
  }
}
