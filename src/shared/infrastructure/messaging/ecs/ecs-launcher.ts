import {
  DescribeTasksCommand,
  ECSClient,
  RunTaskCommand,
  StopTaskCommand,
  type RunTaskCommandInput,
  type RunTaskCommandOutput,
  type Task,
} from '@aws-sdk/client-ecs';
import type pg from 'pg';
import { uuidv7 } from '../../../kernel/index.js';
import { taskFamilyOf } from './task-family.js';
import type { Logger } from '../../logging/logger.js';
import { quoteIdent } from '../../persistence/messaging-tables.js';
import type { PostgresDatabase } from '../../persistence/postgres-database.js';
import { activeSpanEvent, activeTraceparent, annotate, inSpan } from '../../observability/tracing.js';

export interface EcsLaunchSettings {
  readonly cluster: string;
  readonly subnets: readonly string[];
  readonly securityGroups: readonly string[];
  readonly assignPublicIp: boolean;
  readonly launchType?: 'FARGATE' | 'EC2' | 'EXTERNAL';
  /** `provider:weight[:base]` entries; wins over launchType. */
  readonly capacityProviderStrategy: readonly string[];
  readonly taskDefinitionPrefix: string;
  /** Pinned revision per task definition family (with its prefix): launches run exactly that one. */
  readonly revisions: ReadonlyMap<string, number>;
  readonly containerName: string;
  readonly maxTasksPerUseCase: number;
  /** Tasks of all use cases at once (the connection budget's share for tasks, in whole tasks). */
  readonly maxTasks: number;
  /** Claimers per task: more tasks than the backlog's keys can keep busy are not launched. */
  readonly taskConcurrency: number;
  /** Every use case that may need a task, with the schema of its lease: each keeps room for one task. */
  readonly activeUseCases: ReadonlyArray<{ readonly useCase: string; readonly schema: string }>;
  /** Pending deliveries per task above which one more task is launched. */
  readonly scaleOutBacklog: number;
  /** How long a heartbeat keeps a lease alive. */
  readonly leaseTtlMs: number;
  /** How long a launched task holds its lease before it must have been seen running (Fargate cold starts). */
  readonly taskStartTimeoutMs: number;
  /** Backoff after a failed launch or a task that failed to start: doubled per consecutive failure, with jitter, capped. */
  readonly breakerBaseMs: number;
  readonly breakerMaxMs: number;
  /** Consecutive start failures of a use case after which its pending deliveries are dead-lettered. */
  readonly startFailuresBeforeDeadLetter: number;
  /**
   * Settings a launched task needs to launch the next use case's task the same way (saga style,
   * cluster, network, prefixes), passed in the overrides so every task of a saga agrees with the
   * process that started it, whatever its task definition says. Settings only, never payloads.
   */
  readonly propagatedEnvironment: Readonly<Record<string, string>>;
}

export interface LaunchCounters {
  runTaskCalls: number;
  tasksStarted: number;
  launchDecisions: number;
  throttled: number;
  placementFailures: number;
  /** RunTask calls that failed (after the SDK's retries) or placed no task. */
  launchFailures: number;
  /** Launched tasks seen stopped without having run (TaskFailedToStart, exit 78, start timeout). */
  startFailures: number;
  /** Launch decisions skipped because the use case's breaker was open. */
  breakerSkips: number;
}

interface LeaseDecision {
  readonly attemptId: string;
  readonly count: number;
}

/** The advisory lock under which launch decisions check the connection budget (any fixed number unique to it). */
const BUDGET_LOCK = '7310558214590371861';

