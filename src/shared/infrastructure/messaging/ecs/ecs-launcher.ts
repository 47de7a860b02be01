import { ECSClient, RunTaskCommand, type RunTaskCommandInput } from '@aws-sdk/client-ecs';
import pg from 'pg';
import { taskFamilyOf, uuidv7 } from '../../../kernel/index.js';
import type { Logger } from '../../logging/logger.js';
import { quoteIdent } from '../../persistence/messaging-tables.js';
import { backoffMs } from '../backoff.js';

export interface EcsLaunchSettings {
  readonly cluster: string;
  readonly subnets: readonly string[];
  readonly securityGroups: readonly string[];
  readonly assignPublicIp: boolean;
  readonly launchType?: 'FARGATE' | 'EC2' | 'EXTERNAL';
  /** `provider:weight` entries; wins over launchType. */
  readonly capacityProviderStrategy: readonly string[];
  readonly taskDefinitionPrefix: string;
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
  /** How long a launch (or a heartbeat) keeps a lease alive. */
  readonly leaseTtlMs: number;
  readonly maxLaunchRetries: number;
  readonly retryBaseMs: number;
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
}

interface LeaseDecision {
  readonly attemptId: string;
  readonly count: number;
}

/** The advisory lock under which launch decisions check the connection budget (any fixed number unique to it). */
const BUDGET_LOCK = '7310558214590371861';

const RETRYABLE_ERRORS = new Set(['ThrottlingException', 'ServerException', 'ServiceUnavailableException', 'RequestLimitExceeded', 'TimeoutError']);

/**
 * Launches the ECS task of a use case when its pending deliveries need one, and only then.
 * A lease row per use case (in the consumer module's schema) says how many tasks are believed
 * to run and until when; running tasks heartbeat it and give it up only in a transaction that
 * saw no due delivery. So a burst of 1,000 messages costs a handful of launches. Each launch
 * decision is a launch-attempt row committed BEFORE the RunTask call; its id is the clientToken,
 * so a retried call never starts a second task, while a new decision gets a new token.
 */
export class EcsLauncher {
  readonly counters: LaunchCounters = { runTaskCalls: 0, tasksStarted: 0, launchDecisions: 0, throttled: 0, placementFailures: 0 };
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
      const lease = await client.query<{ tasks: number; live: boolean }>(
        `select tasks, expires_at > now() as live from ${s}.task_leases where use_case = $1 for update`,
        [useCase],
      );
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
      await client.query(
        `update ${s}.task_leases set tasks = $2, expires_at = now() + ($3 * interval '1 millisecond'), holder = 'launch:' || $4, updated_at = now() where use_case = $1`,
        [useCase, current + count, this.settings.leaseTtlMs, attemptId],
      );
      await client.query(`insert into ${s}.launch_attempts (id, use_case, client_token, task_count) values ($1, $2, $3, $4)`, [attemptId, useCase, attemptId, count]);
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

  private input(useCase: string, decision: LeaseDecision): RunTaskCommandInput {
    const family = `${this.settings.taskDefinitionPrefix}${taskFamilyOf(useCase)}`;
    const s = this.settings;
    const strategy = s.capacityProviderStrategy.map((entry) => {
      const [provider = '', weight = '1'] = entry.split(':');
      return { capacityProvider: provider, weight: Number(weight) || 1 };
    });
    return {
      cluster: s.cluster,
      taskDefinition: family,
      count: decision.count,
      clientToken: decision.attemptId,
      startedBy: family.slice(0, 36),
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
   * Calls RunTask for a decision. Throttling and transport errors are retried with the SAME token
   * (the call may have been applied); a 200 with failures[] (no capacity, no memory) is a refusal,
   * so the retry is a NEW decision with a new token. When every try fails, the lease is expired so
   * the next signal or sweep decides again: the pending deliveries stay, so a lost launch costs
   * time, never a message.
   */
  private async launch(useCase: string, decision: LeaseDecision): Promise<void> {
    const s = quoteIdent(this.schemaOf(useCase));
    let current = decision;
    for (let attempt = 1; attempt <= this.settings.maxLaunchRetries; attempt++) {
      try {
        this.counters.runTaskCalls += 1;
        const result = await this.ecs.send(new RunTaskCommand(this.input(useCase, current)));
        const arns = (result.tasks ?? []).flatMap((t) => (t.taskArn ? [t.taskArn] : []));
        const failures = result.failures ?? [];
        if (arns.length > 0) {
          this.counters.tasksStarted += arns.length;
          await this.pool.query(`update ${s}.launch_attempts set status = 'started', attempts = $2, task_arns = $3, updated_at = now() where id = $1`, [
            current.attemptId,
            attempt,
            arns,
          ]);
          this.logger.info({ useCase, tasks: arns.length, attempt, clientToken: current.attemptId }, 'ecs tasks launched');
          if (arns.length >= current.count) return;
          // Partly placed: the lease counts only what started; the rest is decided again below.
          await this.pool.query(`update ${s}.task_leases set tasks = greatest(tasks - $2, 0) where use_case = $1`, [useCase, current.count - arns.length]);
          return;
        }
        this.counters.placementFailures += 1;
        const reason = failures.map((f) => f.reason ?? 'unknown').join(', ');
        await this.pool.query(`update ${s}.launch_attempts set status = 'failed', attempts = $2, last_error = $3, updated_at = now() where id = $1`, [
          current.attemptId,
          attempt,
          reason,
        ]);
        this.logger.warn({ useCase, reason, attempt }, 'ecs could not place the task; retrying with a new launch decision');
        const next = uuidv7();
        await this.pool.query(`insert into ${s}.launch_attempts (id, use_case, client_token, task_count) values ($1, $2, $3, $4)`, [next, useCase, next, current.count]);
        current = { attemptId: next, count: current.count };
      } catch (error) {
        const name = (error as { name?: string }).name ?? '';
        if (name === 'ThrottlingException') this.counters.throttled += 1;
        const retryable = RETRYABLE_ERRORS.has(name) || (error as { $retryable?: unknown }).$retryable !== undefined || /ECONNREFUSED|ECONNRESET|socket hang up/.test(String(error));
        await this.pool
          .query(`update ${s}.launch_attempts set attempts = $2, last_error = $3, updated_at = now() where id = $1`, [current.attemptId, attempt, String(error).slice(0, 1000)])
          .catch(() => undefined);
        if (!retryable) {
          this.logger.error({ err: error, useCase }, 'RunTask failed and is not retryable');
          break;
        }
        this.logger.warn({ useCase, error: name || String(error), attempt }, 'RunTask failed; retrying with the same clientToken');
      }
      await new Promise((r) => setTimeout(r, backoffMs(attempt, this.settings.retryBaseMs, 10_000)));
    }
    await this.pool.query(`update ${s}.launch_attempts set status = 'failed', updated_at = now() where id = $1 and status = 'pending'`, [current.attemptId]);
    await this.pool.query(`update ${s}.task_leases set tasks = greatest(tasks - $2, 0), expires_at = now() where use_case = $1`, [useCase, current.count]);
    this.logger.error({ useCase }, 'could not launch a task; the sweeper will try again');
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

  async drainLaunches(): Promise<void> {
    await Promise.allSettled([...this.inFlight.values()]);
  }
}
