import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTasksCommand, ECSClient, RunTaskCommand, StopTaskCommand, type RunTaskCommandInput, type Task } from '@aws-sdk/client-ecs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { localEcsClient } from '../support/ecs.js';
import { CLIENT_TOKEN_TTL_MS, profileFaults } from '../../src/dev/ecs-local/faults.js';
import { silentEcsLocalLogger, startLocalEcs, type LocalEcs } from '../../src/dev/ecs-local/index.js';

/**
 * The local ECS endpoint is as harsh as Fargate where the launcher must cope (issue 31, point 5):
 * partial placement with Fargate's capacity reasons, the client token's 24-hour window, the
 * capacity-provider checks, Spot interruptions, and throttled DescribeTasks and StopTask. The
 * real SDK is the client.
 */

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

const CAPACITY = 'Capacity is unavailable at this time. Please try again later or in a different availability zone';
const AWSVPC = { networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-local'] } } };
const definition = (family: string, script: string, extra: Record<string, unknown> = {}) => ({
  family,
  requiresCompatibilities: ['FARGATE'],
  networkMode: 'awsvpc',
  cpu: '256',
  memory: '512',
  containerDefinitions: [{ name: 'app', image: 'saga:local', essential: true, command: ['node', '-e', script] }],
  ...extra,
});

let dir: string;
let ecs: LocalEcs;
let client: ECSClient;

async function failure(promise: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail');
}

const runTask = (input: Partial<RunTaskCommandInput> = {}) =>
  client.send(new RunTaskCommand({ taskDefinition: 'exit-0', ...AWSVPC, ...input }));

async function until(arn: string, done: (task: Task) => boolean): Promise<Task> {
  for (let i = 0; i < 400; i++) {
    const task = (await client.send(new DescribeTasksCommand({ tasks: [arn] }))).tasks?.[0];
    if (task && done(task)) return task;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`task ${arn} never reached the expected state`);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ecs-fargate-'));
  await mkdir(join(dir, 'defs'));
  await writeFile(join(dir, 'defs', 'exit-0.json'), JSON.stringify(definition('exit-0', 'setTimeout(() => process.exit(0), 50)')));
  await writeFile(
    join(dir, 'defs', 'arm-0.json'),
    JSON.stringify(
      definition('arm-0', 'setTimeout(() => process.exit(0), 50)', {
        runtimePlatform: { cpuArchitecture: 'ARM64', operatingSystemFamily: 'LINUX' },
      }),
    ),
  );
  // Marks itself ready (<task id>.ready) once its SIGTERM handler is in place: it exits 0 on SIGTERM
  // (a task that drains) or ignores it (one that is SIGKILLed).
  const waits =
    "require('fs').writeFileSync(process.env.ECS_CONTAINER_METADATA_URI_V4.split('/').pop().split('-')[0] + '.ready', ''); setInterval(() => {}, 1000);";
  await writeFile(
    join(dir, 'defs', 'drains.json'),
    JSON.stringify(definition('drains', `process.on('SIGTERM', () => process.exit(0)); ${waits}`)),
  );
  await writeFile(join(dir, 'defs', 'stubborn.json'), JSON.stringify(definition('stubborn', `process.on('SIGTERM', () => {}); ${waits}`)));
  ecs = await startLocalEcs({
    port: 0,
    taskDefinitionsDir: join(dir, 'defs'),
    projectRoot: dir,
    logger: silentEcsLocalLogger,
    seed: 7,
    stopTimeoutMs: 500,
  });
  client = localEcsClient(ecs.url);
});

afterAll(async () => {
  client?.destroy();
  await ecs?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  ecs.setFaults({
    failureRate: 0,
    partialPlacementRate: 0,
    clientTokenTtlMs: CLIENT_TOKEN_TTL_MS,
    clusterCapacityProviders: ['FARGATE', 'FARGATE_SPOT'],
    refuseSpotOnArm64: false,
    errors: { DescribeTasks: null, StopTask: null },
  });
});

describe('placement on Fargate', () => {
  it('answers failures[] with Fargate’s capacity reason and no container instance', async () => {
    ecs.setFaults({ failureRate: 1 });
    const out = await runTask({ count: 3 });
    expect(out.tasks).toEqual([]);
    expect(out.failures).toEqual([{ reason: CAPACITY }, { reason: CAPACITY }, { reason: CAPACITY }]);
  });

  it('places some of `count` and fails the others, and a replay of its token answers the same', async () => {
    ecs.setFaults({ partialPlacementRate: 1 });
    const started = ecs.stats().tasksStarted;
    const out = await runTask({ count: 5, clientToken: 'partial-1' });
    const placed = out.tasks?.length ?? 0;
    expect(placed).toBeGreaterThanOrEqual(1);
    expect(placed).toBeLessThan(5);
    expect(out.failures).toHaveLength(5 - placed);
    for (const f of out.failures ?? []) expect(f.reason).toBe(CAPACITY);
    expect(ecs.stats().tasksStarted - started).toBe(placed);

    const replay = await runTask({ count: 5, clientToken: 'partial-1' });
    expect(replay.tasks?.map((t) => t.taskArn)).toEqual(out.tasks?.map((t) => t.taskArn));
    expect(replay.failures).toEqual(out.failures);
    expect(ecs.stats().tasksStarted - started).toBe(placed);
  });

  it('places a single task whole: a partial placement needs count > 1', async () => {
    ecs.setFaults({ partialPlacementRate: 1 });
    const out = await runTask({ count: 1 });
    expect(out.tasks).toHaveLength(1);
    expect(out.failures).toEqual([]);
  });
});

