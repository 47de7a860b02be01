import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { clusterArn, containerArn } from './arns.js';
import type { ContainerRun, LocalTask, TaskRunner } from './task-runner.js';

/**
 * The task metadata endpoint v4 as Fargate (platform 1.4+) serves it to every container: the
 * container's `ECS_CONTAINER_METADATA_URI_V4` is `<endpoint>/v4/<DockerId>`, and
 *
 * - `GET ${ECS_CONTAINER_METADATA_URI_V4}` answers the container's metadata,
 * - `GET ${ECS_CONTAINER_METADATA_URI_V4}/task` the task's, with every container of the task,
 *
 * in the shapes of "Amazon ECS task metadata v4 JSON response for tasks on Fargate" (field names,
 * Fargate's cluster ARN in `Cluster`, vCPUs in the task's `Limits.CPU`, `<task id>-<n>` DockerIds,
 * Go's RFC 3339 timestamps, `ClockDrift` and `EphemeralStorageMetrics`) and statuses the ECS agent
 * reports (NONE → CREATED → RUNNING → STOPPED for the task). An unknown id is a 404 whose body is
 * the agent's error message as a JSON string. Not served: the `/stats` paths and `taskWithTags`.
 *
 * What a local process cannot have: the image digest (`ImageID` is a digest of the image's name),
 * the network (`127.0.0.1`), the disk usage (`Utilized` is 0); the clock is the endpoint's own, so
 * `ClockDrift` has no error bound (0, which the agent omits).
 */

/** The Availability Zone a local task is said to run in: the Region's first. */
const zoneOf = (region: string) => `${region}a`;

/** Fargate's default ephemeral storage (20 GiB) as its metadata reports it, in MiB. */
const DEFAULT_RESERVED_MIB = 20_496;

/**
 * Go's `time.Time` in JSON (RFC 3339 with the fraction's trailing zeros dropped), as the agent writes it.
 * JavaScript dates stop at the millisecond.
 */
export const goTime = (d: Date): string => d.toISOString().replace(/\.?0+Z$/, 'Z');

const optionalTime = (d: Date | undefined) => (d === undefined ? undefined : goTime(d));

/** Answers a request under /v4/ (any path of this endpoint that starts so). */
export function serveTaskMetadata(runner: TaskRunner, method: string, path: string, res: ServerResponse): void {
  const match = /^\/v4\/([^/]+)(\/task)?$/.exec(path);
  if (!match) return send(res, 404, '404 page not found\n', 'text/plain; charset=utf-8');
  if (method !== 'GET') return send(res, 405, '', 'text/plain; charset=utf-8');
  const id = match[1] ?? '';
  const found = lookup(runner, id);
  if (match[2] === undefined) {
    if (!found) {
      const reason = `unable to get container ID from request: unable to get docker ID from v3 endpoint ID: ${id}`;
      return sendJson(res, 404, `V4 container metadata handler: ${reason}`);
    }
    return sendJson(res, 200, containerMetadata(found.task, found.container));
  }
  if (!found) {
    const reason = `unable to get task arn from request: unable to get task Arn from v3 endpoint ID: ${id}`;
    return sendJson(res, 404, `V4 task metadata handler: ${reason}`);
  }
  return sendJson(res, 200, taskMetadata(found.task));
}

function lookup(runner: TaskRunner, dockerId: string): { task: LocalTask; container: ContainerRun } | undefined {
  const task = runner.get(dockerId.split('-')[0] ?? '');
  const container = task?.containers.find((c) => c.dockerId === dockerId);
  return task && container ? { task, container } : undefined;
}

/** The task's metadata (`${ECS_CONTAINER_METADATA_URI_V4}/task`). */
export function taskMetadata(task: LocalTask): Record<string, unknown> {
  const { region, definition, overrides } = task.params;
  const fargate = launchType(task) === 'FARGATE';
  const ephemeral = rawNumber(definition.raw['ephemeralStorage'], 'sizeInGiB');
  return {
    Cluster: clusterArn(region, task.cluster),
    TaskARN: task.arn,
    Family: definition.family,
    Revision: String(definition.revision),
    DesiredStatus: task.desiredStatus,
    KnownStatus: taskKnownStatus(task),
    Limits: taskLimits(overrides?.cpu ?? definition.cpu, overrides?.memory ?? definition.memory),
    PullStartedAt: goTime(task.pullStartedAt),
    PullStoppedAt: optionalTime(task.pullStoppedAt),
    ExecutionStoppedAt: optionalTime(task.executionStoppedAt),
    AvailabilityZone: zoneOf(region),
    Containers: task.containers.map((c) => containerMetadata(task, c)),
    LaunchType: launchType(task),
    ...(fargate
      ? {
          ClockDrift: {
            ReferenceTimestamp: goTime(new Date(Math.floor(Date.now() / 1000) * 1000)),
            ClockSynchronizationStatus: 'SYNCHRONIZED',
          },
          EphemeralStorageMetrics: {
            Utilized: 0,
            Reserved: ephemeral === undefined ? DEFAULT_RESERVED_MIB : ephemeral * 1024 + (DEFAULT_RESERVED_MIB - 20 * 1024),
          },
        }
      : {}),
  };
}

