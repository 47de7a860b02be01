import { z } from 'zod';

/**
 * What a task learns about itself on ECS, from the task metadata endpoint v4 that the agent gives
 * every container (`ECS_CONTAINER_METADATA_URI_V4`, Fargate platform 1.4+; the local ECS endpoint
 * serves the same): `GET ${ECS_CONTAINER_METADATA_URI_V4}/task`.
 */
export interface TaskMetadata {
  taskArn: string;
  /** The cluster's ARN on Fargate (its short name on EC2), as the endpoint gives it. */
  cluster: string;
  family: string;
  revision: string;
  /** When the first image pull began and the last one ended: the task's provisioning, before its containers started. */
  pullStartedAt: Date | null;
  pullStoppedAt: Date | null;
  availabilityZone: string | null;
  /** `FARGATE` or `EC2`. */
  launchType: string | null;
}

export const TASK_METADATA_ENV = 'ECS_CONTAINER_METADATA_URI_V4';

export interface ReadTaskMetadataOptions {
  /** Where ECS_CONTAINER_METADATA_URI_V4 is read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** The whole read, retries included (default 2 s). */
  timeoutMs?: number;
  fetchImpl?: typeof fetch;
}

const DEFAULT_TIMEOUT_MS = 2_000;
/** Attempts at most: the agent may refuse connections or answer 5xx for a moment right at container start. */
const MAX_ATTEMPTS = 5;
const FIRST_BACKOFF_MS = 50;

/** Go writes nanoseconds (`2020-10-02T00:43:06.202617438Z`); a Date takes milliseconds. */
const timestamp = z.string().transform((text, ctx) => {
  const date = new Date(text.replace(/(\.\d{3})\d+/, '$1'));
  if (Number.isNaN(date.getTime())) {
    ctx.addIssue({ code: 'custom', message: `not an RFC 3339 timestamp: ${text}` });
    return z.NEVER;
  }
  return date;
});

const taskMetadataSchema = z.looseObject({
  Cluster: z.string().min(1),
  TaskARN: z.string().min(1),
  Family: z.string().min(1),
  Revision: z.string().min(1),
  PullStartedAt: timestamp.optional(),
  PullStoppedAt: timestamp.optional(),
  AvailabilityZone: z.string().optional(),
  LaunchType: z.string().optional(),
});

/** The task metadata endpoint answered something that is not a task's metadata: not worth retrying. */
export class TaskMetadataError extends Error {
  override readonly name = 'TaskMetadataError';
}

/**
 * The running task's identity and timings from the task metadata endpoint v4, or null when not on
 * ECS (ECS_CONTAINER_METADATA_URI_V4 unset). Connection failures and 5xx are retried briefly, within
 * `timeoutMs` for the whole read; throws a TaskMetadataError when the time is up, on a 4xx, or on a
 * body that is not the task's metadata.
 */
export async function readTaskMetadata(options: ReadTaskMetadataOptions = {}): Promise<TaskMetadata | null> {
  const base = (options.env ?? process.env)[TASK_METADATA_ENV];
  if (base === undefined || base === '') return null;
  const url = `${base.replace(/\/+$/, '')}/task`;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const fetchImpl = options.fetchImpl ?? fetch;
  const deadline = Date.now() + timeoutMs;
  const timedOut = (last: string) =>
    new TaskMetadataError(`task metadata endpoint ${url} did not answer within ${timeoutMs} ms (last: ${last})`);
  let last = 'no attempt';
  for (let attempt = 1; ; attempt++) {
    const left = deadline - Date.now();
    if (left <= 0) throw timedOut(last);
    const outcome = await attemptRead(fetchImpl, url, left);
    if (outcome.kind === 'ok') return toTaskMetadata(url, outcome.body);
    if (outcome.kind === 'fatal') throw new TaskMetadataError(outcome.message);
    last = outcome.message;
    if (outcome.kind === 'timeout') throw timedOut(last);
    if (attempt >= MAX_ATTEMPTS) throw new TaskMetadataError(`task metadata endpoint ${url}: ${last} (after ${attempt} attempts)`);
    const pause = Math.min(FIRST_BACKOFF_MS * 2 ** (attempt - 1), deadline - Date.now());
    if (pause <= 0) throw timedOut(last);
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}

type Attempt =
  | { kind: 'ok'; body: string }
  | { kind: 'retry'; message: string }
  | { kind: 'timeout'; message: string }
  | { kind: 'fatal'; message: string };

async function attemptRead(fetchImpl: typeof fetch, url: string, timeoutMs: number): Promise<Attempt> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const res = await fetchImpl(url, { signal, headers: { accept: 'application/json' } });
    const body = await res.text();
    if (res.ok) return { kind: 'ok', body };
    const message = `HTTP ${res.status}: ${body.slice(0, 200)}`;
    return res.status >= 500 ? { kind: 'retry', message } : { kind: 'fatal', message: `task metadata endpoint ${url} answered ${message}` };
  } catch (err) {
    const message = describe(err);
    return signal.aborted ? { kind: 'timeout', message } : { kind: 'retry', message };
  }
}

function toTaskMetadata(url: string, body: string): TaskMetadata {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new TaskMetadataError(`task metadata endpoint ${url} answered a body that is not JSON: ${body.slice(0, 200)}`);
  }
  const parsed = taskMetadataSchema.safeParse(json);
  if (!parsed.success) {
    throw new TaskMetadataError(`task metadata endpoint ${url} answered malformed task metadata: ${z.prettifyError(parsed.error)}`);
  }
  const m = parsed.data;
  return {
    taskArn: m.TaskARN,
    cluster: m.Cluster,
    family: m.Family,
    revision: m.Revision,
    pullStartedAt: m.PullStartedAt ?? null,
    pullStoppedAt: m.PullStoppedAt ?? null,
    availabilityZone: m.AvailabilityZone ?? null,
    launchType: m.LaunchType ?? null,
  };
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // fetch reports "fetch failed"; the reason (ECONNREFUSED...) is its cause.
  const cause = err.cause instanceof Error ? `: ${(err.cause as NodeJS.ErrnoException).code ?? err.cause.message}` : '';
  return `${err.message}${cause}`;
}
