import { taskDefinitionArn } from '../arns.js';
import type { LocalEcsState, RequestContext } from '../endpoint-state.js';
import { clientError, invalidParameter } from '../errors.js';
import { optString, type Body } from '../request-body.js';
import { parseTaskDefinitionReference, type LocalTaskDefinition, type TaskDefinitionStatus } from '../task-definitions.js';

function taskDefinitionApi(definition: LocalTaskDefinition, status: TaskDefinitionStatus, region: string): Record<string, unknown> {
  return {
    ...definition.raw,
    taskDefinitionArn: taskDefinitionArn(region, definition.family, definition.revision),
    revision: definition.revision,
    status,
    compatibilities: definition.requiresCompatibilities.length > 0 ? definition.requiresCompatibilities : ['EC2'],
  };
}

/** RegisterTaskDefinition: the family's next revision, written to the task-definitions directory. */
export async function registerTaskDefinition(state: LocalEcsState, body: Body, ctx: RequestContext): Promise<unknown> {
  let definition: LocalTaskDefinition;
  try {
    definition = await state.definitions.register(body);
  } catch (err) {
    throw clientError(err instanceof Error ? err.message.replace('Invalid task definition (registered): ', '') : String(err));
  }
  state.logger.info({ family: definition.family, revision: definition.revision }, 'RegisterTaskDefinition');
  return { taskDefinition: taskDefinitionApi(definition, 'ACTIVE', ctx.region), tags: [] };
}

/** DeregisterTaskDefinition: one revision (family:revision or its ARN) becomes INACTIVE; RunTask then refuses it. */
export async function deregisterTaskDefinition(state: LocalEcsState, body: Body, ctx: RequestContext): Promise<unknown> {
  const ref = optString(body, 'taskDefinition');
  const parsed = ref === undefined ? undefined : parseTaskDefinitionReference(ref);
  if (!parsed || parsed.revision === undefined) throw invalidParameter('TaskDefinition must be a family:revision or a full ARN.');
  const definition = await state.definitions.deregister(parsed.family, parsed.revision);
  if (!definition) throw clientError('Unable to describe task definition.');
  return { taskDefinition: taskDefinitionApi(definition, 'INACTIVE', ctx.region) };
}

/** DescribeTaskDefinition: a family (its latest ACTIVE revision), family:revision or an ARN. */
export async function describeTaskDefinition(state: LocalEcsState, body: Body, ctx: RequestContext): Promise<unknown> {
  const ref = optString(body, 'taskDefinition');
  if (ref === undefined || ref === '') throw invalidParameter('TaskDefinition can not be blank.');
  const resolved = await state.definitions.resolve(ref);
  if (!resolved) throw clientError('Unable to describe task definition.');
  return { taskDefinition: taskDefinitionApi(resolved.definition, resolved.status, ctx.region), tags: [] };
}