describe('throttled DescribeTasks and StopTask', () => {
  it('answers DescribeTasks and StopTask ThrottlingException at the configured rate, and the task runs on', async () => {
    const task = (await runTask({ taskDefinition: 'exit-0' })).tasks![0]!;
    ecs.setFaults({
      errors: { DescribeTasks: { type: 'ThrottlingException', rate: 1 }, StopTask: { type: 'ThrottlingException', rate: 1 } },
    });
    const described = await failure(client.send(new DescribeTasksCommand({ tasks: [task.taskArn!] })));
    expect(described.name).toBe('ThrottlingException');
    expect(described.message).toBe('Rate exceeded');
    expect(described.$metadata?.httpStatusCode).toBe(400);
    const stopped = await failure(client.send(new StopTaskCommand({ task: task.taskArn!, reason: 'test' })));
    expect(stopped.name).toBe('ThrottlingException');

    ecs.setFaults({ errors: { DescribeTasks: null, StopTask: null } });
    const after = (await client.send(new DescribeTasksCommand({ tasks: [task.taskArn!] }))).tasks![0]!;
    expect(after.stopCode).not.toBe('UserInitiated');
  });

  it('throttles only a share of calls at a rate below 1 (seeded)', async () => {
    const task = (await runTask({ taskDefinition: 'exit-0' })).tasks![0]!;
    ecs.setFaults({ errors: { DescribeTasks: { type: 'ThrottlingException', rate: 0.5 } } });
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, () =>
        client.send(new DescribeTasksCommand({ tasks: [task.taskArn!] })).then(
          () => 'ok',
          (e: Error) => e.name,
        ),
      ),
    );
    expect(outcomes.filter((o) => o === 'ThrottlingException').length).toBeGreaterThan(5);
    expect(outcomes.filter((o) => o === 'ok').length).toBeGreaterThan(5);
    expect(new Set(outcomes)).toEqual(new Set(['ok', 'ThrottlingException']));
  });
});

describe('the client token’s window', () => {
  it('is 24 hours on the endpoint’s clock: divided by the time scale', async () => {
    expect(profileFaults('default').clientTokenTtlMs).toBe(86_400_000);
    expect(profileFaults('fargate', 10).clientTokenTtlMs).toBe(8_640_000);
    expect(ecs.faults().clientTokenTtlMs).toBe(86_400_000);
    const scaled = await startLocalEcs({
      port: 0,
      taskDefinitionsDir: join(dir, 'defs'),
      projectRoot: dir,
      logger: silentEcsLocalLogger,
      profile: 'fargate',
      timeScale: 1_000,
    });
    try {
      expect(scaled.faults().clientTokenTtlMs).toBe(86_400);
    } finally {
      await scaled.close();
    }
  });

  it('answers a token within the window with its tasks; reused after it, starts new ones, whatever the parameters', async () => {
    ecs.setFaults({ clientTokenTtlMs: 800 });
    const first = await runTask({ clientToken: 'window-1' });
    const replay = await runTask({ clientToken: 'window-1' });
    expect(replay.tasks?.[0]?.taskArn).toBe(first.tasks?.[0]?.taskArn);
    await new Promise((r) => setTimeout(r, 850));
    const later = await runTask({ clientToken: 'window-1' });
    expect(later.tasks).toHaveLength(1);
    expect(later.tasks?.[0]?.taskArn).not.toBe(first.tasks?.[0]?.taskArn);

    // Within the new window, other parameters conflict and name the tasks the token started last.
    const conflict = await failure(runTask({ clientToken: 'window-1', startedBy: 'someone-else' }));
    expect(conflict.name).toBe('ConflictException');
    expect((conflict as { resourceIds?: string[] }).resourceIds).toEqual([later.tasks?.[0]?.taskArn]);
    await new Promise((r) => setTimeout(r, 850));
    const afterConflictWindow = await runTask({ clientToken: 'window-1', startedBy: 'someone-else' });
    expect(afterConflictWindow.tasks?.[0]?.startedBy).toBe('someone-else');
  });
});