/** One container's metadata (`${ECS_CONTAINER_METADATA_URI_V4}`). */
export function containerMetadata(task: LocalTask, c: ContainerRun): Record<string, unknown> {
  const { region, definition } = task.params;
  const raw = rawContainer(task, c);
  const cpu = rawNumber(raw, 'cpu');
  const memory = rawNumber(raw, 'memory');
  const cluster = clusterArn(region, task.cluster);
  return {
    DockerId: c.dockerId,
    Name: c.def.name,
    DockerName: c.def.name,
    Image: c.def.image,
    ImageID: `sha256:${createHash('sha256').update(c.def.image).digest('hex')}`,
    Labels: {
      'com.amazonaws.ecs.cluster': cluster,
      'com.amazonaws.ecs.container-name': c.def.name,
      'com.amazonaws.ecs.task-arn': task.arn,
      'com.amazonaws.ecs.task-definition-family': definition.family,
      'com.amazonaws.ecs.task-definition-version': String(definition.revision),
    },
    DesiredStatus: task.desiredStatus === 'STOPPED' ? 'STOPPED' : 'RUNNING',
    KnownStatus: containerKnownStatus(task, c),
    ExitCode: c.exitCode,
    // Without `cpu`, Docker's minimum CPU shares (2), as Fargate reports such a container.
    Limits: { CPU: cpu ?? 2, ...(memory === undefined ? {} : { Memory: memory }) },
    CreatedAt: optionalTime(c.createdAt),
    StartedAt: optionalTime(c.startedAt),
    FinishedAt: optionalTime(c.finishedAt),
    Type: 'NORMAL',
    Networks: [{ NetworkMode: definition.networkMode ?? 'awsvpc', IPv4Addresses: ['127.0.0.1'] }],
    ContainerARN: containerArn(region, task.cluster, task.id, c.id),
  };
}

/** The agent's task status: NONE until the images are pulled, CREATED, RUNNING (until every container stopped), STOPPED. */
function taskKnownStatus(task: LocalTask): string {
  switch (task.lastStatus) {
    case 'STOPPED':
      return 'STOPPED';
    case 'PROVISIONING':
      return task.pullStoppedAt === undefined ? 'NONE' : 'CREATED';
    default:
      if (task.startedAt !== undefined) return 'RUNNING';
      return task.pullStoppedAt === undefined ? 'NONE' : 'CREATED';
  }
}

function containerKnownStatus(task: LocalTask, c: ContainerRun): string {
  if (c.lastStatus === 'STOPPED') return 'STOPPED';
  if (c.lastStatus === 'RUNNING') return 'RUNNING';
  if (c.createdAt !== undefined) return 'CREATED';
  return task.pullStoppedAt === undefined ? 'NONE' : 'PULLED';
}

/** ECS' launch type of the task: its `launchType`, else FARGATE (capacity providers FARGATE and FARGATE_SPOT, or none). */
function launchType(task: LocalTask): string {
  return task.params.launchType ?? 'FARGATE';
}

/** The task-level limits as Fargate reports them: CPU in vCPUs, memory in MiB; omitted when neither is set. */
function taskLimits(cpu: string | undefined, memory: string | undefined): Record<string, number> | undefined {
  const vcpus = parseSize(cpu, /^([\d.]+)\s*vcpu$/i, 1 / 1024);
  const mib = parseSize(memory, /^([\d.]+)\s*gb$/i, 1, 1024);
  if (vcpus === undefined && mib === undefined) return undefined;
  return { ...(vcpus === undefined ? {} : { CPU: vcpus }), ...(mib === undefined ? {} : { Memory: mib }) };
}

/** A task size as ECS takes it: a plain number (CPU units, MiB) times `plain`, or a unit form (`1 vCPU`, `2 GB`) times `unit`. */
function parseSize(value: string | undefined, unitForm: RegExp, plain: number, unit = 1): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * plain;
  const m = unitForm.exec(trimmed);
  return m ? Number(m[1]) * unit : undefined;
}

function rawContainer(task: LocalTask, c: ContainerRun): unknown {
  const defs = task.params.definition.raw['containerDefinitions'];
  return Array.isArray(defs) ? defs.find((d: unknown) => rawString(d, 'name') === c.def.name) : undefined;
}

function rawNumber(obj: unknown, key: string): number | undefined {
  const v = typeof obj === 'object' && obj !== null ? (obj as Record<string, unknown>)[key] : undefined;
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function rawString(obj: unknown, key: string): string | undefined {
  const v = typeof obj === 'object' && obj !== null ? (obj as Record<string, unknown>)[key] : undefined;
  return typeof v === 'string' ? v : undefined;
}

function sendJson(res: ServerResponse, status: number, payload: unknown): void {
  send(res, status, JSON.stringify(payload), 'application/json');
}

function send(res: ServerResponse, status: number, text: string, contentType: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
