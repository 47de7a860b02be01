// Over 300 lines on purpose: the local endpoint's whole ECS API surface (RunTask, DescribeTasks, ListTasks, StopTask and
// their AWS error shapes) in one dispatch, so a reader compares it with the API reference action by action.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { describeTaskDefinition, deregisterTaskDefinition, registerTaskDefinition } from './actions/task-definitions.js';
import { describeTasks, listTasks, stopTask } from './actions/tasks.js';
import { runTask } from './actions/run-task.js';
import { clusterArn, parseClusterName, parseTaskReference } from './arns.js';
import { LocalEcsState, type LocalEcsStats, type RequestContext } from './endpoint-state.js';
import { EcsApiError } from './errors.js';
import {
  applyFaults,
  ECS_OPERATIONS,
  profileFaults,
  seededRandom,
  type EcsOperation,
  type LocalEcsFaults,
  type LocalEcsFaultsInput,
  type LocalEcsProfile,
} from './faults.js';
import { defaultEcsLocalLogger, type EcsLocalLogger } from './logger.js';
import { parseBody, type Body } from './request-body.js';
import { TaskDefinitionDirectory } from './task-definitions.js';
import { serveTaskMetadata } from './task-metadata-endpoint.js';
import { TaskRunner } from './task-runner.js';

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
 * - Every task's containers get the task metadata endpoint v4 (`ECS_CONTAINER_METADATA_URI_V4`),
 *   served under `/v4/` on the same port (task-metadata-endpoint.ts), untouched by the faults.
 */

export const ECS_TARGET_PREFIX = 'AmazonEC2ContainerServiceV20141113.';
const MAX_BODY_BYTES = 1024 * 1024;
const CREDENTIAL_SCOPE = /Credential=[^/,\s]+\/\d{8}\/([a-z0-9-]+)\//;

export { DEFAULT_FAILURE_REASONS, type LocalEcsFaults, type LocalEcsFaultsInput, type LocalEcsProfile } from './faults.js';
export type { LocalEcsStats } from './endpoint-state.js';

export interface StartLocalEcsOptions {
  /** 0 picks a free port. Default 4010. */
  port?: number;
  host?: string;
  taskDefinitionsDir: string;
  /** cwd of every task process. Default process.cwd(). */
  projectRoot?: string;
  /** Variables added to the endpoint's own environment for every task. */
  env?: Record<string, string>;
  /** The binary a container's `node` command runs (tests: the image's Node). Default this process's. */
  nodeBinary?: string;
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
  /**
   * Fargate takes Spot capacity back: the named task, or every running FARGATE_SPOT task, gets its
   * termination notice (SIGTERM, SIGKILL after its stop timeout; stopCode SpotInterruption). The ARNs interrupted.
   */
  interruptSpot(taskArnOrId?: string): string[];
  /** The pids of a task's running containers (diagnostics and tests); [] when stopped or unknown. */
  taskPids(taskArnOrId: string): number[];
  /** Stops every running task (SIGTERM, then SIGKILL after the grace) and closes the server. */
  close(): Promise<void>;
  /** SIGKILL to every task at once (a second Ctrl-C). */
  killTasks(): void;
}

type ActionHandler = (state: LocalEcsState, body: Body, ctx: RequestContext) => unknown;

/** One handler per ECS API action this endpoint speaks. */
const ACTIONS: Readonly<Record<string, ActionHandler>> = {
  RunTask: runTask,
  DescribeTasks: describeTasks,
  ListTasks: listTasks,
  StopTask: stopTask,
  RegisterTaskDefinition: registerTaskDefinition,
  DeregisterTaskDefinition: deregisterTaskDefinition,
  DescribeTaskDefinition: describeTaskDefinition,
};

export async function startLocalEcs(options: StartLocalEcsOptions): Promise<LocalEcs> {
  const logger = options.logger ?? defaultEcsLocalLogger();
  const endpoint = { url: '' };
  const definitions = new TaskDefinitionDirectory(resolve(options.taskDefinitionsDir), logger);
  await definitions.init();
  const state: LocalEcsState = new LocalEcsState(
    initialFaults(options),
    definitions,
    taskRunner(
      options,
      logger,
      () => endpoint.url,
      () => state,
    ),
    logger,
    options.random ?? (options.seed === undefined ? Math.random : seededRandom(options.seed)),
    options.clusters === undefined ? undefined : new Set(options.clusters.map((c) => parseClusterName(c))),
  );
  const defaultRegion = options.region ?? 'us-east-1';
  const server = createServer((req, res) => route(state, defaultRegion, req, res));
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(options.port ?? 4010, host, () => {
      server.off('error', rejectListen);
      resolveListen();
    });
  });
  const port = (server.address() as AddressInfo).port;
  endpoint.url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info(
    {
      url: endpoint.url,
      taskDefinitionsDir: definitions.dir,
      families: definitions.families(),
      clusterArn: clusterArn(defaultRegion, 'default'),
    },
    'local ECS endpoint listening',
  );
  return handle(state, server, endpoint.url, port);
}

