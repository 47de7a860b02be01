import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../logging/logger.js';
import type { ModuleDatabase } from '../persistence/module-database.js';
import { quoteIdent } from '../persistence/sql-identifier.js';
import type { ModuleMetric } from '../observability/module-metric.js';
import type { DeliveryAdministration, SchemaDeliveryStats } from './delivery-administration.js';
import { LATE_COMMIT_SLACK_MS, ModuleMetrics } from '../observability/module-metrics.js';

/** The derived values are read at most this often, however many scrapes (or replicas' scrapes) come. */
export const DEFAULT_DERIVED_CACHE_MS = 5_000;
/** Launch attempts are read back this far: a task heartbeats (running_at) within its start timeout, well inside. */
const LAUNCH_WINDOW_MS = 15 * 60_000;

export const TASK_START_BUCKETS = [1, 2.5, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300] as const;

/** What the derived metrics read of a module's database. */
export type MetricsDatabase = Pick<ModuleDatabase, 'schema' | 'query'>;

export interface DerivedMetricsOptions {
  readonly registry: Registry;
  readonly administration: Pick<DeliveryAdministration, 'stats'>;
  /** Every hosted module's database: their launch_attempts tables. */
  readonly databases: readonly MetricsDatabase[];
  /** The metrics the hosted modules export (their ModuleDefinition's `metrics`), read with the platform's. */
  readonly moduleMetrics?: readonly { readonly module: string; readonly metric: ModuleMetric }[];
  readonly cacheMs?: number;
  readonly logger: Logger;
  readonly now?: () => number;
}

interface LaunchRow {
  id: string;
  use_case: string;
  status: 'pending' | 'started' | 'failed';
  tasks: number;
  throttled: boolean;
  start_seconds: number | null;
  created_ms: number;
}

/**
 * What PostgreSQL knows, as metrics: the deliveries and the outbox (gauges, from
 * DeliveryAdministration.stats), what short-lived ECS tasks did and cannot expose themselves
 * (RunTask launches, launch_attempts), and what the hosted modules export from their own tables
 * (a saga's duration, ModuleMetric). Read at scrape time, at most every `cacheMs`, never per
 * request. The counters count each row once per process (rows are remembered by id while they can
 * still be read again), so every replica's counters are complete: aggregate replicas with `max`,
 * not `sum` (docs/observability.md, ADR 27).
 */
export class DerivedMetrics {
  private readonly now: () => number;
  private readonly cacheMs: number;
  private refreshedAt = Number.NEGATIVE_INFINITY;
  private inFlight: Promise<void> | undefined;
  private readonly launchesSeen = new Map<string, number>();
  private readonly startsSeen = new Map<string, number>();
  private readonly gauges;
  private readonly counters;
  private readonly modules: ModuleMetrics;

  constructor(private readonly options: DerivedMetricsOptions) {
    this.now = options.now ?? Date.now;
    this.cacheMs = options.cacheMs ?? DEFAULT_DERIVED_CACHE_MS;
    const registers = [options.registry];
    const collect = (): Promise<void> => this.refresh();
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
      new Gauge<L>({ name, help, labelNames, registers, collect });
    this.gauges = {
      pending: gauge('saga_deliveries_pending', 'Deliveries waiting to be handled (due or retrying), by schema and use case', [
        'schema',
        'use_case',
      ]),
      dead: gauge('saga_deliveries_dead', 'Dead-lettered deliveries, by schema and use case', ['schema', 'use_case']),
      oldestPending: gauge(
        'saga_deliveries_oldest_pending_age_seconds',
        'Age of the oldest pending delivery (0 when none), by schema and use case',
        ['schema', 'use_case'],
      ),
      unrelayed: gauge('saga_outbox_unrelayed', 'Outbox messages not yet relayed to the inboxes, by schema', ['schema']),
      relayLag: gauge('saga_relay_lag_seconds', 'Age of the oldest unrelayed outbox message (0 when none), by schema', ['schema']),
      leaseTasks: gauge('saga_ecs_lease_tasks', 'ECS tasks the use case lease believes run (EVENT_BUS=ecs)', ['use_case']),
      breakerOpen: gauge('saga_ecs_breaker_open', '1 while the use case launch breaker refuses launches (EVENT_BUS=ecs)', ['use_case']),
      failures: gauge('saga_ecs_consecutive_launch_failures', 'Consecutive launch or start failures of the use case (EVENT_BUS=ecs)', [
        'use_case',
      ]),
      up: gauge('saga_metrics_postgres_up', '1 when the last read of the PostgreSQL-derived metrics succeeded, else 0', []),
    };
    this.counters = this.derivedCounters(registers, collect);
    this.modules = new ModuleMetrics(options.registry, options.moduleMetrics ?? [], collect, this.now);
  }