/** What a task that ran no use case code looks like: it never started, or its configuration was refused (EX_CONFIG). */
const CONFIG_EXIT_CODE = 78;

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

  constructor(
    private readonly ecs: ECSClient,
    private readonly schemaOf: (useCase: string) => string,
    /** The database a module's schema lives in: its leases and launch attempts are there (ADR 32). */
    private readonly databaseOf: (schema: string) => PostgresDatabase,
    private readonly settings: EcsLaunchSettings,
    private readonly logger: Logger,
  ) {}

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
          await inSpan(`ecs.launch ${useCase}`, { attributes: { 'saga.use_case': useCase } }, async () => {
            const skipped = this.counters.breakerSkips;
            const decision = await this.decide(useCase);
            annotate({ 'saga.launch.decision': decision ? 'launch' : this.counters.breakerSkips > skipped ? 'breaker-open' : 'covered' });
            if (!decision) return;
            annotate({ 'saga.launch.tasks': decision.count, 'saga.launch.attempt_id': decision.attemptId });
            await this.launch(useCase, decision);
          });
        } while (this.again.has(useCase));
      } finally {
        this.inFlight.delete(useCase);
      }
    })();
    this.inFlight.set(useCase, work);
    return work;
  }

  /** Locks the lease, compares the backlog with the tasks it covers, and records a launch decision. */
  private async decide(useCase: string): Promise<LeaseDecision | null> {
    const s = quoteIdent(this.schemaOf(useCase));
    return this.databaseOfUseCase(useCase).pgTransaction(async (client) => {
      await client.query(`insert into ${s}.task_leases (use_case, tasks, expires_at) values ($1, 0, now()) on conflict do nothing`, [
        useCase,
      ]);
      const lease = await client.query<{ tasks: number; live: boolean; backing_off: boolean; failures: number }>(
        `select tasks, expires_at > now() as live, coalesce(retry_at > now(), false) as backing_off, failures from ${s}.task_leases where use_case = $1 for update`,
        [useCase],
      );
      if (lease.rows[0]?.backing_off) {
        this.counters.breakerSkips += 1;
        return null;
      }
      const backlogRow = await client.query<{ n: number; keys: number }>(
        `select count(*)::int as n, count(distinct k)::int as keys from (
           select coalesce(delivery_key, message_id::text) as k from ${s}.inbox where use_case = $1 and status = 'pending' and available_at <= now() limit $2
         ) due`,
        [useCase, this.settings.scaleOutBacklog * this.settings.maxTasksPerUseCase],
      );
      const backlog = backlogRow.rows[0]?.n ?? 0;
      const keys = backlogRow.rows[0]?.keys ?? 0;
      const current = lease.rows[0]?.live ? (lease.rows[0]?.tasks ?? 0) : 0;
      // A key is handled by one transaction at a time: tasks beyond what the backlog's keys can keep busy only wait.
      const wanted =
        backlog === 0
          ? 0
          : Math.min(
              this.settings.maxTasksPerUseCase,
              Math.ceil(backlog / this.settings.scaleOutBacklog),
              Math.ceil(keys / this.settings.taskConcurrency),
            );
      // Half-open (failures, and the backoff has passed): one probe task, and no other launch until a
      // task launched after the failure heartbeats (which closes the breaker) or the probe fails too.
      const ceiling = (lease.rows[0]?.failures ?? 0) > 0 ? Math.min(wanted, 1) : wanted;
      let count = Math.min(10, ceiling - current);
      if (count > 0) count = Math.min(count, await this.budgetAllows(client, useCase, current));
      if (count <= 0) return null;
      const attemptId = uuidv7();
      // Until the task is seen running (its heartbeat) or stopped, the launch holds the lease.
      await client.query(
        `update ${s}.task_leases set tasks = $2, expires_at = now() + ($3 * interval '1 millisecond'), holder = 'launch:' || $4, updated_at = now() where use_case = $1`,
        [useCase, current + count, Math.max(this.settings.leaseTtlMs, this.settings.taskStartTimeoutMs), attemptId],
      );
      await client.query(
        `insert into ${s}.launch_attempts (id, use_case, client_token, task_count, task_definition, marks_running) values ($1, $2, $3, $4, $5, true)`,
        [attemptId, useCase, attemptId, count, this.taskDefinitionOf(useCase)],
      );
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
    await client.query('select pg_advisory_xact_lock($1)', [BUDGET_LOCK]);
    // The budget is a database's: only the use cases whose leases live in this one share it.
    const database = this.databaseOfUseCase(useCase);
    const sharing = this.settings.activeUseCases.filter((u) => this.databaseOf(u.schema) === database);
    const schemas = [...new Set(sharing.map((u) => u.schema))];
    const rows = await client.query<{ use_case: string; tasks: number }>(
      schemas
        .map(
          (schema) => `select use_case, case when expires_at > now() then tasks else 0 end as tasks from ${quoteIdent(schema)}.task_leases`,
        )
        .join(' union all '),
    );
    const live = new Map(rows.rows.map((r) => [r.use_case, r.tasks]));
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

  /** `family:revision` when the family is pinned (production), else the bare family (its latest ACTIVE revision). */
  private taskDefinitionOf(useCase: string): string {
    const family = `${this.settings.taskDefinitionPrefix}${taskFamilyOf(useCase)}`;
    const revision = this.settings.revisions.get(family);
    return revision === undefined ? family : `${family}:${revision}`;
  }

  private input(useCase: string, decision: LeaseDecision): RunTaskCommandInput {
    const traceparent = activeTraceparent();
    const family = `${this.settings.taskDefinitionPrefix}${taskFamilyOf(useCase)}`;
    const s = this.settings;
    const strategy = s.capacityProviderStrategy.map((entry) => {
      const [provider = '', weight, base] = entry.split(':');
      return {
        capacityProvider: provider,
        weight: weight === undefined ? 1 : Number(weight),
        ...(base === undefined ? {} : { base: Number(base) }),
      };
    });
    return {
      cluster: s.cluster,
      taskDefinition: this.taskDefinitionOf(useCase),
      count: decision.count,
      clientToken: decision.attemptId,
      startedBy: family.slice(0, 128),
      tags: [
        { key: 'use-case', value: useCase },
        { key: 'launch-attempt', value: decision.attemptId },
      ],
      propagateTags: 'TASK_DEFINITION',
      ...(strategy.length > 0 ? { capacityProviderStrategy: strategy } : s.launchType ? { launchType: s.launchType } : {}),
      ...(s.subnets.length > 0
        ? {
            networkConfiguration: {
              awsvpcConfiguration: {
                subnets: [...s.subnets],
                securityGroups: [...s.securityGroups],
                assignPublicIp: s.assignPublicIp ? 'ENABLED' : 'DISABLED',
              },
            },
          }
        : {}),
      // Ids and settings only, never payloads: ECS allows 8,192 characters of overrides.
      overrides: {
        containerOverrides: [
          {
            name: s.containerName,
            environment: [
              { name: 'TASK_USE_CASE', value: useCase },
              { name: 'TASK_LAUNCH_ATTEMPT', value: decision.attemptId },
              // The task's own span links to this launch decision's (W3C Trace Context's variable name).
              ...(traceparent ? [{ name: 'TRACEPARENT', value: traceparent }] : []),
              ...Object.entries(s.propagatedEnvironment).map(([name, value]) => ({ name, value })),
            ],
          },
        ],
      },
    };
  }

  /**
   * One RunTask call for a decision; the SDK retries throttling, 5xx and timeouts with the same
   * clientToken (a call that was applied returns the same tasks). Whatever fails after that, or a
   * 200 that placed no task, gives the lease back and opens the breaker: the pending deliveries
   * stay, and the next launch is decided after the backoff, so a lost launch costs time, never a
   * message, and a permanent error (AccessDenied, a wrong cluster) costs a few calls, not a storm.
   */
  private async launch(useCase: string, decision: LeaseDecision): Promise<void> {
    const s = quoteIdent(this.schemaOf(useCase));
    let result: RunTaskCommandOutput;
    try {
      this.counters.runTaskCalls += 1;
      result = await this.ecs.send(new RunTaskCommand(this.input(useCase, decision)));
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
    const database = this.databaseOfUseCase(useCase);
    try {
      await database.pgQuery(
        `update ${s}.launch_attempts set status = 'started', attempts = 1, task_arns = $2, updated_at = now() where id = $1`,
        [decision.attemptId, arns],
      );
      // Partly placed: the lease counts only what started; the next signal decides about the rest.
      if (arns.length < decision.count) {
        await database.pgQuery(`update ${s}.task_leases set tasks = greatest(tasks - $2, 0) where use_case = $1`, [
          useCase,
          decision.count - arns.length,
        ]);
      }
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
      const s = quoteIdent(this.schemaOf(useCase));
      const database = queryable(this.databaseOfUseCase(useCase));
      await database.query(
        `update ${s}.launch_attempts set status = 'failed', attempts = 1, last_error = $2, updated_at = now() where id = $1`,
        [decision.attemptId, reason.slice(0, 1000)],
      );
      const breaker = await this.failure(database, useCase, decision.attemptId, decision.count, reason, 'launch');
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

  /**
   * Gives back the attempt's `tasks` of the lease (unless the lease was reset since the attempt:
   * they are not counted any more) and opens the breaker: `retry_at` after a backoff that doubles
   * per consecutive failure (with jitter, capped), decided in SQL so every process agrees.
   * `failed_at` is when the failing launch was decided: only a task launched after that can close
   * the breaker (its heartbeat). A start failure also counts towards dead letters; a failed RunTask does not (the deliveries can wait
   * for a permission or a quota to be fixed, but not for code that cannot start).
   */
  private async failure(
    db: Queryable,
    useCase: string,
    attemptId: string,
    tasks: number,
    reason: string,
    kind: 'launch' | 'start',
  ): Promise<{ failures: number; startFailures: number; retryInMs: number }> {
    const s = quoteIdent(this.schemaOf(useCase));
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
      [useCase, tasks, this.settings.breakerBaseMs, this.settings.breakerMaxMs, reason, attemptId, kind === 'start'],
    );
    return { failures: rows[0]?.failures ?? 0, startFailures: rows[0]?.start_failures ?? 0, retryInMs: rows[0]?.retry_in_ms ?? 0 };
  }

  /**
   * Looks at the tasks launched but not yet resolved (DescribeTasks, 100 ARNs a call). A task that
   * stopped before its first heartbeat (TaskFailedToStart: an image that cannot be pulled, a secret
   * that cannot be read; exit 78: a configuration it refused; any other exit of its own) or that
   * has not heartbeated after TASK_START_TIMEOUT_MS (stopped then) is a start failure: it gives its
   * share of the lease back and opens the breaker, and after repeated ones the use case's pending
   * deliveries are dead-lettered. A task that heartbeated and then died gives its share back.
   * Several processes run this pass (API replicas, the sweeper): each claims the attempts it looks
   * at, and an attempt's outcome is applied once, in the transaction that marks it observed.
   * Returns the use cases that had a start failure.
   */
  async observeLaunches(schemas: readonly string[]): Promise<string[]> {
    const failed: string[] = [];
    for (const schema of schemas) {
      const s = quoteIdent(schema);
      const database = this.databaseOf(schema);
      const { rows } = await database.pgQuery<ObservedAttempt>(
        `update ${s}.launch_attempts a set observing_until = now() + ($3 * interval '1 millisecond')
         from (
           select id from ${s}.launch_attempts
           where status = 'started' and observed_at is null and (observing_until is null or observing_until < now())
           order by created_at limit 100 for update skip locked
         ) claimed
         where a.id = claimed.id
         returning a.id, a.use_case, a.task_arns, a.running_at is not null as running, a.marks_running,
           a.created_at < now() - ($1 * interval '1 millisecond') as overdue, a.created_at < now() - ($2 * interval '1 millisecond') as stale`,
        [this.settings.taskStartTimeoutMs, this.settings.leaseTtlMs, Math.max(this.settings.leaseTtlMs, 30_000)],
      );
      if (rows.length === 0) continue;
      const release = (ids: readonly string[]) =>
        ids.length === 0
          ? Promise.resolve()
          : database
              .pgQuery(`update ${s}.launch_attempts set observing_until = null where id = any($1::uuid[])`, [ids])
              .then(() => undefined);
      let byArn: Map<string | undefined, Task>;
      try {
        byArn = await this.describe(rows.flatMap((r) => r.task_arns));
      } catch (error) {
        await release(rows.map((r) => r.id)).catch(() => undefined);
        throw error;
      }
      const unresolved: string[] = [];
      for (const attempt of rows) {
        const outcomes = attempt.task_arns.map((arn) => ({ arn, outcome: startOutcome(byArn.get(arn), attempt) }));
        if (outcomes.some((o) => o.outcome.kind === 'starting')) {
          unresolved.push(attempt.id);
          continue;
        }
        for (const { arn, outcome } of outcomes) {
          if (outcome.kind === 'failed' && outcome.stopTask) {
            await this.ecs
              .send(new StopTaskCommand({ cluster: this.settings.cluster, task: arn, reason: outcome.reason }))
              .catch(() => undefined);
          }
        }
        if (await this.resolve(database, s, attempt, outcomes)) failed.push(attempt.use_case);
      }
      await release(unresolved);
    }
    return [...new Set(failed)];
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
  private async resolve(
    database: PostgresDatabase,
    s: string,
    attempt: ObservedAttempt,
    outcomes: ReadonlyArray<{ arn: string; outcome: StartOutcome }>,
  ): Promise<boolean> {
    let startFailed = false;
    const logs: Array<() => void> = [];
    const applied = await database.pgTransaction(async (client) => {
      const marked = await client.query(
        `update ${s}.launch_attempts set observed_at = now(), observing_until = null, outcome = $2, updated_at = now() where id = $1 and observed_at is null`,
        [attempt.id, outcomes.map((o) => o.outcome.kind).join(',')],
      );
      if (marked.rowCount === 0) return false;
      const failedTasks: FailedTask[] = [];
      for (const { arn, outcome } of outcomes) {
        if (outcome.kind === 'crashed') {
          await this.releaseCrashed(client, attempt, arn, outcome.reason);
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
        logs.push(await this.attemptFailed(client, attempt, failedTasks));
      }
      return true;
    });
    if (!applied) return false;
    if (startFailed) this.counters.startFailures += 1;
    for (const log of logs) log();
    return startFailed;
  }

  /** A task that heartbeated, then died without giving its share of the lease back: given back now, unless the lease was reset since its launch. */
  private async releaseCrashed(db: Queryable, attempt: ObservedAttempt, _taskArn: string, _reason: string): Promise<void> {
    const s = quoteIdent(this.schemaOf(attempt.use_case));
    await db.query(
      `update ${s}.task_leases set tasks = greatest(tasks - 1, 0), expires_at = case when tasks <= 1 then now() else expires_at end, updated_at = now()
       where use_case = $1 and (reset_at is null or reset_at < (select created_at from ${s}.launch_attempts where id = $2))`,
      [attempt.use_case, attempt.id],
    );
  }

  /**
   * Opens the breaker for a launch whose tasks did not start (their shares given back) and, when
   * it was a start failure, counts one (one per launch, however many of its tasks failed: one
   * transient cause must not count ten times) and after enough in a row dead-letters the use
   * case's pending deliveries. A task that could not reach its database yet (exit 75) backs off
   * like a failed RunTask, without counting. Returns the log to write once committed.
   */
  private async attemptFailed(db: Queryable, attempt: ObservedAttempt, tasks: readonly FailedTask[]): Promise<() => void> {
    const useCase = attempt.use_case;
    const last = tasks.find((t) => t.start) ?? tasks[0]!;
    const kind = tasks.some((t) => t.start) ? 'start' : 'launch';
    const breaker = await this.failure(db, useCase, attempt.id, tasks.length, `${last.stopCode}: ${last.reason}`, kind);
    const logEach =
      (message: string, extra: Record<string, unknown> = {}) =>
      () => {
        for (const t of tasks)
          this.logger.error({ useCase, taskArn: t.arn, stopCode: t.stopCode, reason: t.reason, ...breaker, ...extra }, message);
      };
    if (kind === 'launch') return logEach('ecs task could not reach its database yet; no launch for this use case before the backoff');
    if (breaker.startFailures < this.settings.startFailuresBeforeDeadLetter) return logEach('ecs task failed to start');
    const s = quoteIdent(this.schemaOf(useCase));
    const dead = await db.query(
      `update ${s}.inbox set status = 'dead', error_code = 'TASK_FAILED_TO_START', last_error = left($2, 4000), updated_at = now()
       where use_case = $1 and status = 'pending'`,
      [useCase, `${breaker.startFailures} consecutive launches of ${useCase} failed to start; the last: ${last.stopCode}: ${last.reason}`],
    );
    return logEach('ecs tasks keep failing to start: pending deliveries dead-lettered (re-drive them once the cause is fixed)', {
      deadLettered: dead.rowCount ?? 0,
    });
  }

  /** Leases whose tasks stopped heartbeating (a task killed mid-batch): reset them so a launch is decided again. */
  async expiredLeases(schemas: readonly string[]): Promise<string[]> {
    const useCases: string[] = [];
    for (const schema of schemas) {
      const s = quoteIdent(schema);
      const rows = await this.databaseOf(schema).pgQuery<{ use_case: string }>(
        `update ${s}.task_leases set tasks = 0, holder = null, reset_at = now(), updated_at = now() where expires_at < now() and tasks > 0 returning use_case`,
      );
      useCases.push(...rows.rows.map((r) => r.use_case));
    }
    return useCases;
  }

  /**
   * Use cases with due deliveries and no live lease, whose breaker is closed or whose backoff has
   * passed (the breaker's half-open probe: one launch decides whether it closes).
   */
  async needingTasks(schemas: readonly string[]): Promise<string[]> {
    const useCases: string[] = [];
    for (const schema of schemas) {
      const s = quoteIdent(schema);
      const rows = await this.databaseOf(schema).pgQuery<{ use_case: string }>(
        `select l.use_case from ${s}.task_leases l
         where (l.retry_at is null or l.retry_at <= now()) and (l.tasks = 0 or l.expires_at <= now())
           and exists (select 1 from ${s}.inbox i where i.use_case = l.use_case and i.status = 'pending' and i.available_at <= now())`,
      );
      useCases.push(...rows.rows.map((r) => r.use_case));
    }
    return useCases;
  }

  async drainLaunches(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight.values()]);
  }
}

/** A launch attempt a maintenance pass claimed. */
interface ObservedAttempt {
  readonly id: string;
  readonly use_case: string;
  readonly task_arns: string[];
  /** One of its tasks heartbeated: it started. */
  readonly running: boolean;
  /** Its tasks mark their first heartbeat (launched by this release); if not, ECS's RUNNING is the start. */
  readonly marks_running: boolean;
  /** Older than TASK_START_TIMEOUT_MS. */
  readonly overdue: boolean;
  /** Older than a lease period. */
  readonly stale: boolean;
}

/** A database or a connection in a transaction, in `pg`'s terms. */
interface Queryable {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

function queryable(database: PostgresDatabase): Queryable {
  return { query: (text, values) => database.pgQuery(text, values) };
}

type StartOutcome =
  | { readonly kind: 'starting' }
  | { readonly kind: 'started' }
  /** It ran, then died without giving its lease back (killed, crashed): its share is released at once. */
  | { readonly kind: 'crashed'; readonly reason: string }
  /** It did not start; `start` false when it only could not reach its database yet (exit 75): a backoff, not a start failure. */
  | { readonly kind: 'failed'; readonly stopCode: string; readonly reason: string; readonly stopTask: boolean; readonly start: boolean };

interface FailedTask {
  readonly arn: string;
  readonly stopCode: string;
  readonly reason: string;
  readonly start: boolean;
}

/** The exit code of a task that could not reach its database at start (EX_TEMPFAIL): a failover, a full connection table. */
const TEMPFAIL_EXIT_CODE = 75;

/** Stop codes of a task stopped from outside (StopTask, a Spot reclaim, a deployment): whatever it exited with, it was not its start that failed. */
const STOPPED_FROM_OUTSIDE = new Set(['UserInitiated', 'SpotInterruption', 'ServiceSchedulerInitiated', 'TerminationNotice']);

/**
 * What DescribeTasks says about a launched task, for the breaker. Whether it started is the
 * attempt's first heartbeat (PostgreSQL), not ECS's RUNNING: a container that is RUNNING may still
 * be loading its code or refusing its configuration. A task ECS does not know (long stopped, or
 * an endpoint that forgot it) is gone: once the launch is older than a lease period, its share of
 * the lease is released rather than held until the start timeout.
 */
function startOutcome(
  task: Task | undefined,
  attempt: Pick<ObservedAttempt, 'running' | 'marks_running' | 'overdue' | 'stale'>,
): StartOutcome {
  if (!task) return attempt.stale ? { kind: 'crashed', reason: 'unknown to ECS (MISSING)' } : { kind: 'starting' };
  if (task.lastStatus === 'STOPPED' || task.lastStatus === 'DEPROVISIONING' || task.lastStatus === 'STOPPING') {
    if (task.stopCode === 'TaskFailedToStart') {
      return { kind: 'failed', stopCode: 'TaskFailedToStart', reason: task.stoppedReason ?? 'unknown', stopTask: false, start: true };
    }
    const configExit = (task.containers ?? []).find((c) => c.exitCode === CONFIG_EXIT_CODE);
    if (configExit) {
      return {
        kind: 'failed',
        stopCode: task.stopCode ?? 'EssentialContainerExited',
        reason: `exit code 78 (configuration refused) in container ${configExit.name ?? '?'}`,
        stopTask: false,
        start: true,
      };
    }
    if (task.lastStatus !== 'STOPPED') return { kind: 'starting' };
    const crashed = (task.containers ?? []).find((c) => c.exitCode !== undefined && c.exitCode !== 0);
    // Exit 0: it drained (or was stopped) and gave its share of the lease back itself.
    if (!crashed) return { kind: 'started' };
    const reason = `exit code ${crashed.exitCode ?? '?'}: ${task.stoppedReason ?? ''}`;
    // Exited of its own accord before its first heartbeat: it cannot start (a database it cannot
    // reach, a module it cannot load), and launching it again at once would crash again.
    if (attempt.marks_running && !attempt.running && !STOPPED_FROM_OUTSIDE.has(task.stopCode ?? '')) {
      const start = crashed.exitCode !== TEMPFAIL_EXIT_CODE;
      return {
        kind: 'failed',
        stopCode: task.stopCode ?? 'EssentialContainerExited',
        reason: `${reason} (before its first heartbeat)`,
        stopTask: false,
        start,
      };
    }
    return { kind: 'crashed', reason };
  }
  if (attempt.running) return { kind: 'started' };
  // Launched by an older release (its tasks do not mark their heartbeat): RUNNING at the start timeout has started.
  if (!attempt.marks_running && task.lastStatus === 'RUNNING') return attempt.overdue ? { kind: 'started' } : { kind: 'starting' };
  if (!attempt.overdue) return { kind: 'starting' };
  return {
    kind: 'failed',
    stopCode: 'StartTimeout',
    reason: `no heartbeat after the start timeout (${task.lastStatus ?? 'unknown'})`,
    stopTask: true,
    start: true,
  };
}
