import { z } from 'zod';

/**
 * How harsh the local ECS endpoint is: what AWS does to a caller that a laptop never would.
 * Every figure can be set at start (`ECS_LOCAL_*`, or a profile) and changed at run time
 * (`POST /_local/faults`). The `fargate` profile is what Fargate documents and what it does on a
 * normal day: cold starts of 15–45 s, the RunTask rate limits of an account and Region.
 */

export const ECS_OPERATIONS = [
  'RunTask',
  'DescribeTasks',
  'ListTasks',
  'StopTask',
  'RegisterTaskDefinition',
  'DeregisterTaskDefinition',
  'DescribeTaskDefinition',
] as const;
export type EcsOperation = (typeof ECS_OPERATIONS)[number];

/**
 * Errors AWS really answers (with their HTTP status); `hang`: the request is read and never
 * answered; `appliedLost`: the request is applied (a RunTask starts its tasks) and its answer is
 * lost (a timeout on the caller's side, a connection reset on the way back).
 */
export const INJECTED_ERRORS = {
  AccessDeniedException: {
    status: 400,
    message: 'User: arn:aws:sts::000000000000:assumed-role/api/task is not authorized to perform: ecs:RunTask on resource',
  },
  ClientException: { status: 400, message: 'Unable to find task definition or cluster.' },
  InvalidParameterException: { status: 400, message: "Network Configuration must be provided when networkMode 'awsvpc' is specified." },
  ServerException: { status: 500, message: 'Service encountered an internal error.' },
  ServiceUnavailableException: { status: 503, message: 'Service is unavailable. Please try again later.' },
  /** The account's API rate for the operation (DescribeTasks and StopTask have their own buckets on ECS). */
  ThrottlingException: { status: 400, message: 'Rate exceeded' },
  hang: { status: 0, message: '' },
  appliedLost: { status: 0, message: '' },
} as const;
export type InjectedError = keyof typeof INJECTED_ERRORS;

/**
 * The `failures[].reason` Fargate answers when it has no capacity for a task (`RESOURCE:MEMORY`,
 * `RESOURCE:CPU` and an instance ARN belong to the EC2 launch type, never to Fargate).
 */
export const DEFAULT_FAILURE_REASONS: readonly string[] = [
  'Capacity is unavailable at this time. Please try again later or in a different availability zone',
];

/** The `stoppedReason` texts of Fargate tasks that never start (image pull, secrets, logs). */
export const DEFAULT_START_FAILURE_REASONS: readonly string[] = [
  'CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 000000000000.dkr.ecr.us-east-1.amazonaws.com/saga:latest: not found',
  'ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): AccessDeniedException: User is not authorized to perform: secretsmanager:GetSecretValue',
  'ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not exist.',
];

export interface DelayRange {
  readonly min: number;
  readonly max: number;
}

export interface RateLimits {
  /** RunTask API calls per second, and the bucket's size (Fargate: 20 and 20). */
  readonly runTaskPerSecond: number;
  readonly runTaskBurst: number;
  /** Tasks launched per second, and the bucket's size (Fargate: 20 and 100; one call may start up to 10). */
  readonly launchesPerSecond: number;
  readonly launchBurst: number;
}

export interface LocalEcsFaults {
  /** 0..1: share of RunTask calls answered 400 ThrottlingException "Rate exceeded" (beside the rate limits). */
  throttleRate: number;
  /** 0..1: share of RunTask calls answered 200 with `tasks: []` and a failure per requested task. */
  failureRate: number;
  failureReasons: string[];
  /**
   * 0..1: share of RunTask calls with `count` > 1 that place only some of their tasks (at least
   * one, not all) and answer a failure for each of the others, as Fargate does when capacity runs out mid-call.
   */
  partialPlacementRate: number;
  /** How long a task stays PROVISIONING before its containers start: uniform in [min, max]. */
  taskStartDelayMs: DelayRange;
  /** 0..1: share of tasks that go PROVISIONING → STOPPED with stopCode TaskFailedToStart. */
  startFailureRate: number;
  startFailureReasons: string[];
  /** An error injected per operation, on a share of its calls. */
  errors: Partial<Record<EcsOperation, { type: InjectedError; rate: number }>>;
  /** Token buckets of the account and Region; null: unlimited. */
  rateLimits: RateLimits | null;
  /**
   * How long RunTask remembers a client token (ECS: 24 hours, per cluster); reused later, the
   * token starts new tasks. Divided by the time scale like every duration of the endpoint.
   */
  clientTokenTtlMs: number;
  /** The capacity providers associated with every cluster (the CDK app's cluster: FARGATE and FARGATE_SPOT). */
  clusterCapacityProviders: string[];
  /**
   * Whether FARGATE_SPOT refuses an ARM64 task definition. Fargate Spot was x86-only until
   * September 2024 (RunTask: "FARGATE_SPOT capacity provider is not supported when using ARM
   * architecture."); it has run Graviton tasks since, so the refusal is off unless asked for.
   */
  refuseSpotOnArm64: boolean;
}

