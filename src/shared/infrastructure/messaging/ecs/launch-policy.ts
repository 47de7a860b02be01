import type { Task } from '@aws-sdk/client-ecs';

/**
 * The launcher's decisions as pure functions (no I/O): how many tasks a backlog wants, how many a
 * launch may add under the breaker, and what DescribeTasks says about a launched task.
 */

export interface Backlog {
  /** Due pending deliveries (counted up to scaleOutBacklog × maxTasksPerUseCase). */
  readonly deliveries: number;
  /** Distinct delivery keys among them. */
  readonly keys: number;
}

export interface ScalingLimits {
  readonly maxTasksPerUseCase: number;
  readonly scaleOutBacklog: number;
  readonly taskConcurrency: number;
}

/** RunTask starts at most 10 tasks a call. */
export const MAX_TASKS_PER_RUN_TASK = 10;

/** Tasks the backlog can keep busy: a key is handled by one transaction at a time, so tasks beyond its keys only wait. */
export function wantedTasks(backlog: Backlog, limits: ScalingLimits): number {
  if (backlog.deliveries === 0) return 0;
  return Math.min(
    limits.maxTasksPerUseCase,
    Math.ceil(backlog.deliveries / limits.scaleOutBacklog),
    Math.ceil(backlog.keys / limits.taskConcurrency),
  );
}

export interface BreakerState {
  /** Consecutive failures since the breaker last closed (0: closed). */
  readonly failures: number;
  /** A launch decided since the last failure has not proved itself yet (RunTask pending, or no heartbeat). */
  readonly probeInFlight: boolean;
}

/**
 * How many tasks one launch decision adds (before the connection budget), at most 10 (RunTask's
 * limit). Closed: what the backlog wants beyond the tasks running. Half-open (failures, and the
 * backoff has passed): one probe task beyond those running, whatever runs already (a use case
 * with one task and a growing backlog must still get its probe), and none while a probe is in
 * flight; the probe's success closes the breaker, and the next decision scales out.
 */
export function tasksToLaunch(wanted: number, current: number, breaker: BreakerState): number {
  const missing = Math.min(MAX_TASKS_PER_RUN_TASK, wanted - current);
  if (breaker.failures === 0) return missing;
  if (breaker.probeInFlight) return 0;
  return Math.min(missing, 1);
}

/** What a task that ran no use case code looks like: it never started, or its configuration was refused (EX_CONFIG). */
export const CONFIG_EXIT_CODE = 78;

/** The exit code of a task that could not reach its database at start (EX_TEMPFAIL): a failover, a full connection table. */
export const TEMPFAIL_EXIT_CODE = 75;

/** Stop codes of a task stopped from outside (StopTask, a Spot reclaim, a deployment): whatever it exited with, it was not its start that failed. */
const STOPPED_FROM_OUTSIDE = new Set([
  'UserInitiated',
  'SpotInterruption',
  'ServiceSchedulerInitiated',
  'TerminationNotice',
  'InfrastructureHealth',
]);

/** What the observer knows of a launch attempt, besides what DescribeTasks says. */
export interface AttemptProgress {
  /** One of its tasks heartbeated: it started. */
  readonly running: boolean;
  /** Its tasks mark their first heartbeat (launched by this release); if not, ECS's RUNNING is the start. */
  readonly marks_running: boolean;
  /** Older than TASK_START_TIMEOUT_MS. */
  readonly overdue: boolean;
  /** Older than a lease period. */
  readonly stale: boolean;
}

export type StartOutcome =
  | { readonly kind: 'starting' }
  | { readonly kind: 'started' }
  /** It ran, then died without giving its lease back (killed, crashed): its share is released at once. */
  | { readonly kind: 'crashed'; readonly reason: string }
  /** It did not start; `start` false when it only could not reach its database yet (exit 75): a backoff, not a start failure. */
  | {
      readonly kind: 'failed';
      readonly stopCode: string;
      readonly reason: string;
      readonly stopTask: boolean;
      readonly start: boolean;
      /** Its essential container's exit code, when it exited. */
      readonly exitCode?: number;
    };

