import type { LocalEcsState } from '../endpoint-state.js';
import { invalidParameter } from '../errors.js';
import { maxLength, optInt, optString, optStringArray, type Body } from '../request-body.js';
import type { LocalTask } from '../task-runner.js';

/** DescribeTasks: at most 100 references; unknown ones are `MISSING` failures, not an error. */
export function describeTasks(state: LocalEcsState, body: Body): unknown {
  state.counters.describeTasksCalls++;
  const cluster = state.clusterOf(body);
  const refs = optStringArray(body, 'tasks');
  if (refs === undefined || refs.length === 0) throw invalidParameter('Tasks cannot be empty.');
  if (refs.length > 100) throw invalidParameter('Tasks cannot contain more than 100 elements.');
  const includeTags = (optStringArray(body, 'include') ?? []).includes('TAGS');
  const tasks: unknown[] = [];
  const failures: { arn: string; reason: string }[] = [];
  for (const ref of refs) {
    const task = state.findTask(ref, cluster);
    if (task) tasks.push(task.toApi({ includeTags }));
    else failures.push({ arn: ref, reason: 'MISSING' });
  }
  return { tasks, failures };
}

interface ListFilter {
  readonly cluster: string;
  readonly desiredStatus: string;
  readonly family: string | undefined;
  readonly startedBy: string | undefined;
  readonly launchType: string | undefined;
}

/** ListTasks: the cluster's tasks of one desired status, filtered, in pages of `maxResults` with an opaque nextToken. */
export function listTasks(state: LocalEcsState, body: Body): unknown {
  state.counters.listTasksCalls++;
  const cluster = state.clusterOf(body);
  const desiredStatus = optString(body, 'desiredStatus') ?? 'RUNNING';
  if (!['RUNNING', 'PENDING', 'STOPPED'].includes(desiredStatus)) throw invalidParameter(`Invalid desiredStatus: ${desiredStatus}`);
  const maxResults = optInt(body, 'maxResults') ?? 100;
  if (maxResults < 1 || maxResults > 100) throw invalidParameter('maxResults must be between 1 and 100');
  const filter: ListFilter = {
    cluster,
    desiredStatus,
    family: optString(body, 'family'),
    startedBy: optString(body, 'startedBy'),
    launchType: optString(body, 'launchType'),
  };
  const serviceName = optString(body, 'serviceName');
  const nextToken = optString(body, 'nextToken');
  const after = nextToken === undefined ? 0 : decodeListToken(nextToken);
  if (after === undefined) throw invalidParameter('Invalid nextToken.');

  // Tasks with a service never exist here; ECS has no PENDING desired status for RunTask tasks.
  const matching =
    serviceName === undefined && desiredStatus !== 'PENDING'
      ? [...state.runner.all()].filter((t) => t.seq > after && matches(t, filter))
      : [];
  const page = matching.slice(0, maxResults);
  const last = page[page.length - 1];
  return {
    taskArns: page.map((t) => t.arn),
    ...(matching.length > maxResults && last ? { nextToken: encodeListToken(last.seq) } : {}),
  };
}

function matches(task: LocalTask, filter: ListFilter): boolean {
  return (
    task.cluster === filter.cluster &&
    task.desiredStatus === filter.desiredStatus &&
    (filter.family === undefined || task.family === filter.family) &&
    (filter.startedBy === undefined || task.startedBy === filter.startedBy) &&
    (filter.launchType === undefined || task.launchType === filter.launchType)
  );
}

/** StopTask: SIGTERM to the task's containers, SIGKILL after their stop timeout. */
export function stopTask(state: LocalEcsState, body: Body): unknown {
  state.counters.stopTaskCalls++;
  const cluster = state.clusterOf(body);
  const ref = optString(body, 'task');
  if (ref === undefined || ref === '') throw invalidParameter('Task can not be blank.');
  const reason = optString(body, 'reason');
  maxLength(reason, 'reason', 1024);
  const task = state.findTask(ref, cluster);
  if (!task) throw invalidParameter('The referenced task was not found.');
  state.logger.info({ task: task.id, reason }, 'StopTask');
  state.runner.stop(task, reason === undefined || reason === '' ? undefined : reason, 'UserInitiated');
  return { task: task.toApi({ includeTags: false }) };
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
