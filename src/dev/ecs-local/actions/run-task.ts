import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { LOCAL_ACCOUNT_ID } from '../arns.js';
import type { LocalEcsState, PlacementFailure, RequestContext } from '../endpoint-state.js';
import { clientError, EcsApiError, invalidParameter, serializationError } from '../errors.js';
import { canonicalJson, maxLength, optInt, optObject, optString, type Body } from '../request-body.js';
import { DEFAULT_FAILURE_REASONS } from '../faults.js';
import { checkCapacityProviders } from './capacity-providers.js';
import { needsAwsvpc, type LocalTaskDefinition } from '../task-definitions.js';
import type { LocalTask, Tag, TaskOverrides } from '../task-runner.js';

const MAX_OVERRIDES_CHARS = 8192;
const MAX_CLIENT_TOKENS = 10_000;

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

/** A RunTask request that passed the checks ECS makes before it looks at the cluster. */
interface RunTaskRequest {
  readonly taskDefinition: string;
  readonly count: number;
  readonly clientToken: string | undefined;
  readonly startedBy: string | undefined;
  readonly group: string | undefined;
  readonly launchType: string | undefined;
  readonly capacityProviders: readonly string[];
  readonly capacityProviderName: string | undefined;
  readonly overrides: TaskOverrides | undefined;
  readonly tags: Tag[];
}

/**
 * RunTask: the account's rate limits and injected throttling first, then ECS's validation, the
 * client token's idempotency, injected placement failures, and finally one task per `count`.
 */
export async function runTask(state: LocalEcsState, body: Body, ctx: RequestContext): Promise<unknown> {
  state.counters.runTaskCalls++;
  state.takeRate('api');
  if (state.chance(state.faults.throttleRate)) {
    state.counters.runTaskThrottled++;
    throw new EcsApiError('ThrottlingException', 'Rate exceeded');
  }
  try {
    return await runValidated(state, body, ctx);
  } catch (err) {
    if (err instanceof EcsApiError) state.counters.runTaskRejected++;
    throw err;
  }
}

async function runValidated(state: LocalEcsState, body: Body, ctx: RequestContext): Promise<unknown> {
  const request = parseRunTask(body);
  const cluster = state.clusterOf(body);
  const definition = await taskDefinitionFor(state, request, body);
  if (state.closing) throw new EcsApiError('ServerException', 'The local ECS endpoint is shutting down.', 503);

  // From here on everything is synchronous, so two concurrent calls with one token start one task.
  const tokenKey = request.clientToken === undefined ? undefined : `${cluster}/${request.clientToken}`;
  const { clientToken: _ignored, ...rest } = body;
  const fingerprint = tokenKey === undefined ? '' : canonicalJson({ ...rest, cluster, region: ctx.region });
  const known = tokenKey === undefined ? undefined : state.clientToken(tokenKey);
  if (known) {
    if (known.fingerprint !== fingerprint) {
      // As ECS does: the ARNs of the tasks that token already started, so a caller can adopt them.
      throw new EcsApiError(
        'ConflictException',
        'The specified client token has already been used in a request with different parameters.',
        400,
        known.tasks.map((t) => t.arn),
      );
    }
    state.counters.runTaskReplays++;
    return { tasks: known.tasks.map((t) => t.toApi({ includeTags: true })), failures: known.failures };
  }
  if (state.chance(state.faults.failureRate))
    return { tasks: [], failures: placementFailures(state, request, cluster, ctx, request.count) };

  // Fargate may run out of capacity part-way through a call: some tasks placed, the others in failures[].
  const placed =
    request.count > 1 && state.chance(state.faults.partialPlacementRate)
      ? 1 + Math.floor(state.random() * (request.count - 1))
      : request.count;
  state.takeRate('launches', placed);
  const tasks = launch(state, request, definition, cluster, ctx, placed);
  const failures = placed < request.count ? placementFailures(state, request, cluster, ctx, request.count - placed) : [];
  if (tokenKey !== undefined) {
    state.clientTokens.set(tokenKey, { fingerprint, tasks, failures, at: Date.now() });
    if (state.clientTokens.size > MAX_CLIENT_TOKENS) {
      const oldest = state.clientTokens.keys().next();
      if (!oldest.done) state.clientTokens.delete(oldest.value);
    }
  }
  return { tasks: tasks.map((t) => t.toApi({ includeTags: true })), failures };
}

function parseRunTask(body: Body): RunTaskRequest {
  const taskDefinition = optString(body, 'taskDefinition');
  if (taskDefinition === undefined || taskDefinition === '') throw invalidParameter('TaskDefinition can not be blank.');
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
  const capacityProviders = Array.isArray(strategy)
    ? (strategy as { capacityProvider?: unknown }[]).map((s) => s.capacityProvider).filter((p): p is string => typeof p === 'string')
    : [];
  return {
    taskDefinition,
    count,
    clientToken,
    startedBy,
    group,
    launchType,
    capacityProviders,
    capacityProviderName: capacityProviders[0],
    overrides: parseOverrides(body),
    tags: parseTags(body),
  };
}

