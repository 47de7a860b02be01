import { existsSync } from 'node:fs';
import { ECSClient } from '@aws-sdk/client-ecs';
import { startLocalEcs, type LocalEcs, type StartLocalEcsOptions } from '../../src/dev/ecs-local/index.js';
import { testComposition } from './composition.js';
import { cloneDatabasesApart, cloneRunDatabase } from './databases.js';
import { startTestSystem, type TestSystem } from './system.js';

/**
 * The local ECS endpoint for tests, running what the task definitions name (dist/tasks/, which
 * `npm test` builds first) with the test system's database. The SDK in this process reaches it
 * through the standard AWS settings, as in production.
 */
export async function startTestEcs(
  databaseUrl: string,
  env: Record<string, string> = {},
  options: Partial<StartLocalEcsOptions> = {},
): Promise<LocalEcs> {
  if (!existsSync('dist/entrypoints/tasks/task-bundle.js')) {
    throw new Error('dist/ is missing: run `npm run build` (npm test does) before the ECS tests');
  }
  const ecs = await startLocalEcs({
    port: 0,
    taskDefinitionsDir: await compositionTaskDefinitions(),
    projectRoot: process.cwd(),
    stopTimeoutMs: 5_000,
    env: {
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'silent',
      TASK_IDLE_GRACE_MS: '300',
      LEASE_TTL_MS: '5000',
      ECS_RETRY_BASE_MS: '20',
      ...env,
    },
    ...options,
  });
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_ECS: ecs.url,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  });
  return ecs;
}

/** deploy/ecs for the monolith; for another composition, the definitions of its bundles (built by the global setup). */
async function compositionTaskDefinitions(): Promise<string> {
  if (!testComposition().taskEntryOf) return 'deploy/ecs';
  const dir = process.env['TEST_COMPOSITION_TASK_DEFINITIONS'];
  if (!dir) throw new Error("TEST_COMPOSITION_TASK_DEFINITIONS is not set: the vitest global setup builds the composition's tasks");
  return dir;
}

/** The settings the system (relay, sweeper) needs to launch tasks on the local endpoint. */
export function ecsSystemEnv(url: string): Record<string, string> {
  return {
    EVENT_BUS: 'ecs',
    ECS_CLUSTER: 'local',
    // The generated task definitions are Fargate/awsvpc: RunTask needs subnets, here as on AWS.
    ECS_LAUNCH_TYPE: 'FARGATE',
    ECS_SUBNETS: 'subnet-local',
    AWS_ENDPOINT_URL_ECS: url,
    TASK_IDLE_GRACE_MS: '300',
    LEASE_TTL_MS: '5000',
    ECS_RETRY_BASE_MS: '20',
  };
}

/**
 * A fresh database, the local ECS endpoint on it (`ecsEnv` for its tasks) and a system that
 * launches tasks there (`systemEnv`), both closed after each test. Call once at the top of a file.
 */
export function ecsSystemsClosedAfterEach(
  afterEachHook: (fn: () => Promise<void>) => void,
  /** Read at each start: a file may fill it in its beforeAll (e.g. imageNodeProject()). */
  ecsOptions: Partial<StartLocalEcsOptions> = {},
): (
  ecsEnv?: Record<string, string>,
  systemEnv?: Record<string, string>,
  layout?: { readonly apart?: boolean },
) => Promise<{ ecs: LocalEcs; system: TestSystem }> {
  const started: Array<{ ecs: LocalEcs; system?: TestSystem }> = [];
  afterEachHook(async () => {
    for (const { ecs, system } of started.splice(0)) {
      await system?.close();
      await ecs.close();
    }
  });
  return async (ecsEnv = {}, systemEnv = {}, layout: { readonly apart?: boolean } = {}) => {
    // Apart: the first module (by the contracts) in a database of its own, for the tasks as for the system.
    const { databaseUrl, env } = layout.apart
      ? await cloneDatabasesApart(testComposition().inboxes[0]!, testComposition().inboxes)
      : { databaseUrl: await cloneRunDatabase(), env: {} };
    const entry: { ecs: LocalEcs; system?: TestSystem } = { ecs: await startTestEcs(databaseUrl, { ...env, ...ecsEnv }, ecsOptions) };
    started.push(entry);
    entry.system = await startTestSystem({ databaseUrl, env: { ...env, ...ecsSystemEnv(entry.ecs.url), ...systemEnv } });
    return { ecs: entry.ecs, system: entry.system };
  };
}

/**
 * An SDK client of a local endpoint at `url`, with dummy credentials and no retries unless asked
 * (a test sees each answer as the endpoint gave it); `requestTimeout` makes a hung call throw.
 */
export function localEcsClient(url: string, options: { maxAttempts?: number; requestTimeout?: number } = {}): ECSClient {
  return new ECSClient({
    endpoint: url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: options.maxAttempts ?? 1,
    ...(options.requestTimeout ? { requestHandler: { requestTimeout: options.requestTimeout, throwOnRequestTimeout: true } } : {}),
  });
}