function isStopping(task: Task): boolean {
  return task.lastStatus === 'STOPPED' || task.lastStatus === 'DEPROVISIONING' || task.lastStatus === 'STOPPING';
}

/** The start of the reason StopTask is given for a task that did not heartbeat by the start timeout. */
const START_TIMEOUT_REASON = 'no heartbeat after the start timeout';

/** A task on its way out or out: did it fail to start, crash, or end on its own terms? */
function stoppedOutcome(task: Task, attempt: AttemptProgress): StartOutcome {
  // Stopped for its start timeout, and judged a pass later (the StopTask's answer was lost, or a
  // sibling's StopTask was refused): still a start failure, not a crash of a running task.
  if (!attempt.running && task.stoppedReason?.startsWith(START_TIMEOUT_REASON)) {
    return { kind: 'failed', stopCode: 'StartTimeout', reason: task.stoppedReason, stopTask: false, start: true };
  }
  if (task.stopCode === 'TaskFailedToStart') {
    // Fargate puts the cause in stoppedReason and, for an image or a secret, in the container's reason too.
    const reasons = [task.stoppedReason, ...(task.containers ?? []).map((c) => c.reason)].filter((r): r is string => Boolean(r));
    return {
      kind: 'failed',
      stopCode: 'TaskFailedToStart',
      reason: [...new Set(reasons)].join('; ') || 'unknown',
      stopTask: false,
      start: true,
    };
  }
  const configExit = (task.containers ?? []).find((c) => c.exitCode === CONFIG_EXIT_CODE);
  if (configExit) {
    return {
      kind: 'failed',
      stopCode: task.stopCode ?? 'EssentialContainerExited',
      reason: `exit code 78 (configuration refused) in container ${configExit.name ?? '?'}`,
      stopTask: false,
      start: true,
      exitCode: CONFIG_EXIT_CODE,
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
      ...(crashed.exitCode === undefined ? {} : { exitCode: crashed.exitCode }),
    };
  }
  return { kind: 'crashed', reason };
}

/**
 * What DescribeTasks says about a launched task, for the breaker. Whether it started is the
 * attempt's first heartbeat (PostgreSQL), not ECS's RUNNING: a container that is RUNNING may still
 * be loading its code or refusing its configuration. A task ECS does not know (long stopped, or
 * an endpoint that forgot it) is gone: once the launch is older than a lease period, its share of
 * the lease is released rather than held until the start timeout.
 */
export function startOutcome(task: Task | undefined, attempt: AttemptProgress): StartOutcome {
  if (!task) return attempt.stale ? { kind: 'crashed', reason: 'unknown to ECS (MISSING)' } : { kind: 'starting' };
  if (isStopping(task)) return stoppedOutcome(task, attempt);
  if (attempt.running) return { kind: 'started' };
  // Launched by an older release (its tasks do not mark their heartbeat): RUNNING at the start timeout has started.
  if (!attempt.marks_running && task.lastStatus === 'RUNNING') return attempt.overdue ? { kind: 'started' } : { kind: 'starting' };
  if (!attempt.overdue) return { kind: 'starting' };
  return {
    kind: 'failed',
    stopCode: 'StartTimeout',
    reason: `${START_TIMEOUT_REASON} (${task.lastStatus ?? 'unknown'})`,
    stopTask: true,
    start: true,
  };
}

export interface DeadLetterThresholds {
  /** Consecutive permanent start failures before deliveries are dead-lettered. */
  readonly failures: number;
  /** And for at least this long since the first of them: a bad minute is not a bad deployment. */
  readonly forMs: number;
}

/**
 * Whether a use case's pending deliveries are dead-lettered for start failures: only permanent
 * ones count (a transient cause backs off and alarms, never rejects business work), and only once
 * they have gone on both long enough and often enough.
 */
export function deadLetterDue(
  permanent: { readonly failures: number; readonly failingForMs: number },
  thresholds: DeadLetterThresholds,
): boolean {
  return permanent.failures >= thresholds.failures && permanent.failingForMs >= thresholds.forMs;
}