  private derivedCounters(registers: Registry[], collect: () => Promise<void>) {
    const counter = (name: string, help: string) => new Counter({ name, help, labelNames: ['use_case'] as const, registers, collect });
    return {
      runTaskCalls: counter('saga_ecs_run_task_calls_total', 'RunTask calls that ended (launch_attempts started or failed), by use case'),
      throttled: counter(
        'saga_ecs_run_task_throttled_total',
        'RunTask calls that failed with ThrottlingException after SDK retries, by use case',
      ),
      runTaskFailures: counter('saga_ecs_run_task_failures_total', 'RunTask calls that failed or placed no task, by use case'),
      tasksLaunched: counter('saga_ecs_tasks_launched_total', 'ECS tasks RunTask started, by use case'),
      taskStart: new Histogram({
        name: 'saga_ecs_task_start_seconds',
        help: 'Launch decided to the task first heartbeat (launch_attempts.running_at - created_at), by use case',
        labelNames: ['use_case'] as const,
        buckets: [...TASK_START_BUCKETS],
        registers,
        collect,
      }),
    };
  }

  /** Reads PostgreSQL unless a read finished less than `cacheMs` ago; concurrent callers share one read. */
  refresh(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    if (this.now() - this.refreshedAt < this.cacheMs) return Promise.resolve();
    this.inFlight = this.load().finally(() => {
      this.refreshedAt = this.now();
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async load(): Promise<void> {
    try {
      const [stats] = await Promise.all([
        this.options.administration.stats(),
        this.modules.refresh(),
        ...this.options.databases.map((db) => this.countLaunches(db)),
      ]);
      this.setGauges(stats);
      this.gauges.up.set(1);
    } catch (error) {
      // The process metrics are still served; the derived ones keep their last values.
      this.options.logger.warn({ err: error }, 'metrics: reading PostgreSQL failed');
      this.gauges.up.set(0);
    }
  }

  private setGauges(stats: readonly SchemaDeliveryStats[]): void {
    const g = this.gauges;
    for (const metric of [g.pending, g.dead, g.oldestPending, g.unrelayed, g.relayLag, g.leaseTasks, g.breakerOpen, g.failures]) {
      metric.reset();
    }
    for (const schema of stats) {
      g.unrelayed.set({ schema: schema.schema }, schema.outbox.unrelayed);
      g.relayLag.set({ schema: schema.schema }, (schema.outbox.oldestUnrelayedAgeMs ?? 0) / 1000);
      for (const u of schema.useCases) {
        const labels = { schema: schema.schema, use_case: u.useCase };
        g.pending.set(labels, u.counts.pending);
        g.dead.set(labels, u.counts.dead);
        g.oldestPending.set(labels, Math.max(0, u.oldestPendingAgeMs ?? 0) / 1000);
        if (u.launch) {
          g.leaseTasks.set({ use_case: u.useCase }, u.launch.tasks);
          g.breakerOpen.set({ use_case: u.useCase }, u.launch.breakerOpenUntil === null ? 0 : 1);
          g.failures.set({ use_case: u.useCase }, u.launch.failures);
        }
      }
    }
  }

  /** RunTask calls that ended and tasks that first heartbeated, in the launch window, each counted once by this process. */
  private async countLaunches(db: MetricsDatabase): Promise<void> {
    const rows = await db.query<LaunchRow>(
      `select id::text as id, use_case, status, cardinality(task_arns)::int as tasks,
         coalesce(last_error like 'ThrottlingException:%', false) as throttled,
         -- greatest() skips nulls: without the case an attempt never seen running would count as a 0 s start.
         case when running_at is not null then greatest(extract(epoch from running_at - created_at), 0)::float8 end as start_seconds,
         (extract(epoch from created_at) * 1000)::float8 as created_ms
       from ${quoteIdent(db.schema)}.launch_attempts
       where created_at > now() - (?::float8 * interval '1 millisecond') and (status <> 'pending' or running_at is not null)`,
      [LAUNCH_WINDOW_MS],
    );
    const c = this.counters;
    for (const row of rows) {
      const labels = { use_case: row.use_case };
      if (row.status !== 'pending' && !this.launchesSeen.has(row.id)) {
        this.launchesSeen.set(row.id, row.created_ms);
        c.runTaskCalls.inc(labels);
        if (row.status === 'failed') c.runTaskFailures.inc(labels);
        if (row.throttled) c.throttled.inc(labels);
        if (row.status === 'started') c.tasksLaunched.inc(labels, row.tasks);
      }
      if (row.start_seconds !== null && !this.startsSeen.has(row.id)) {
        this.startsSeen.set(row.id, row.created_ms);
        c.taskStart.observe(labels, row.start_seconds);
      }
    }
    // Forgotten only once out of the window the query reads (with room for clock skew).
    const horizon = this.now() - LAUNCH_WINDOW_MS - LATE_COMMIT_SLACK_MS;
    forgetBefore(this.launchesSeen, horizon);
    forgetBefore(this.startsSeen, horizon);
  }
}

function forgetBefore(seen: Map<string, number>, ms: number): void {
  for (const [id, at] of seen) if (at < ms) seen.delete(id);
}
