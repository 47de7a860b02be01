import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { z } from 'zod';
import { clusterArn, LOCAL_ACCOUNT_ID, parseClusterName, parseTaskReference, taskDefinitionArn } from './arns.js';
import { clientError, EcsApiError, invalidParameter, serializationError } from './errors.js';
import {
  applyFaults,
  ECS_OPERATIONS,
  INJECTED_ERRORS,
  profileFaults,
  seededRandom,
  TokenBucket,
  type EcsOperation,
  type LocalEcsFaults,
  type LocalEcsFaultsInput,
  type LocalEcsProfile,
} from './faults.js';
import { defaultEcsLocalLogger, type EcsLocalLogger } from './logger.js';
import { needsAwsvpc, parseTaskDefinitionReference, TaskDefinitionDirectory, type LocalTaskDefinition, type TaskDefinitionStatus } from './task-definitions.js';
import { TaskRunner, type LocalTask, type Tag, type TaskOverrides } from './task-runner.js';

/**
 * A local endpoint speaking the ECS API (AWS JSON 1.1 on `POST /`) for RunTask, DescribeTasks,
 * ListTasks, StopTask and the task-definition revisions (Register, Deregister, Describe), so the
 * real `@aws-sdk/client-ecs` (pointed at it with `endpoint` or AWS_ENDPOINT_URL_ECS) and the AWS
 * CLI launch one OS process per task on this machine. It fails the way ECS fails (see faults.ts):
 * cold starts, tasks that never start, the account's rate limits, AccessDenied, 5xx, hung calls,
 * and RunTask's validation (an awsvpc task without subnets, a token reused with other parameters).
 *
 * - Any signature and any region are accepted; the region of a request's SigV4 credential scope
 *   goes into the ARNs it creates.
 * - Clusters are created implicitly by naming them, unless `clusters` lists the only ones that
 *   exist (others → ClusterNotFoundException).
 * - Faults are set at start (a profile, `ECS_LOCAL_*`) or at runtime through the admin API under
 *   `/_local/` on the same port.
 */

export const ECS_TARGET_PREFIX = 'AmazonEC2ContainerServiceV20141113.';
const MAX_BODY_BYTES = 1024 * 1024;
const MAX_OVERRIDES_CHARS = 8192;
const MAX_CLIENT_TOKENS = 10_000;

export { DEFAULT_FAILURE_REASONS, type LocalEcsFaults, type LocalEcsFaultsInput, type LocalEcsProfile } from './faults.js';

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

export interface StartLocalEcsOptions {
  /** 0 picks a free port. Default 4010. */
  port?: number;
  host?: string;
  taskDefinitionsDir: string;
  /** cwd of every task process. Default process.cwd(). */
  projectRoot?: string;
  /** Variables added to the endpoint's own environment for every task. */
  env?: Record<string, string>;
  /** Whether tasks inherit the endpoint's process.env (default true). */
  inheritEnv?: boolean;
  /** The faults to start from (default: `default`, a fast and kind endpoint for the walk-through). */
  profile?: LocalEcsProfile;
  /** Every duration of the profile divided by this, rates per second multiplied (tests run Fargate 10× faster). */
  timeScale?: number;
  /** Seeds the random source of delays and faults (tests and reproducible runs). */
  seed?: number;
  /** Applied on top of the profile. */
  faults?: LocalEcsFaultsInput;
  throttleRate?: number;
  failureRate?: number;
  taskStartDelayMs?: number;
  failureReasons?: string[];
  /** Grace between SIGTERM and SIGKILL when a container sets no stopTimeout. Default 30 s (ECS). */
  stopTimeoutMs?: number;
  /** Region used when a request carries no SigV4 credential scope. Default us-east-1. */
  region?: string;
  /** When given, the only clusters that exist; otherwise any valid name is a cluster. */
  clusters?: string[];
  /** When given, each task's output goes to `<dir>/<taskId>.log` instead of the endpoint's log. */
  taskLogDir?: string;
  /** Stopped tasks kept for DescribeTasks/ListTasks. Default 10,000. */
  maxStoppedTasks?: number;
  logger?: EcsLocalLogger;
  /** Random source of the fault injection (tests make it deterministic). */
  random?: () => number;
}

