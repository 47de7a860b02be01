import { DescribeTasksCommand, ECSClient, RunTaskCommand, StopTaskCommand, type RunTaskCommandInput, type Task } from '@aws-sdk/client-ecs';
import pg from 'pg';
import { taskFamilyOf, uuidv7 } from '../../../kernel/index.js';
import type { Logger } from '../../logging/logger.js';
import { quoteIdent } from '../../persistence/messaging-tables.js';

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
    private readonly pool: pg.Pool,
    private readonly ecs: ECSClient,
    private readonly schemaOf: (useCase: string) => string,
    private readonly settings: EcsLaunchSettings,
    private readonly logger: Logger,
  ) {}

  /** Makes sure enough tasks run for the use case's backlog; coalesces concurrent calls per use case. */
  ensureRunning(useCase: string): Promise<void> {
    const running = this.inFlight.get(useCase);
    if (running) {
      this.again.add(useCase);
      return running;
    }
    const work = (async () => {
      try {
        do {
          this.again.delete(useCase);
          const decision = await this.decide(useCase);
          if (decision) await this.launch(useCase, decision);
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
    const client = await this.pool.connect();
    try {
      await client.query('begin');
      await client.query(`insert into ${s}.task_leases (use_case, tasks, expires_at) values ($1, 0, now()) on conflict do nothing`, [useCase]);
      const lease = await client.query<{ tasks: number; live: boolean; backing_off: boolean }>(
        `select tasks, expires_at > now() as live, coalesce(retry_at > now(), false) as backing_off from ${s}.task_leases where use_case = $1 for update`,
        [useCase],
      );
      if (lease.rows[0]?.backing_off) {
        await client.query('commit');
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
          : Math.min(this.settings.maxTasksPerUseCase, Math.ceil(backlog / this.settings.scaleOutBacklog), Math.ceil(keys / this.settings.taskConcurrency));
      let count = Math.min(10, wanted - current);
      if (count > 0) count = Math.min(count, await this.budgetAllows(client, useCase, current));
      if (count <= 0) {
        await client.query('commit');
        return null;
      }
      const attemptId = uuidv7();
      // Until the task is seen running (its heartbeat) or stopped, the launch holds the lease.
      await client.query(
        `update ${s}.task_leases set tasks = $2, expires_at = now() + ($3 * interval '1 millisecond'), holder = 'launch:' || $4, updated_at = now() where use_case = $1`,
        [useCase, current + count, Math.max(this.settings.leaseTtlMs, this.settings.taskStartTimeoutMs), attemptId],
      );
      await client.query(`insert into ${s}.launch_attempts (id, use_case, client_token, task_count, task_definition) values ($1, $2, $3, $4, $5)`, [
        attemptId,
        useCase,
        attemptId,
        count,
        this.taskDefinitionOf(useCase),
      ]);
      await client.query('commit');
      this.counters.launchDecisions += 1;
      return { attemptId, count };
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /**
   * How many more tasks the connection budget allows this use case, decided under one advisory
   * lock shared by every launcher (launches are rare; this keeps two of them from both taking the
   * last room). Running tasks are counted from the live leases of every active use case, and each
   * use case without a task keeps room for one: scale-out never takes the room a first launch
   * needs. A use case without a task always gets one (the startup check makes that fit).
   */
  private async budgetAllows(client: pg.PoolClient, useCase: string, current: number): Promise<number> {
    await client.query('select pg_advisory_xact_lock($1)', [BUDGET_LOCK]);
    const schemas = [...new Set(this.settings.activeUseCases.map((u) => u.schema))];
    const rows = await client.query<{ use_case: string; tasks: number }>(
      schemas.map((schema) => `select use_case, case when expires_at > now() then tasks else 0 end as tasks from ${quoteIdent(schema)}.task_leases`).join(' union all '),
    );
    const live = new Map(rows.rows.map((r) => [r.use_case, r.tasks]));
    let running = current;
    let waiting = 0;
    for (const other of this.settings.activeUseCases) {
      if (other.useCase === useCase) continue;
      const tasks = live.get(other.useCase) ?? 0;
      running += tasks;
      if (tasks === 0) waiting += 1;
    }
    const room = this.settings.maxTasks - running - waiting;
    if (current === 0) return Math.max(1, room);
    if (room <= 0) this.logger.info({ useCase, running, maxTasks: this.settings.maxTasks }, 'connection budget reached: no more tasks for this backlog');
    return room;
  }

  /** `family:revision` when the family is pinned (production), else the bare family (its latest ACTIVE revision). */
  private taskDefinitionOf(useCase: string): string {
    const family = `${this.settings.taskDefinitionPrefix}${taskFamilyOf(useCase)}`;
    const revision = this.settings.revisions.get(family);
    return revision === undefined ? family : `${family}:${revision}`;
  }

  private input(useCase: string, decision: LeaseDecision): RunTaskCommandInput {
    const family = `${this.settings.taskDefinitionPrefix}${taskFamilyOf(useCase)}`;
    const s = this.settings;
    const strategy = s.capacityProviderStrategy.map((entry) => {
      const [provider = '', weight, base] = entry.split(':');
      return { capacityProvider: provider, weight: weight === undefined ? 1 : Number(weight), ...(base === undefined ? {} : { base: Number(base) }) };
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
    try {
      this.counters.runTaskCalls += 1;
      const result = await this.ecs.send(new RunTaskCommand(this.input(useCase, decision)));
      const arns = (result.tasks ?? []).flatMap((t) => (t.taskArn ? [t.taskArn] : []));
      if (arns.length > 0) {
        this.counters.tasksStarted += arns.length;
        await this.pool.query(`update ${s}.launch_attempts set status = 'started', attempts = 1, task_arns = $2, updated_at = now() where id = $1`, [
          decision.attemptId,
          arns,
        ]);
        this.logger.info({ useCase, tasks: arns.length, clientToken: decision.attemptId }, 'ecs tasks launched');
        // Partly placed: the lease counts only what started; the next signal decides about the rest.
        if (arns.length < decision.count) {
          await this.pool.query(`update ${s}.task_leases set tasks = greatest(tasks - $2, 0) where use_case = $1`, [useCase, decision.count - arns.length]);
        }
        return;
      }
      this.counters.placementFailures += 1;
      await this.launchFailed(useCase, decision, `placement: ${(result.failures ?? []).map((f) => f.reason ?? 'unknown').join(', ')}`);
    } catch (error) {
      const name = (error as { name?: string }).name ?? 'Error';
      if (name === 'ThrottlingException') this.counters.throttled += 1;
      await this.launchFailed(useCase, decision, `${name}: ${error instanceof Error ? error.message : String(error)}`).catch((cause: unknown) =>
        this.logger.error({ err: cause, useCase }, 'could not record a failed launch; the lease expires by itself'),
      );
    }
  }

  private async launchFailed(useCase: string, decision: LeaseDecision, reason: string): Promise<void> {
    this.counters.launchFailures += 1;
    const s = quoteIdent(this.schemaOf(useCase));
    await this.pool.query(`update ${s}.launch_attempts set status = 'failed', attempts = 1, last_error = $2, updated_at = now() where id = $1`, [
      decision.attemptId,
      reason.slice(0, 1000),
    ]);
    const breaker = await this.failure(useCase, decision.count, reason);
    this.logger.error({ useCase, reason, clientToken: decision.attemptId, ...breaker }, 'RunTask failed; no launch for this use case before the backoff');
  }

  /**
   * Gives back `tasks` of the lease and opens the breaker: `retry_at` after a backoff that doubles
   * per consecutive failure (with jitter, capped), decided in SQL so every process agrees.
   */
  private async failure(useCase: string, tasks: number, reason: string): Promise<{ failures: number; retryInMs: number }> {
    const s = quoteIdent(this.schemaOf(useCase));
    const { rows } = await this.pool.query<{ failures: number; retry_in_ms: number }>(
      `update ${s}.task_leases set
         tasks = greatest(tasks - $2, 0),
         expires_at = case when tasks - $2 <= 0 then now() else expires_at end,
         holder = case when tasks - $2 <= 0 then null else holder end,
         failures = failures + 1,
         retry_at = now() + (least($4::float8, $3::float8 * power(2, least(failures, 30))) * (0.5 + random() / 2) * interval '1 millisecond'),
         last_failure = left($5, 1000),
         updated_at = now()
       where use_case = $1
       returning failures, round(extract(epoch from retry_at - now()) * 1000)::int as retry_in_ms`,
      [useCase, tasks, this.settings.breakerBaseMs, this.settings.breakerMaxMs, reason],
    );
    return { failures: rows[0]?.failures ?? 0, retryInMs: rows[0]?.retry_in_ms ?? 0 };
  }

  /**
   * Looks at the tasks launched but not yet seen running (DescribeTasks, 100 at a time): a task
   * that stopped without running its use case (TaskFailedToStart: an image that cannot be pulled,
   * a secret that cannot be read; or exit 78: a configuration it refused) or that is still not
   * running after TASK_START_TIMEOUT_MS (stopped then) is a start failure: it gives its share of
   * the lease back and opens the breaker, and after repeated ones the use case's pending
   * deliveries are dead-lettered. Returns the use cases that had a start failure.
   */
  async observeLaunches(schemas: readonly string[]): Promise<string[]> {
    const failed: string[] = [];
    for (const schema of schemas) {
      const s = quoteIdent(schema);
      const { rows } = await this.pool.query<{ id: string; use_case: string; task_arns: string[]; overdue: boolean; stale: boolean }>(
        `select id, use_case, task_arns, created_at < now() - ($1 * interval '1 millisecond') as overdue, created_at < now() - ($2 * interval '1 millisecond') as stale
         from ${s}.launch_attempts where status = 'started' and observed_at is null order by created_at limit 100`,
        [this.settings.taskStartTimeoutMs, this.settings.leaseTtlMs],
      );
      if (rows.length === 0) continue;
      const arns = rows.flatMap((r) => r.task_arns).slice(0, 100);
      const described = await this.ecs.send(new DescribeTasksCommand({ cluster: this.settings.cluster, tasks: arns }));
      const byArn = new Map((described.tasks ?? []).map((t) => [t.taskArn, t]));
      for (const attempt of rows) {
        const outcomes = attempt.task_arns.map((arn) => ({ arn, outcome: startOutcome(byArn.get(arn), attempt.overdue, attempt.stale) }));
        if (outcomes.some((o) => o.outcome.kind === 'starting')) continue;
        for (const { arn, outcome } of outcomes) {
          if (outcome.kind === 'crashed') {
            await this.releaseCrashed(attempt.use_case, arn, outcome.reason);
            continue;
          }
          if (outcome.kind !== 'failed') continue;
          if (outcome.stopTask) await this.ecs.send(new StopTaskCommand({ cluster: this.settings.cluster, task: arn, reason: outcome.reason })).catch(() => undefined);
          await this.startFailed(attempt.use_case, arn, outcome.stopCode, outcome.reason);
          failed.push(attempt.use_case);
        }
        const summary = outcomes.map((o) => o.outcome.kind).join(',');
        await this.pool.query(`update ${s}.launch_attempts set observed_at = now(), outcome = $2, updated_at = now() where id = $1`, [attempt.id, summary]);
      }
    }
    return [...new Set(failed)];
  }

  private async releaseCrashed(useCase: string, taskArn: string, reason: string): Promise<void> {
    const s = quoteIdent(this.schemaOf(useCase));
    await this.pool.query(
      `update ${s}.task_leases set tasks = greatest(tasks - 1, 0), expires_at = case when tasks <= 1 then now() else expires_at end, updated_at = now() where use_case = $1`,
      [useCase],
    );
    this.logger.warn({ useCase, taskArn, reason }, 'ecs task stopped without giving its lease back; deciding a launch again');
  }

  private async startFailed(useCase: string, taskArn: string, stopCode: string, reason: string): Promise<void> {
    this.counters.startFailures += 1;
    const breaker = await this.failure(useCase, 1, `${stopCode}: ${reason}`);
    this.logger.error({ useCase, taskArn, stopCode, reason, ...breaker }, 'ecs task failed to start');
    if (breaker.failures < this.settings.startFailuresBeforeDeadLetter) return;
    const s = quoteIdent(this.schemaOf(useCase));
    const dead = await this.pool.query(
      `update ${s}.inbox set status = 'dead', error_code = 'TASK_FAILED_TO_START', last_error = left($2, 4000), updated_at = now()
       where use_case = $1 and status = 'pending'`,
      [useCase, `${breaker.failures} consecutive tasks of ${useCase} failed to start; the last: ${stopCode}: ${reason}`],
    );
    this.logger.error(
      { useCase, taskArn, stopCode, reason, failures: breaker.failures, deadLettered: dead.rowCount ?? 0 },
      'ecs tasks keep failing to start: pending deliveries dead-lettered (re-drive them once the cause is fixed)',
    );
  }

  /** Leases whose tasks stopped heartbeating (a task killed mid-batch): reset them so a launch is decided again. */
  async expiredLeases(schemas: readonly string[]): Promise<string[]> {
    const useCases: string[] = [];
    for (const schema of schemas) {
      const s = quoteIdent(schema);
      const rows = await this.pool.query<{ use_case: string }>(
        `update ${s}.task_leases set tasks = 0, holder = null, updated_at = now() where expires_at < now() and tasks > 0 returning use_case`,
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
      const rows = await this.pool.query<{ use_case: string }>(
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

type StartOutcome =
  | { readonly kind: 'starting' }
  | { readonly kind: 'started' }
  /** It ran, then died without giving its lease back (killed, crashed): its share is released at once. */
  | { readonly kind: 'crashed'; readonly reason: string }
  | { readonly kind: 'failed'; readonly stopCode: string; readonly reason: string; readonly stopTask: boolean };

/**
 * What DescribeTasks says about a launched task, for the breaker. A task ECS does not know (long
 * stopped, or an endpoint that forgot it) is gone: once the launch is older than a lease period,
 * its share of the lease is released rather than held until the start timeout.
 */
function startOutcome(task: Task | undefined, overdue: boolean, stale: boolean): StartOutcome {
  if (!task) return stale ? { kind: 'crashed', reason: 'unknown to ECS (MISSING)' } : { kind: 'starting' };
  if (task.lastStatus === 'STOPPED' || task.lastStatus === 'DEPROVISIONING' || task.lastStatus === 'STOPPING') {
    if (task.stopCode === 'TaskFailedToStart') {
      return { kind: 'failed', stopCode: 'TaskFailedToStart', reason: task.stoppedReason ?? 'unknown', stopTask: false };
    }
    const configExit = (task.containers ?? []).find((c) => c.exitCode === CONFIG_EXIT_CODE);
    if (configExit) {
      return { kind: 'failed', stopCode: task.stopCode ?? 'EssentialContainerExited', reason: `exit code 78 (configuration refused) in container ${configExit.name ?? '?'}`, stopTask: false };
    }
    if (task.lastStatus !== 'STOPPED') return { kind: 'starting' };
    // Exit 0: it drained (or was stopped) and gave its share of the lease back itself.
    const crashed = (task.containers ?? []).find((c) => c.exitCode !== undefined && c.exitCode !== 0);
    return crashed ? { kind: 'crashed', reason: `exit code ${crashed.exitCode ?? '?'}: ${task.stoppedReason ?? ''}` } : { kind: 'started' };
  }
  // A task that refuses its configuration exits within a second of RUNNING: watch it until it stops or the start timeout passes.
  if (task.lastStatus === 'RUNNING') return overdue ? { kind: 'started' } : { kind: 'starting' };
  return overdue ? { kind: 'failed', stopCode: 'StartTimeout', reason: `still ${task.lastStatus ?? 'unknown'} after the start timeout`, stopTask: true } : { kind: 'starting' };
}