describe('capacity-provider strategies', () => {
  const NOT_ASSOCIATED =
    'The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. ' +
    'Associate the capacity provider with the cluster or specify a valid capacity provider and try again.';
  const spot = [
    { capacityProvider: 'FARGATE_SPOT', weight: 3 },
    { capacityProvider: 'FARGATE', weight: 1 },
  ];

  it('refuses a capacity provider not associated with the cluster, as ECS words it', async () => {
    ecs.setFaults({ clusterCapacityProviders: ['FARGATE'] });
    const refused = await failure(runTask({ capacityProviderStrategy: spot }));
    expect(refused.name).toBe('InvalidParameterException');
    expect(refused.message).toBe(NOT_ASSOCIATED);
    expect(refused.$metadata?.httpStatusCode).toBe(400);
    const unknown = await failure(runTask({ capacityProviderStrategy: [{ capacityProvider: 'my-asg-provider', weight: 1 }] }));
    expect(unknown.message).toBe(NOT_ASSOCIATED);

    const onDemand = await runTask({ capacityProviderStrategy: [{ capacityProvider: 'FARGATE', weight: 1 }] });
    expect(onDemand.tasks?.[0]?.capacityProviderName).toBe('FARGATE');
  });

  it('runs an ARM64 definition on FARGATE_SPOT (Graviton Spot), and refuses it when told to behave as before', async () => {
    const graviton = await runTask({ taskDefinition: 'arm-0', capacityProviderStrategy: spot });
    expect(graviton.tasks?.[0]?.capacityProviderName).toBe('FARGATE_SPOT');

    ecs.setFaults({ refuseSpotOnArm64: true });
    const refused = await failure(runTask({ taskDefinition: 'arm-0', capacityProviderStrategy: spot }));
    expect(refused.name).toBe('InvalidParameterException');
    expect(refused.message).toBe('FARGATE_SPOT capacity provider is not supported when using ARM architecture.');
    // x86 on Spot, and ARM64 on FARGATE, still run.
    expect((await runTask({ capacityProviderStrategy: spot })).tasks).toHaveLength(1);
    const arm = await runTask({ taskDefinition: 'arm-0', capacityProviderStrategy: [{ capacityProvider: 'FARGATE', weight: 1 }] });
    expect(arm.tasks).toHaveLength(1);
  });
});

describe('Spot interruptions', () => {
  const SPOT = [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }];
  const ready = async (arn: string) => {
    const file = join(dir, `${arn.split('/').pop()!}.ready`);
    for (let i = 0; i < 500 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(file)).toBe(true);
  };
  const stopped = (t: Task) => t.lastStatus === 'STOPPED';

  it('sends SIGTERM with a TerminationNotice, then SIGKILL after the stop timeout; STOPPED with SpotInterruption', async () => {
    const task = (await runTask({ taskDefinition: 'stubborn', capacityProviderStrategy: SPOT })).tasks![0]!;
    await ready(task.taskArn!);
    expect(ecs.interruptSpot(task.taskArn!)).toEqual([task.taskArn]);
    const notice = (await client.send(new DescribeTasksCommand({ tasks: [task.taskArn!] }))).tasks![0]!;
    expect(notice.desiredStatus).toBe('STOPPED');
    expect(notice.lastStatus).toBe('STOPPING');
    expect(notice.stopCode).toBe('TerminationNotice');
    expect(notice.stoppedReason).toBe('Your Spot Task was interrupted.');

    const done = await until(task.taskArn!, stopped);
    expect(done.stopCode).toBe('SpotInterruption');
    expect(done.stoppedReason).toBe('Your Spot Task was interrupted.');
    expect(done.containers![0]!.exitCode).toBe(137);
    // SIGKILL came after the endpoint's stop timeout (500 ms here), not before.
    expect(done.stoppedAt!.getTime() - done.stoppingAt!.getTime()).toBeGreaterThanOrEqual(450);
  });

  it('lets a task that drains on SIGTERM exit on its own, and interrupts only FARGATE_SPOT tasks', async () => {
    const spotTask = (await runTask({ taskDefinition: 'drains', capacityProviderStrategy: SPOT })).tasks![0]!;
    const onDemand = (await runTask({ taskDefinition: 'drains', capacityProviderStrategy: [{ capacityProvider: 'FARGATE', weight: 1 }] }))
      .tasks![0]!;
    await ready(spotTask.taskArn!);
    await ready(onDemand.taskArn!);

    const admin = await fetch(`${ecs.url}/_local/spot-interruptions`, { method: 'POST', body: '{}' });
    expect(await admin.json()).toEqual({ interrupted: [spotTask.taskArn] });
    const done = await until(spotTask.taskArn!, stopped);
    expect(done.stopCode).toBe('SpotInterruption');
    // 0, not 137: it drained on SIGTERM before the SIGKILL.
    expect(done.containers![0]!.exitCode).toBe(0);

    expect(ecs.interruptSpot(onDemand.taskArn!)).toEqual([]);
    const untouched = (await client.send(new DescribeTasksCommand({ tasks: [onDemand.taskArn!] }))).tasks![0]!;
    expect(untouched.lastStatus).toBe('RUNNING');
    await client.send(new StopTaskCommand({ task: onDemand.taskArn! }));
    await until(onDemand.taskArn!, stopped);
  });
});