export interface LocalEcs {
  readonly url: string;
  readonly port: number;
  stats(): LocalEcsStats;
  resetStats(): void;
  faults(): LocalEcsFaults;
  setFaults(faults: LocalEcsFaultsInput): void;
  /** The pids of a task's running containers (diagnostics and tests); [] when stopped or unknown. */
  taskPids(taskArnOrId: string): number[];
  /** Stops every running task (SIGTERM, then SIGKILL after the grace) and closes the server. */
  close(): Promise<void>;
  /** SIGKILL to every task at once (a second Ctrl-C). */
  killTasks(): void;
}

const emptyStats = (): Omit<LocalEcsStats, 'tasksRunning'> => ({
  runTaskCalls: 0,
  runTaskThrottled: 0,
  runTaskFailures: 0,
  runTaskRejected: 0,
  runTaskReplays: 0,
  injectedErrors: 0,
  hungRequests: 0,
  rateLimited: 0,
  tasksStarted: 0,
  tasksStopped: 0,
  tasksFailedToStart: 0,
  tasksExitedNonZero: 0,
  describeTasksCalls: 0,
  listTasksCalls: 0,
  stopTaskCalls: 0,
});

// ---- request-body readers: a wrong JSON type is a SerializationException, as on AWS -------------

type Body = Record<string, unknown>;

function optString(body: Body, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw serializationError(`${key}: expected a string`);
  return v;
}

function optInt(body: Body, key: string): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw serializationError(`${key}: expected an integer`);
  return v;
}

function optStringArray(body: Body, key: string): string[] | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x): x is string => typeof x === 'string')) {
    throw serializationError(`${key}: expected a list of strings`);
  }
  return v;
}

function optObject(body: Body, key: string): Body | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw serializationError(`${key}: expected a structure`);
  return v as Body;
}

function maxLength(value: string | undefined, key: string, max: number): void {
  if (value !== undefined && value.length > max) throw invalidParameter(`${key} length must be at most ${max}`);
}

