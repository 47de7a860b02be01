/** How the ECS launcher launches (from the configuration): network, task definitions, limits, breaker. */
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
  /** Consecutive permanent start failures of a use case after which its pending deliveries are dead-lettered... */
  readonly startFailuresBeforeDeadLetter: number;
  /** ...once they have gone on for at least this long (ADR 36). */
  readonly startFailingBeforeDeadLetterMs: number;
  /**
   * Per use case, the message types a saga waits on (compensations, replies: routes declared
   * `unblocksSaga`): never dead-lettered for a start failure, they wait for the task, alarmed.
   */
  readonly waitingMessageTypes: ReadonlyMap<string, readonly string[]>;
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

/** A launch decided under the lease's lock: its attempt id is the RunTask clientToken. */
export interface LeaseDecision {
  readonly attemptId: string;
  readonly count: number;
}