function initialFaults(options: StartLocalEcsOptions): LocalEcsFaults {
  const faults = applyFaults(profileFaults(options.profile ?? 'default', options.timeScale ?? 1), {
    ...(options.throttleRate === undefined ? {} : { throttleRate: options.throttleRate }),
    ...(options.failureRate === undefined ? {} : { failureRate: options.failureRate }),
    ...(options.taskStartDelayMs === undefined ? {} : { taskStartDelayMs: options.taskStartDelayMs }),
    ...(options.failureReasons === undefined ? {} : { failureReasons: options.failureReasons }),
  });
  return applyFaults(faults, options.faults ?? {});
}

function taskRunner(options: StartLocalEcsOptions, logger: EcsLocalLogger, url: () => string, state: () => LocalEcsState): TaskRunner {
  return new TaskRunner({
    projectRoot: resolve(options.projectRoot ?? process.cwd()),
    nodeBinary: options.nodeBinary ?? process.execPath,
    baseEnv: { ...(options.inheritEnv === false ? {} : process.env), ...options.env },
    endpointUrl: url,
    stopTimeoutMs: options.stopTimeoutMs ?? 30_000,
    taskLogDir: options.taskLogDir === undefined ? undefined : resolve(options.taskLogDir),
    maxStoppedTasks: options.maxStoppedTasks ?? 10_000,
    logger,
    onTaskStopped: (task) => {
      const counters = state().counters;
      counters.tasksStopped++;
      if (task.stopCode === 'TaskFailedToStart') counters.tasksFailedToStart++;
      else if (task.stopCode === 'EssentialContainerExited' && task.containers.some((c) => c.def.essential && c.exitCode !== 0)) {
        counters.tasksExitedNonZero++;
      }
    },
  });
}

function handle(state: LocalEcsState, server: Server, url: string, port: number): LocalEcs {
  let closed: Promise<void> | undefined;
  return {
    url,
    port,
    stats: () => state.stats(),
    resetStats: () => state.resetStats(),
    faults: () => structuredClone(state.faults),
    setFaults: (input) => state.setFaults(input),
    taskPids: (ref) => {
      const parsed = parseTaskReference(ref);
      return parsed ? (state.runner.get(parsed.taskId)?.pids ?? []) : [];
    },
    killTasks: () => state.runner.killAllNow(),
    interruptSpot: (ref) => interruptSpot(state, ref),
    close: () => {
      closed ??= (async () => {
        state.closing = true;
        for (const res of state.hung) res.destroy();
        await state.runner.stopAll('Local ECS endpoint shutting down');
        await new Promise<void>((resolveClose) => {
          server.close(() => resolveClose());
          server.closeAllConnections();
        });
        state.runner.dispose();
        state.logger.info({ url }, 'local ECS endpoint closed');
      })();
      return closed;
    },
  };
}

// ---- HTTP -------------------------------------------------------------------------------------

function route(state: LocalEcsState, defaultRegion: string, req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  });
  req.on('end', () => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (size > MAX_BODY_BYTES)
      return sendJson(res, 413, { __type: 'SerializationException', message: 'Request body too large.' }, AWS_JSON);
    const raw = Buffer.concat(chunks).toString('utf8');
    if (path.startsWith('/_local/')) return handleAdmin(state, req, res, path, raw);
    if (path.startsWith('/v4/')) return serveTaskMetadata(state.runner, req.method ?? 'GET', path, res);
    if (req.method === 'POST' && path === '/') {
      if (state.closing)
        return sendJson(res, 503, { __type: 'ServerException', message: 'The local ECS endpoint is shutting down.' }, AWS_JSON);
      void handleAws(state, defaultRegion, req, res, raw);
      return;
    }
    sendJson(res, 404, {
      error: 'The ECS API is POST / (AWS JSON 1.1); the admin API is under /_local/; task metadata (v4) under /v4/.',
    });
  });
  req.on('error', (err) => state.logger.warn({ err }, 'request stream error'));
}

const AWS_JSON = 'application/x-amz-json-1.1';