/** JSON with sorted keys: the identity of a RunTask request for clientToken idempotency. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Body)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const keyValueSchema = z.object({ name: z.string(), value: z.string() });
const overridesSchema = z.looseObject({
  containerOverrides: z
    .array(
      z.looseObject({
        name: z.string().min(1),
        command: z.array(z.string()).optional(),
        environment: z.array(keyValueSchema).optional(),
        cpu: z.number().int().optional(),
        memory: z.number().int().optional(),
        memoryReservation: z.number().int().optional(),
      }),
    )
    .optional(),
  cpu: z.string().optional(),
  memory: z.string().optional(),
  taskRoleArn: z.string().optional(),
  executionRoleArn: z.string().optional(),
});
const tagsSchema = z.array(z.object({ key: z.string(), value: z.string().default('') }));

interface TokenEntry {
  cluster: string;
  fingerprint: string;
  tasks: LocalTask[];
}

interface RequestContext {
  region: string;
}

const CREDENTIAL_SCOPE = /Credential=[^/,\s]+\/\d{8}\/([a-z0-9-]+)\//;

export async function startLocalEcs(options: StartLocalEcsOptions): Promise<LocalEcs> {
  const logger = options.logger ?? defaultEcsLocalLogger();
  const random = options.random ?? (options.seed === undefined ? Math.random : seededRandom(options.seed));
  const defaultRegion = options.region ?? 'us-east-1';
  const configuredClusters = options.clusters === undefined ? undefined : new Set(options.clusters.map((c) => parseClusterName(c)));
  let faults = applyFaults(profileFaults(options.profile ?? 'default', options.timeScale ?? 1), {
    ...(options.throttleRate === undefined ? {} : { throttleRate: options.throttleRate }),
    ...(options.failureRate === undefined ? {} : { failureRate: options.failureRate }),
    ...(options.taskStartDelayMs === undefined ? {} : { taskStartDelayMs: options.taskStartDelayMs }),
    ...(options.failureReasons === undefined ? {} : { failureReasons: options.failureReasons }),
  });
  faults = applyFaults(faults, options.faults ?? {});
  // The account's token buckets, made anew when the limits change.
  let buckets = bucketsFor(faults);
  const setFaults = (input: unknown) => {
    const next = applyFaults(faults, input);
    if (JSON.stringify(next.rateLimits) !== JSON.stringify(faults.rateLimits)) buckets = bucketsFor(next);
    faults = next;
  };
  /** Requests read and never answered (injected hangs): ended when the endpoint closes. */
  const hung = new Set<ServerResponse>();
  let counters = emptyStats();
  const clientTokens = new Map<string, TokenEntry>();
  let closing = false;
  let url = '';

  const definitions = new TaskDefinitionDirectory(resolve(options.taskDefinitionsDir), logger);
  await definitions.init();

  const runner = new TaskRunner({
    projectRoot: resolve(options.projectRoot ?? process.cwd()),
    baseEnv: { ...(options.inheritEnv === false ? {} : process.env), ...options.env },
    endpointUrl: () => url,
    stopTimeoutMs: options.stopTimeoutMs ?? 30_000,
    taskLogDir: options.taskLogDir === undefined ? undefined : resolve(options.taskLogDir),
    maxStoppedTasks: options.maxStoppedTasks ?? 10_000,
    logger,
    onTaskStopped: (task) => {
      counters.tasksStopped++;
      if (task.stopCode === 'TaskFailedToStart') counters.tasksFailedToStart++;
      else if (task.stopCode === 'EssentialContainerExited' && task.containers.some((c) => c.def.essential && c.exitCode !== 0)) {
        counters.tasksExitedNonZero++;
      }
    },
  });

  const stats = (): LocalEcsStats => ({ ...counters, tasksRunning: runner.runningCount() });

  function clusterOf(body: Body): string {
    const cluster = parseClusterName(optString(body, 'cluster'));
    if (configuredClusters && !configuredClusters.has(cluster)) {
      throw new EcsApiError('ClusterNotFoundException', 'Cluster not found.');
    }
    return cluster;
  }

  function findTask(ref: string, cluster: string): LocalTask | undefined {
    const parsed = parseTaskReference(ref);
    if (!parsed) return undefined;
    const task = runner.get(parsed.taskId);
    if (!task || task.cluster !== cluster) return undefined;
    if (parsed.cluster !== undefined && parsed.cluster !== cluster) return undefined;
    return task;
  }

  // ---- actions ----------------------------------------------------------------------------------

  async function runTask(body: Body, ctx: RequestContext): Promise<unknown> {
    counters.runTaskCalls++;
    if (buckets && !buckets.api.take()) {
      counters.rateLimited++;
      counters.runTaskThrottled++;
      throw new EcsApiError('ThrottlingException', 'Rate exceeded');
    }
    if (faults.throttleRate > 0 && random() < faults.throttleRate) {
      counters.runTaskThrottled++;
      throw new EcsApiError('ThrottlingException', 'Rate exceeded');
    }
    try {
      return await runTaskValidated(body, ctx);
    } catch (err) {
      if (err instanceof EcsApiError) counters.runTaskRejected++;
      throw err;
    }
  }

  async function runTaskValidated(body: Body, ctx: RequestContext): Promise<unknown> {
    const taskDefinitionRef = optString(body, 'taskDefinition');
    if (taskDefinitionRef === undefined || taskDefinitionRef === '') {
      throw invalidParameter('TaskDefinition can not be blank.');
    }
    const count = optInt(body, 'count') ?? 1;
    if (count < 1 || count > 10) throw invalidParameter('count must be between 1 and 10');
    const clientToken = optString(body, 'clientToken');
    maxLength(clientToken, 'clientToken', 64);
    const startedBy = optString(body, 'startedBy');
    maxLength(startedBy, 'startedBy', 128);
    const group = optString(body, 'group');
    maxLength(group, 'group', 255);
    const launchType = optString(body, 'launchType');
    if (launchType !== undefined && !['EC2', 'FARGATE', 'EXTERNAL', 'MANAGED_INSTANCES'].includes(launchType)) {
      throw invalidParameter(`Invalid launchType: ${launchType}`);
    }
    const strategy = body['capacityProviderStrategy'];
    if (launchType !== undefined && Array.isArray(strategy) && strategy.length > 0) {
      throw invalidParameter('Specifying both a launchType and capacityProviderStrategy is not supported.');
    }
    const capacityProviderName = Array.isArray(strategy)
      ? (strategy as { capacityProvider?: unknown }[]).map((s) => s.capacityProvider).find((p): p is string => typeof p === 'string')
      : undefined;

    const rawOverrides = optObject(body, 'overrides');
    if (rawOverrides !== undefined && JSON.stringify(rawOverrides).length > MAX_OVERRIDES_CHARS) {
      throw invalidParameter(`Container Overrides length must be at most ${MAX_OVERRIDES_CHARS}`);
    }
    let overrides: TaskOverrides | undefined;
    if (rawOverrides !== undefined) {
      const parsed = overridesSchema.safeParse(rawOverrides);
      if (!parsed.success) throw serializationError(`overrides: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
      overrides = parsed.data;
    }

    const rawTags = body['tags'];
    let tags: Tag[] = [];
    if (rawTags !== undefined && rawTags !== null) {
      const parsed = tagsSchema.safeParse(rawTags);
      if (!parsed.success) throw serializationError('tags: expected a list of {key, value}');
      tags = parsed.data;
      if (tags.length > 50) throw invalidParameter('Tags cannot exceed 50');
      for (const t of tags) {
        if (t.key.length < 1 || t.key.length > 128) throw invalidParameter('Tag keys must be between 1 and 128 characters');
        if (t.value.length > 256) throw invalidParameter('Tag values must be at most 256 characters');
      }
    }

    const cluster = clusterOf(body);
    const resolved = await definitions.resolve(taskDefinitionRef);
    if (!resolved) throw clientError('Unable to find task definition.');
    if (resolved.status === 'INACTIVE') throw clientError('TaskDefinition is inactive');
    const definition = resolved.definition;
    const fargate = launchType === 'FARGATE' || (capacityProviderName ?? '').startsWith('FARGATE');
    const subnets = (optObject(optObject(body, 'networkConfiguration') ?? {}, 'awsvpcConfiguration') ?? {})['subnets'];
    if ((fargate || needsAwsvpc(definition)) && !(Array.isArray(subnets) && subnets.length > 0)) {
      throw invalidParameter("Network Configuration must be provided when networkMode 'awsvpc' is specified.");
    }
    for (const o of overrides?.containerOverrides ?? []) {
      if (!definition.containers.some((c) => c.name === o.name)) {
        throw invalidParameter(`Override for container named ${o.name} is not a container in the TaskDefinition.`);
      }
    }
    if (closing) throw new EcsApiError('ServerException', 'The local ECS endpoint is shutting down.', 503);

    // From here on everything is synchronous, so two concurrent calls with one token start one task.
    let fingerprint = '';
    if (clientToken !== undefined) {
      const { clientToken: _ignored, ...rest } = body;
      fingerprint = canonicalJson({ ...rest, cluster, region: ctx.region });
      // Tokens are idempotent per cluster, as on ECS.
      const known = clientTokens.get(`${cluster}/${clientToken}`);
      if (known) {
        if (known.fingerprint !== fingerprint) {
          throw new EcsApiError('ConflictException', 'The specified client token has already been used in a request with different parameters.');
        }
        counters.runTaskReplays++;
        return { tasks: known.tasks.map((t) => t.toApi({ includeTags: true })), failures: [] };
      }
    }

    if (faults.failureRate > 0 && random() < faults.failureRate) {
      counters.runTaskFailures++;
      const failures = Array.from({ length: count }, () => {
        const reason = faults.failureReasons[Math.floor(random() * faults.failureReasons.length)] ?? 'RESOURCE:MEMORY';
        return reason.startsWith('RESOURCE:')
          ? {
              arn: `arn:aws:ecs:${ctx.region}:${LOCAL_ACCOUNT_ID}:container-instance/${cluster}/${randomBytes(16).toString('hex')}`,
              reason,
            }
          : { reason };
      });
      logger.info({ cluster, taskDefinition: taskDefinitionRef, failures: failures.length }, 'RunTask: injected placement failure');
      return { tasks: [], failures };
    }

    if (buckets && !buckets.launches.take(count)) {
      counters.rateLimited++;
      counters.runTaskThrottled++;
      throw new EcsApiError('ThrottlingException', 'Rate exceeded');
    }
    const tasks: LocalTask[] = [];
    for (let i = 0; i < count; i++) {
      const { min, max } = faults.taskStartDelayMs;
      const failsToStart = faults.startFailureRate > 0 && random() < faults.startFailureRate;
      tasks.push(
        runner.launch({
          region: ctx.region,
          cluster,
          definition,
          overrides,
          startedBy,
          group,
          tags,
          launchType: launchType ?? (capacityProviderName === undefined ? 'FARGATE' : undefined),
          capacityProviderName,
          startDelayMs: Math.round(min + random() * (max - min)),
          ...(failsToStart ? { startFailure: faults.startFailureReasons[Math.floor(random() * faults.startFailureReasons.length)]! } : {}),
        }),
      );
    }
    counters.tasksStarted += count;
    if (clientToken !== undefined) {
      clientTokens.set(`${cluster}/${clientToken}`, { cluster, fingerprint, tasks });
      if (clientTokens.size > MAX_CLIENT_TOKENS) {
        const oldest = clientTokens.keys().next();
        if (!oldest.done) clientTokens.delete(oldest.value);
      }
    }
    return { tasks: tasks.map((t) => t.toApi({ includeTags: true })), failures: [] };
  }

  function describeTasks(body: Body): unknown {
    counters.describeTasksCalls++;
    const cluster = clusterOf(body);
    const refs = optStringArray(body, 'tasks');
    if (refs === undefined || refs.length === 0) throw invalidParameter('Tasks cannot be empty.');
    if (refs.length > 100) throw invalidParameter('Tasks cannot contain more than 100 elements.');
    const includeTags = (optStringArray(body, 'include') ?? []).includes('TAGS');
    const tasks: unknown[] = [];
    const failures: { arn: string; reason: string }[] = [];
    for (const ref of refs) {
      const task = findTask(ref, cluster);
      if (task) tasks.push(task.toApi({ includeTags }));
      else failures.push({ arn: ref, reason: 'MISSING' });
    }
    return { tasks, failures };
  }

  function listTasks(body: Body): unknown {
    counters.listTasksCalls++;
    const cluster = clusterOf(body);
    const desiredStatus = optString(body, 'desiredStatus') ?? 'RUNNING';
    if (!['RUNNING', 'PENDING', 'STOPPED'].includes(desiredStatus)) {
      throw invalidParameter(`Invalid desiredStatus: ${desiredStatus}`);
    }
    const maxResults = optInt(body, 'maxResults') ?? 100;
    if (maxResults < 1 || maxResults > 100) throw invalidParameter('maxResults must be between 1 and 100');
    const family = optString(body, 'family');
    const startedBy = optString(body, 'startedBy');
    const serviceName = optString(body, 'serviceName');
    const launchType = optString(body, 'launchType');
    const nextToken = optString(body, 'nextToken');
    let after = 0;
    if (nextToken !== undefined) {
      const decoded = decodeListToken(nextToken);
      if (decoded === undefined) throw invalidParameter('Invalid nextToken.');
      after = decoded;
    }

    const page: LocalTask[] = [];
    let more = false;
    // Tasks with a service never exist here; ECS has no PENDING desired status for RunTask tasks.
    if (serviceName === undefined && desiredStatus !== 'PENDING') {
      for (const task of runner.all()) {
        if (task.seq <= after || task.cluster !== cluster || task.desiredStatus !== desiredStatus) continue;
        if (family !== undefined && task.family !== family) continue;
        if (startedBy !== undefined && task.startedBy !== startedBy) continue;
        if (launchType !== undefined && task.launchType !== launchType) continue;
        if (page.length === maxResults) {
          more = true;
          break;
        }
        page.push(task);
      }
    }
    const last = page[page.length - 1];
    return {
      taskArns: page.map((t) => t.arn),
      ...(more && last ? { nextToken: encodeListToken(last.seq) } : {}),
    };
  }

  function stopTask(body: Body): unknown {
    counters.stopTaskCalls++;
    const cluster = clusterOf(body);
    const ref = optString(body, 'task');
    if (ref === undefined || ref === '') throw invalidParameter('Task can not be blank.');
    const reason = optString(body, 'reason');
    maxLength(reason, 'reason', 1024);
    const task = findTask(ref, cluster);
    if (!task) throw invalidParameter('The referenced task was not found.');
    logger.info({ task: task.id, reason }, 'StopTask');
    runner.stop(task, reason === undefined || reason === '' ? undefined : reason, 'UserInitiated');
    return { task: task.toApi({ includeTags: false }) };
  }

  function taskDefinitionApi(definition: LocalTaskDefinition, status: TaskDefinitionStatus, region: string): Record<string, unknown> {
    return {
      ...definition.raw,
      taskDefinitionArn: taskDefinitionArn(region, definition.family, definition.revision),
      revision: definition.revision,
      status,
      compatibilities: definition.requiresCompatibilities.length > 0 ? definition.requiresCompatibilities : ['EC2'],
    };
  }

  async function registerTaskDefinition(body: Body, ctx: RequestContext): Promise<unknown> {
    let definition: LocalTaskDefinition;
    try {
      definition = await definitions.register(body);
    } catch (err) {
      throw clientError(err instanceof Error ? err.message.replace('Invalid task definition (registered): ', '') : String(err));
    }
    logger.info({ family: definition.family, revision: definition.revision }, 'RegisterTaskDefinition');
    return { taskDefinition: taskDefinitionApi(definition, 'ACTIVE', ctx.region), tags: [] };
  }

  async function deregisterTaskDefinition(body: Body, ctx: RequestContext): Promise<unknown> {
    const ref = optString(body, 'taskDefinition');
    const parsed = ref === undefined ? undefined : parseTaskDefinitionReference(ref);
    if (!parsed || parsed.revision === undefined) throw invalidParameter('TaskDefinition must be a family:revision or a full ARN.');
    const definition = await definitions.deregister(parsed.family, parsed.revision);
    if (!definition) throw clientError('Unable to describe task definition.');
    return { taskDefinition: taskDefinitionApi(definition, 'INACTIVE', ctx.region) };
  }

  async function describeTaskDefinition(body: Body, ctx: RequestContext): Promise<unknown> {
    const ref = optString(body, 'taskDefinition');
    if (ref === undefined || ref === '') throw invalidParameter('TaskDefinition can not be blank.');
    const resolved = await definitions.resolve(ref);
    if (!resolved) throw clientError('Unable to describe task definition.');
    return { taskDefinition: taskDefinitionApi(resolved.definition, resolved.status, ctx.region), tags: [] };
  }

  /** An error injected for this operation on a share of its calls; `hang` answers nothing. */
  function injected(action: EcsOperation): 'hang' | EcsApiError | undefined {
    const fault = faults.errors[action];
    if (!fault || fault.rate <= 0 || random() >= fault.rate) return undefined;
    counters.injectedErrors++;
    if (action === 'RunTask') counters.runTaskCalls++;
    if (fault.type === 'hang') return 'hang';
    const { status, message } = INJECTED_ERRORS[fault.type];
    return new EcsApiError(fault.type, message, status);
  }

  // ---- HTTP -------------------------------------------------------------------------------------

  async function handleAws(req: IncomingMessage, res: ServerResponse, raw: string): Promise<void> {
    const requestId = randomUUID();
    const target = req.headers['x-amz-target'];
    const action =
      typeof target === 'string' && target.startsWith(ECS_TARGET_PREFIX) ? target.slice(ECS_TARGET_PREFIX.length) : undefined;
    const region = CREDENTIAL_SCOPE.exec(req.headers.authorization ?? '')?.[1] ?? defaultRegion;
    const send = (status: number, payload: unknown) => {
      const text = JSON.stringify(payload);
      res.writeHead(status, {
        'content-type': 'application/x-amz-json-1.1',
        'content-length': Buffer.byteLength(text),
        'x-amzn-requestid': requestId,
      });
      res.end(text);
    };
    try {
      let body: Body = {};
      if (raw.trim() !== '') {
        let parsed: unknown;
        try {
          parsed = JSON.parse(raw);
        } catch {
          throw serializationError('The request body is not valid JSON.');
        }
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
          throw serializationError('The request body must be a JSON object.');
        }
        body = parsed as Body;
      }
      const ctx: RequestContext = { region };
      const fault = action !== undefined && (ECS_OPERATIONS as readonly string[]).includes(action) ? injected(action as EcsOperation) : undefined;
      if (fault === 'hang') {
        counters.hungRequests++;
        logger.info({ action, requestId }, 'ECS request: injected hang, never answered');
        hung.add(res);
        res.once('close', () => hung.delete(res));
        return;
      }
      if (fault) throw fault;
      let result: unknown;
      switch (action) {
        case 'RunTask':
          result = await runTask(body, ctx);
          break;
        case 'DescribeTasks':
          result = describeTasks(body);
          break;
        case 'ListTasks':
          result = listTasks(body);
          break;
        case 'StopTask':
          result = stopTask(body);
          break;
        case 'RegisterTaskDefinition':
          result = await registerTaskDefinition(body, ctx);
          break;
        case 'DeregisterTaskDefinition':
          result = await deregisterTaskDefinition(body, ctx);
          break;
        case 'DescribeTaskDefinition':
          result = await describeTaskDefinition(body, ctx);
          break;
        default:
          throw new EcsApiError(
            'UnknownOperationException',
            action === undefined ? 'Missing or unknown X-Amz-Target header.' : `Operation ${action} is not supported by the local ECS endpoint.`,
          );
      }
      logger.debug({ action, requestId }, 'ECS request');
      send(200, result);
    } catch (err) {
      if (err instanceof EcsApiError) {
        logger.debug({ action, requestId, error: err.type, message: err.message }, 'ECS request rejected');
        send(err.statusCode, err.toBody());
      } else {
        logger.error({ action, requestId, err }, 'ECS request failed');
        send(500, { __type: 'ServerException', message: err instanceof Error ? err.message : 'Internal error' });
      }
    }
  }

  function handleAdmin(req: IncomingMessage, res: ServerResponse, path: string, raw: string): void {
    const send = (status: number, payload: unknown) => {
      const text = JSON.stringify(payload);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    const route = `${req.method ?? 'GET'} ${path}`;
    switch (route) {
      case 'GET /_local/stats':
        return send(200, stats());
      case 'POST /_local/reset-stats':
        counters = emptyStats();
        return send(200, stats());
      case 'GET /_local/faults':
        return send(200, faults);
      case 'POST /_local/faults': {
        try {
          const input: unknown = raw.trim() === '' ? {} : JSON.parse(raw);
          setFaults(input);
          logger.info({ faults }, 'faults changed');
          return send(200, faults);
        } catch (err) {
          return send(400, { error: err instanceof Error ? err.message : String(err) });
        }
      }
      case 'GET /_local/health':
        return send(200, { ok: true, families: definitions.families(), tasksRunning: runner.runningCount() });
      default:
        return send(404, {
          error: `No route ${route}`,
          routes: ['GET /_local/stats', 'POST /_local/reset-stats', 'GET /_local/faults', 'POST /_local/faults', 'GET /_local/health'],
        });
    }
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (tooLarge) {
        res.writeHead(413, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ __type: 'SerializationException', message: 'Request body too large.' }));
        return;
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      if (path.startsWith('/_local/')) {
        handleAdmin(req, res, path, raw);
        return;
      }
      if (req.method === 'POST' && path === '/') {
        if (closing) {
          res.writeHead(503, { 'content-type': 'application/x-amz-json-1.1' });
          res.end(JSON.stringify({ __type: 'ServerException', message: 'The local ECS endpoint is shutting down.' }));
          return;
        }
        void handleAws(req, res, raw);
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'The ECS API is POST / (AWS JSON 1.1); the admin API is under /_local/.' }));
    });
    req.on('error', (err) => logger.warn({ err }, 'request stream error'));
  });

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(options.port ?? 4010, host, () => {
      server.off('error', rejectListen);
      resolveListen();
    });
  });
  const port = (server.address() as AddressInfo).port;
  url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info(
    { url, taskDefinitionsDir: definitions.dir, families: definitions.families(), clusterArn: clusterArn(defaultRegion, 'default') },
    'local ECS endpoint listening',
  );

  let closed: Promise<void> | undefined;
  return {
    url,
    port,
    stats,
    resetStats: () => {
      counters = emptyStats();
    },
    faults: () => structuredClone(faults),
    setFaults: (input) => setFaults(input),
    taskPids: (ref) => {
      const parsed = parseTaskReference(ref);
      return parsed ? (runner.get(parsed.taskId)?.pids ?? []) : [];
    },
    killTasks: () => runner.killAllNow(),
    close: () => {
      closed ??= (async () => {
        closing = true;
        for (const res of hung) res.destroy();
        await runner.stopAll('Local ECS endpoint shutting down');
        await new Promise<void>((resolveClose) => {
          server.close(() => resolveClose());
          server.closeAllConnections();
        });
        runner.dispose();
        logger.info({ url }, 'local ECS endpoint closed');
      })();
      return closed;
    },
  };
}

function bucketsFor(faults: LocalEcsFaults): { api: TokenBucket; launches: TokenBucket } | undefined {
  const limits = faults.rateLimits;
  if (!limits) return undefined;
  return { api: new TokenBucket(limits.runTaskPerSecond, limits.runTaskBurst), launches: new TokenBucket(limits.launchesPerSecond, limits.launchBurst) };
}

function encodeListToken(seq: number): string {
  return Buffer.from(JSON.stringify({ v: 1, after: seq })).toString('base64url');
}

function decodeListToken(token: string): number | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (parsed !== null && typeof parsed === 'object' && 'after' in parsed && 'v' in parsed) {
      const after = (parsed as { after: unknown }).after;
      if (typeof after === 'number' && Number.isInteger(after) && after >= 0) return after;
    }
  } catch {
    // fall through
  }
  return undefined;
}