function parseOverrides(body: Body): TaskOverrides | undefined {
  const raw = optObject(body, 'overrides');
  if (raw === undefined) return undefined;
  if (JSON.stringify(raw).length > MAX_OVERRIDES_CHARS)
    throw invalidParameter(`Container Overrides length must be at most ${MAX_OVERRIDES_CHARS}`);
  const parsed = overridesSchema.safeParse(raw);
  if (!parsed.success) throw serializationError(`overrides: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

function parseTags(body: Body): Tag[] {
  const raw = body['tags'];
  if (raw === undefined || raw === null) return [];
  const parsed = tagsSchema.safeParse(raw);
  if (!parsed.success) throw serializationError('tags: expected a list of {key, value}');
  const tags = parsed.data;
  if (tags.length > 50) throw invalidParameter('Tags cannot exceed 50');
  for (const t of tags) {
    if (t.key.length < 1 || t.key.length > 128) throw invalidParameter('Tag keys must be between 1 and 128 characters');
    if (t.value.length > 256) throw invalidParameter('Tag values must be at most 256 characters');
  }
  return tags;
}

/** The revision to run, refused as ECS refuses it: unknown, inactive, awsvpc without subnets, an override for no container. */
async function taskDefinitionFor(state: LocalEcsState, request: RunTaskRequest, body: Body): Promise<LocalTaskDefinition> {
  const resolved = await state.definitions.resolve(request.taskDefinition);
  if (!resolved) throw clientError('Unable to find task definition.');
  if (resolved.status === 'INACTIVE') throw clientError('TaskDefinition is inactive');
  const definition = resolved.definition;
  const fargate = request.launchType === 'FARGATE' || (request.capacityProviderName ?? '').startsWith('FARGATE');
  const subnets = (optObject(optObject(body, 'networkConfiguration') ?? {}, 'awsvpcConfiguration') ?? {})['subnets'];
  if ((fargate || needsAwsvpc(definition)) && !(Array.isArray(subnets) && subnets.length > 0)) {
    throw invalidParameter("Network Configuration must be provided when networkMode 'awsvpc' is specified.");
  }
  checkCapacityProviders(request.capacityProviders, definition, state.faults);
  for (const o of request.overrides?.containerOverrides ?? []) {
    if (!definition.containers.some((c) => c.name === o.name)) {
      throw invalidParameter(`Override for container named ${o.name} is not a container in the TaskDefinition.`);
    }
  }
  return definition;
}

/** `count` failures[] entries with the configured reasons; an EC2 `RESOURCE:*` reason names a container instance, as on EC2. */
function placementFailures(
  state: LocalEcsState,
  request: RunTaskRequest,
  cluster: string,
  ctx: RequestContext,
  count: number,
): PlacementFailure[] {
  state.counters.runTaskFailures++;
  const failures = Array.from({ length: count }, (): PlacementFailure => {
    const reason = state.pick(state.faults.failureReasons) ?? DEFAULT_FAILURE_REASONS[0]!;
    return reason.startsWith('RESOURCE:')
      ? { arn: `arn:aws:ecs:${ctx.region}:${LOCAL_ACCOUNT_ID}:container-instance/${cluster}/${randomBytes(16).toString('hex')}`, reason }
      : { reason };
  });
  state.logger.info(
    { cluster, taskDefinition: request.taskDefinition, requested: request.count, failures: failures.length },
    'RunTask: injected placement failure',
  );
  return failures;
}

function launch(
  state: LocalEcsState,
  request: RunTaskRequest,
  definition: LocalTaskDefinition,
  cluster: string,
  ctx: RequestContext,
  count: number,
): LocalTask[] {
  const tasks: LocalTask[] = [];
  for (let i = 0; i < count; i++) {
    const { min, max } = state.faults.taskStartDelayMs;
    const failsToStart = state.chance(state.faults.startFailureRate);
    tasks.push(
      state.runner.launch({
        region: ctx.region,
        cluster,
        definition,
        overrides: request.overrides,
        startedBy: request.startedBy,
        group: request.group,
        tags: request.tags,
        launchType: request.launchType ?? (request.capacityProviderName === undefined ? 'FARGATE' : undefined),
        capacityProviderName: request.capacityProviderName,
        startDelayMs: Math.round(min + state.random() * (max - min)),
        ...(failsToStart ? { startFailure: state.pick(state.faults.startFailureReasons)! } : {}),
      }),
    );
  }
  state.counters.tasksStarted += count;
  return tasks;
}