function sendJson(
  res: ServerResponse,
  status: number,
  payload: unknown,
  contentType = 'application/json',
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function handleAws(
  state: LocalEcsState,
  defaultRegion: string,
  req: IncomingMessage,
  res: ServerResponse,
  raw: string,
): Promise<void> {
  const requestId = randomUUID();
  const target = req.headers['x-amz-target'];
  const action = typeof target === 'string' && target.startsWith(ECS_TARGET_PREFIX) ? target.slice(ECS_TARGET_PREFIX.length) : undefined;
  const ctx: RequestContext = { region: CREDENTIAL_SCOPE.exec(req.headers.authorization ?? '')?.[1] ?? defaultRegion };
  const send = (status: number, payload: unknown) => sendJson(res, status, payload, AWS_JSON, { 'x-amzn-requestid': requestId });
  try {
    const body = parseBody(raw);
    const fault =
      action !== undefined && (ECS_OPERATIONS as readonly string[]).includes(action) ? state.injected(action as EcsOperation) : undefined;
    if (fault === 'hang') {
      state.counters.hungRequests++;
      state.logger.info({ action, requestId }, 'ECS request: injected hang, never answered');
      state.hung.add(res);
      res.once('close', () => state.hung.delete(res));
      return;
    }
    if (fault instanceof EcsApiError) throw fault;
    const handler = action === undefined ? undefined : ACTIONS[action];
    if (!handler) {
      const message =
        action === undefined
          ? 'Missing or unknown X-Amz-Target header.'
          : `Operation ${action} is not supported by the local ECS endpoint.`;
      throw new EcsApiError('UnknownOperationException', message);
    }
    const result = await handler(state, body, ctx);
    if (fault === 'appliedLost') {
      // Applied, and the answer lost on its way back: the caller times out (or sees a reset) and cannot tell.
      state.counters.appliedResponsesLost++;
      state.logger.info({ action, requestId }, 'ECS request: applied, answer lost');
      state.hung.add(res);
      res.once('close', () => state.hung.delete(res));
      return;
    }
    state.logger.debug({ action, requestId }, 'ECS request');
    send(200, result);
  } catch (err) {
    if (err instanceof EcsApiError) {
      state.logger.debug({ action, requestId, error: err.type, message: err.message }, 'ECS request rejected');
      send(err.statusCode, err.toBody());
    } else {
      state.logger.error({ action, requestId, err }, 'ECS request failed');
      send(500, { __type: 'ServerException', message: err instanceof Error ? err.message : 'Internal error' });
    }
  }
}

function interruptSpot(state: LocalEcsState, ref: string | undefined): string[] {
  const parsed = ref === undefined ? undefined : parseTaskReference(ref);
  const candidates = ref === undefined ? [...state.runner.all()] : [parsed && state.runner.get(parsed.taskId)];
  return candidates.filter((t): t is NonNullable<typeof t> => t !== undefined && state.runner.interruptSpot(t)).map((t) => t.arn);
}

const ADMIN_ROUTES = [
  'POST /_local/spot-interruptions',
  'GET /_local/stats',
  'POST /_local/reset-stats',
  'GET /_local/faults',
  'POST /_local/faults',
  'GET /_local/health',
];

function handleAdmin(state: LocalEcsState, req: IncomingMessage, res: ServerResponse, path: string, raw: string): void {
  const send = (status: number, payload: unknown) => sendJson(res, status, payload);
  const route = `${req.method ?? 'GET'} ${path}`;
  switch (route) {
    case 'GET /_local/stats':
      return send(200, state.stats());
    case 'POST /_local/reset-stats':
      state.resetStats();
      return send(200, state.stats());
    case 'GET /_local/faults':
      return send(200, state.faults);
    case 'POST /_local/faults':
      try {
        state.setFaults(raw.trim() === '' ? {} : JSON.parse(raw));
        state.logger.info({ faults: state.faults }, 'faults changed');
        return send(200, state.faults);
      } catch (err) {
        return send(400, { error: err instanceof Error ? err.message : String(err) });
      }
    case 'POST /_local/spot-interruptions':
      try {
        const body: unknown = raw.trim() === '' ? {} : JSON.parse(raw);
        const task = typeof body === 'object' && body !== null && 'task' in body ? body.task : undefined;
        if (task !== undefined && typeof task !== 'string') return send(400, { error: 'task: a task ARN or id' });
        return send(200, { interrupted: interruptSpot(state, task) });
      } catch (err) {
        return send(400, { error: err instanceof Error ? err.message : String(err) });
      }
    case 'GET /_local/health':
      return send(200, { ok: true, families: state.definitions.families(), tasksRunning: state.runner.runningCount() });
    default:
      return send(404, { error: `No route ${route}`, routes: ADMIN_ROUTES });
  }
}