/** ECS keeps a RunTask client token for 24 hours. */
export const CLIENT_TOKEN_TTL_MS = 24 * 60 * 60 * 1000;

export type LocalEcsProfile = 'default' | 'fargate';

/**
 * A profile's faults with every duration divided (and every rate per second multiplied) by
 * `timeScale`, so a test can run Fargate's behaviour ten times faster and still be Fargate-shaped.
 */
export function profileFaults(profile: LocalEcsProfile, timeScale = 1): LocalEcsFaults {
  const base: LocalEcsFaults = {
    throttleRate: 0,
    failureRate: 0,
    failureReasons: [...DEFAULT_FAILURE_REASONS],
    partialPlacementRate: 0,
    taskStartDelayMs: { min: 0, max: 0 },
    startFailureRate: 0,
    startFailureReasons: [...DEFAULT_START_FAILURE_REASONS],
    errors: {},
    rateLimits: null,
    clientTokenTtlMs: Math.round(CLIENT_TOKEN_TTL_MS / timeScale),
    clusterCapacityProviders: ['FARGATE', 'FARGATE_SPOT'],
    refuseSpotOnArm64: false,
  };
  if (profile === 'default') return base;
  return {
    ...base,
    taskStartDelayMs: { min: Math.round(15_000 / timeScale), max: Math.round(45_000 / timeScale) },
    rateLimits: { runTaskPerSecond: 20 * timeScale, runTaskBurst: 20, launchesPerSecond: 20 * timeScale, launchBurst: 100 },
  };
}

const rate = z.number().min(0).max(1);
const ms = z.number().int().min(0).max(600_000);
const delay = z.union([
  ms.transform((v) => ({ min: v, max: v })),
  z.strictObject({ min: ms, max: ms }).refine((r) => r.min <= r.max, 'min must not exceed max'),
]);
const injected = z.strictObject({ type: z.enum(Object.keys(INJECTED_ERRORS) as [InjectedError, ...InjectedError[]]), rate });
const faultsSchema = z.strictObject({
  throttleRate: rate.optional(),
  failureRate: rate.optional(),
  failureReasons: z.array(z.string().min(1)).min(1).optional(),
  partialPlacementRate: rate.optional(),
  taskStartDelayMs: delay.optional(),
  startFailureRate: rate.optional(),
  startFailureReasons: z.array(z.string().min(1)).min(1).optional(),
  errors: z.partialRecord(z.enum(ECS_OPERATIONS), injected.nullable()).optional(),
  rateLimits: z
    .strictObject({
      runTaskPerSecond: z.number().positive(),
      runTaskBurst: z.number().int().min(1),
      launchesPerSecond: z.number().positive(),
      launchBurst: z.number().int().min(1),
    })
    .nullable()
    .optional(),
  clientTokenTtlMs: z.number().int().min(1).max(CLIENT_TOKEN_TTL_MS).optional(),
  clusterCapacityProviders: z.array(z.string().min(1)).optional(),
  refuseSpotOnArm64: z.boolean().optional(),
});

/** What `POST /_local/faults` and `setFaults` accept: any subset; a start delay may be one number. */
export type LocalEcsFaultsInput = z.input<typeof faultsSchema>;

/** Validates a partial change of the faults and applies it (an operation's error set to null is removed). */
export function applyFaults(current: LocalEcsFaults, input: unknown): LocalEcsFaults {
  const parsed = faultsSchema.safeParse(input);
  if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
  const { errors, ...rest } = parsed.data;
  const next: LocalEcsFaults = { ...current, errors: { ...current.errors } };
  for (const [key, value] of Object.entries(rest)) if (value !== undefined) Object.assign(next, { [key]: value });
  for (const [operation, fault] of Object.entries(errors ?? {}) as Array<[EcsOperation, { type: InjectedError; rate: number } | null]>) {
    if (fault === null) delete next.errors[operation];
    else next.errors[operation] = fault;
  }
  return next;
}

/** A seeded generator (mulberry32): a test that names a seed sees the same delays and faults every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A token bucket: `size` tokens, refilled continuously at `perSecond`. */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly perSecond: number,
    private readonly size: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = size;
    this.at = now();
  }

  /** Takes `n` tokens if there are that many; false (and nothing taken) otherwise. */
  take(n = 1): boolean {
    const now = this.now();
    this.tokens = Math.min(this.size, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }
}
