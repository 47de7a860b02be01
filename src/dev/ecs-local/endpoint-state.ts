import type { ServerResponse } from 'node:http';
import { parseClusterName, parseTaskReference } from './arns.js';
import { EcsApiError } from './errors.js';
import { applyFaults, INJECTED_ERRORS, TokenBucket, type EcsOperation, type LocalEcsFaults } from './faults.js';
import type { EcsLocalLogger } from './logger.js';
import { optString, type Body } from './request-body.js';
import type { TaskDefinitionDirectory } from './task-definitions.js';
import type { LocalTask, TaskRunner } from './task-runner.js';

export interface LocalEcsStats {
  /** Every RunTask request, whatever its outcome. */
  runTaskCalls: number;
  runTaskThrottled: number;
  /** RunTask calls answered with failures[] (injected placement failures). */
  runTaskFailures: number;
  /** RunTask calls rejected by validation (InvalidParameterException, ClientException...). */
  runTaskRejected: number;
  /** RunTask calls answered from an earlier call with the same clientToken (no new task). */
  runTaskReplays: number;
  /** Calls of any operation answered with an injected error (`errors`), hung ones included. */
  injectedErrors: number;
  /** Calls read and never answered (an injected `hang`). */
  hungRequests: number;
  /** Calls applied whose answer was never sent (an injected `appliedLost`). */
  appliedResponsesLost: number;
  /** RunTask calls refused by the rate limits (a ThrottlingException, counted in runTaskThrottled too). */
  rateLimited: number;
  /** Tasks created by RunTask (one per process group launched). */
  tasksStarted: number;
  /** Tasks not STOPPED now (PROVISIONING, RUNNING or STOPPING): a gauge, not reset. */
  tasksRunning: number;
  /** Tasks that reached STOPPED. */
  tasksStopped: number;
  /** Tasks that stopped because an essential container could not be started. */
  tasksFailedToStart: number;
  /** Stopped tasks whose essential container exited with a non-zero code. */
  tasksExitedNonZero: number;
  describeTasksCalls: number;
  listTasksCalls: number;
  stopTaskCalls: number;
}

export type Counters = Omit<LocalEcsStats, 'tasksRunning'>;

const emptyCounters = (): Counters => ({
  runTaskCalls: 0,
  runTaskThrottled: 0,
  runTaskFailures: 0,
  runTaskRejected: 0,
  runTaskReplays: 0,
  injectedErrors: 0,
  hungRequests: 0,
  appliedResponsesLost: 0,
  rateLimited: 0,
  tasksStarted: 0,
  tasksStopped: 0,
  tasksFailedToStart: 0,
  tasksExitedNonZero: 0,
  describeTasksCalls: 0,
  listTasksCalls: 0,
  stopTaskCalls: 0,
});

/** One entry of RunTask's `failures[]`. */
export interface PlacementFailure {
  readonly arn?: string;
  readonly reason: string;
}

/** What a RunTask client token was first used for, and when (the endpoint's clock, ms). */
export interface ClientTokenUse {
  readonly fingerprint: string;
  readonly tasks: LocalTask[];
  readonly failures: PlacementFailure[];
  readonly at: number;
}

export interface RequestContext {
  /** From the request's SigV4 credential scope: it goes into the ARNs the request creates. */
  readonly region: string;
}

/** What the actions share: the account's faults and rate limits, the tasks, the task definitions, the counters. */
export class LocalEcsState {
  counters = emptyCounters();
  /** RunTask client tokens, per cluster (`<cluster>/<token>`), oldest first, with the answer they got. */
  readonly clientTokens = new Map<string, ClientTokenUse>();
  /** Requests read and never answered (injected hangs): ended when the endpoint closes. */
  readonly hung = new Set<ServerResponse>();
  closing = false;
  private buckets: { api: TokenBucket; launches: TokenBucket } | undefined;

  constructor(
    public faults: LocalEcsFaults,
    readonly definitions: TaskDefinitionDirectory,
    readonly runner: TaskRunner,
    readonly logger: EcsLocalLogger,
    readonly random: () => number,
    private readonly clusters: ReadonlySet<string> | undefined,
  ) {
    this.buckets = bucketsFor(faults);
  }

  stats(): LocalEcsStats {
    return { ...this.counters, tasksRunning: this.runner.runningCount() };
  }

  resetStats(): void {
    this.counters = emptyCounters();
  }

  /** The account's token buckets are made anew when the limits change. */
  setFaults(input: unknown): void {
    const next = applyFaults(this.faults, input);
    if (JSON.stringify(next.rateLimits) !== JSON.stringify(this.faults.rateLimits)) this.buckets = bucketsFor(next);
    this.faults = next;
  }

  /** The first use of a client token in the cluster, if ECS still remembers it (`clientTokenTtlMs`); a forgotten one is dropped. */
  clientToken(key: string): ClientTokenUse | undefined {
    const known = this.clientTokens.get(key);
    if (known && Date.now() - known.at >= this.faults.clientTokenTtlMs) {
      this.clientTokens.delete(key);
      return undefined;
    }
    return known;
  }

  /** A RunTask call (`api`) or `count` task launches (`launches`) within the account's rate limits, else a ThrottlingException. */
  takeRate(bucket: 'api' | 'launches', count = 1): void {
    if (!this.buckets || this.buckets[bucket].take(count)) return;
    this.counters.rateLimited++;
    this.counters.runTaskThrottled++;
    throw new EcsApiError('ThrottlingException', 'Rate exceeded');
  }

  chance(rate: number): boolean {
    return rate > 0 && this.random() < rate;
  }

  pick<T>(items: readonly T[]): T | undefined {
    return items[Math.floor(this.random() * items.length)];
  }

  clusterOf(body: Body): string {
    const cluster = parseClusterName(optString(body, 'cluster'));
    if (this.clusters && !this.clusters.has(cluster)) throw new EcsApiError('ClusterNotFoundException', 'Cluster not found.');
    return cluster;
  }

  findTask(ref: string, cluster: string): LocalTask | undefined {
    const parsed = parseTaskReference(ref);
    if (!parsed) return undefined;
    const task = this.runner.get(parsed.taskId);
    if (!task || task.cluster !== cluster) return undefined;
    if (parsed.cluster !== undefined && parsed.cluster !== cluster) return undefined;
    return task;
  }

  /** An error injected for this operation on a share of its calls; `hang` answers nothing, `appliedLost` applies it and answers nothing. */
  injected(action: EcsOperation): 'hang' | 'appliedLost' | EcsApiError | undefined {
    const fault = this.faults.errors[action];
    if (!fault || !this.chance(fault.rate)) return undefined;
    this.counters.injectedErrors++;
    if (action === 'RunTask') this.counters.runTaskCalls++;
    if (fault.type === 'hang' || fault.type === 'appliedLost') return fault.type;
    const { status, message } = INJECTED_ERRORS[fault.type];
    return new EcsApiError(fault.type, message, status);
  }
}

function bucketsFor(faults: LocalEcsFaults): { api: TokenBucket; launches: TokenBucket } | undefined {
  const limits = faults.rateLimits;
  if (!limits) return undefined;
  return {
    api: new TokenBucket(limits.runTaskPerSecond, limits.runTaskBurst),
    launches: new TokenBucket(limits.launchesPerSecond, limits.launchBurst),
  };
}
