import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  DeregisterTaskDefinitionCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  type RunTaskCommandInput,
  type Task,
} from '@aws-sdk/client-ecs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { localEcsClient } from '../support/ecs.js';
import { silentEcsLocalLogger, startLocalEcs, type LocalEcs } from '../../src/dev/ecs-local/index.js';
import { DEFAULT_START_FAILURE_REASONS } from '../../src/dev/ecs-local/faults.js';

/**
 * The local ECS endpoint fails the way ECS and Fargate fail (issue 11): cold starts as a
 * distribution, tasks that never start, the errors AWS answers, hung calls, the account's rate
 * limits, RunTask's validation, task-definition revisions. The real SDK and the real AWS CLI are
 * its clients.
 */

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';
const run = promisify(execFile);

const AWSVPC = { networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-local'] } } };
const definition = (family: string, script: string) => ({
  family,
  requiresCompatibilities: ['FARGATE'],
  networkMode: 'awsvpc',
  cpu: '256',
  memory: '512',
  containerDefinitions: [{ name: 'app', image: 'saga:local', essential: true, command: ['node', '-e', script] }],
});

let dir: string;
let ecs: LocalEcs;
let client: ECSClient;

const clientOf = localEcsClient;

async function failure(promise: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail');
}

async function runTask(input: Partial<RunTaskCommandInput> = {}): Promise<Task> {
  const out = await client.send(new RunTaskCommand({ taskDefinition: 'exit-0', ...AWSVPC, ...input }));
  const task = out.tasks?.[0];
  if (!task) throw new Error(`no task: ${JSON.stringify(out.failures)}`);
  return task;
}

async function describe1(arn: string): Promise<Task> {
  const out = await client.send(new DescribeTasksCommand({ tasks: [arn] }));
  return out.tasks![0]!;
}

async function until(arn: string, status: string): Promise<Task> {
  for (let i = 0; i < 200; i++) {
    const task = await describe1(arn);
    if (task.lastStatus === status) return task;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`task ${arn} never reached ${status}`);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ecs-faults-'));
  await mkdir(join(dir, 'defs'));
  await writeFile(join(dir, 'defs', 'exit-0.json'), JSON.stringify(definition('exit-0', 'setTimeout(() => process.exit(0), 50)')));
  await writeFile(join(dir, 'defs', 'exit-3.json'), JSON.stringify(definition('exit-3', 'process.exit(3)')));
  ecs = await startLocalEcs({
    port: 0,
    taskDefinitionsDir: join(dir, 'defs'),
    projectRoot: dir,
    logger: silentEcsLocalLogger,
    seed: 42,
    stopTimeoutMs: 500,
  });
  client = clientOf(ecs.url);
});

afterAll(async () => {
  client?.destroy();
  await ecs?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  ecs.setFaults({
    taskStartDelayMs: 0,
    startFailureRate: 0,
    throttleRate: 0,
    failureRate: 0,
    rateLimits: null,
    errors: { RunTask: null, DescribeTasks: null },
  });
});

describe('cold starts and tasks that never start', () => {
  it('keeps each task PROVISIONING for a delay drawn from the configured range', async () => {
    ecs.setFaults({ taskStartDelayMs: { min: 300, max: 700 } });
    const tasks = await Promise.all([runTask(), runTask(), runTask()]);
    for (const task of tasks) expect(task.lastStatus).toBe('PROVISIONING');
    const started = await Promise.all(tasks.map((t) => until(t.taskArn!, 'STOPPED')));
    for (const task of started) {
      const delay = task.startedAt!.getTime() - task.createdAt!.getTime();
      expect(delay).toBeGreaterThanOrEqual(280);
      expect(delay).toBeLessThan(1_200);
      expect(task.containers![0]!.exitCode).toBe(0);
    }
  });

  it('stops a share of tasks with TaskFailedToStart and Fargate’s reasons, their containers without an exit code', async () => {
    ecs.setFaults({ startFailureRate: 1, taskStartDelayMs: 50 });
    const before = ecs.stats().tasksFailedToStart;
    const task = await until((await runTask()).taskArn!, 'STOPPED');
    expect(task.stopCode).toBe('TaskFailedToStart');
    expect(DEFAULT_START_FAILURE_REASONS).toContain(task.stoppedReason);
    expect(task.stoppedReason).toMatch(/^(CannotPullContainerError|ResourceInitializationError): /);
    expect(task.containers![0]!.exitCode).toBeUndefined();
    expect(task.containers![0]!.reason).toMatch(/^(CannotPullContainerError|ResourceInitializationError)$/);
    expect(ecs.stats().tasksFailedToStart - before).toBe(1);
  });
});

describe('errors AWS answers, and hung calls', () => {
  it.each([
    ['AccessDeniedException', 400],
    ['ClientException', 400],
    ['InvalidParameterException', 400],
    ['ServerException', 500],
    ['ServiceUnavailableException', 503],
  ] as const)('answers %s (HTTP %i) on the operations it is injected into', async (type, status) => {
    ecs.setFaults({ errors: { RunTask: { type, rate: 1 }, DescribeTasks: { type, rate: 1 } } });
    const before = ecs.stats();
    const runError = await failure(runTask());
    expect(runError.name).toBe(type);
    expect(runError.$metadata?.httpStatusCode).toBe(status);
    expect((await failure(client.send(new DescribeTasksCommand({ tasks: ['x'] })))).name).toBe(type);
    const after = ecs.stats();
    expect(after.tasksStarted).toBe(before.tasksStarted);
    expect(after.injectedErrors - before.injectedErrors).toBe(2);
  });

  it('reads a hung call and never answers: only the client’s timeout ends it', async () => {
    ecs.setFaults({ errors: { RunTask: { type: 'hang', rate: 1 } } });
    const impatient = clientOf(ecs.url, { requestTimeout: 300 });
    const started = Date.now();
    const error = await failure(impatient.send(new RunTaskCommand({ taskDefinition: 'exit-0', ...AWSVPC })));
    impatient.destroy();
    expect(error.name).toMatch(/TimeoutError|RequestTimeout/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(ecs.stats().hungRequests).toBeGreaterThanOrEqual(1);
  });

  it('applies a call and loses its answer (appliedLost): the task runs, and the same token answers it once the fault is gone', async () => {
    ecs.setFaults({ errors: { RunTask: { type: 'appliedLost', rate: 1 } } });
    const impatient = clientOf(ecs.url, { requestTimeout: 300 });
    const input = { taskDefinition: 'exit-0', clientToken: 'applied-lost-0001', ...AWSVPC };
    const before = ecs.stats();
    const error = await failure(impatient.send(new RunTaskCommand(input)));
    expect(error.name).toMatch(/TimeoutError|RequestTimeout/);
    expect(ecs.stats().tasksStarted - before.tasksStarted).toBe(1);
    expect(ecs.stats().appliedResponsesLost - before.appliedResponsesLost).toBe(1);
    ecs.setFaults({ errors: { RunTask: null } });
    const replay = await impatient.send(new RunTaskCommand(input));
    impatient.destroy();
    expect(replay.tasks).toHaveLength(1);
    expect(ecs.stats().tasksStarted - before.tasksStarted).toBe(1);
  });

  it('answers a token reused with other parameters with ConflictException naming the tasks it started (resourceIds)', async () => {
    const first = await client.send(new RunTaskCommand({ taskDefinition: 'exit-0', clientToken: 'conflict-0001', ...AWSVPC }));
    const error = (await failure(
      client.send(new RunTaskCommand({ taskDefinition: 'exit-0', clientToken: 'conflict-0001', startedBy: 'other', ...AWSVPC })),
    )) as Error & { resourceIds?: string[] };
    expect(error.name).toBe('ConflictException');
    expect(error.resourceIds).toEqual([first.tasks![0]!.taskArn]);
  });
});

describe('the account’s rate limits', () => {
  it('answers ThrottlingException beyond the RunTask API bucket, and again once it refilled', async () => {
    ecs.setFaults({ rateLimits: { runTaskPerSecond: 2, runTaskBurst: 2, launchesPerSecond: 100, launchBurst: 100 } });
    await runTask();
    await runTask();
    expect((await failure(runTask())).name).toBe('ThrottlingException');
    await new Promise((r) => setTimeout(r, 600));
    await runTask();
  });

  it('counts tasks, not calls, against the launch bucket (one call may start up to 10)', async () => {
    ecs.setFaults({ rateLimits: { runTaskPerSecond: 100, runTaskBurst: 100, launchesPerSecond: 1, launchBurst: 3 } });
    const before = ecs.stats();
    const three = await client.send(new RunTaskCommand({ taskDefinition: 'exit-0', count: 3, ...AWSVPC }));
    expect(three.tasks).toHaveLength(3);
    expect((await failure(runTask())).name).toBe('ThrottlingException');
    const after = ecs.stats();
    expect(after.rateLimited - before.rateLimited).toBe(1);
    expect(after.tasksStarted - before.tasksStarted).toBe(3);
  });
});

describe('RunTask validation as ECS does it', () => {
  it('refuses an awsvpc (Fargate) task without subnets, and a launch type beside a capacity provider strategy', async () => {
    const noSubnets = await failure(client.send(new RunTaskCommand({ taskDefinition: 'exit-0', launchType: 'FARGATE' })));
    expect(noSubnets.name).toBe('InvalidParameterException');
    expect(noSubnets.message).toMatch(/Network Configuration must be provided/);
    const both = await failure(
      runTask({ launchType: 'FARGATE', capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }] }),
    );
    expect(both.name).toBe('InvalidParameterException');
  });
});

describe('task definition revisions', () => {
  it('runs a bare family’s latest ACTIVE revision, family:N exactly, and refuses an INACTIVE one', async () => {
    const registered = await client.send(new RegisterTaskDefinitionCommand(definition('exit-3', 'process.exit(4)') as never));
    expect(registered.taskDefinition).toMatchObject({ family: 'exit-3', revision: 2, status: 'ACTIVE' });
    const latest = await until((await runTask({ taskDefinition: 'exit-3' })).taskArn!, 'STOPPED');
    expect(latest.taskDefinitionArn).toMatch(/task-definition\/exit-3:2$/);
    expect(latest.containers![0]!.exitCode).toBe(4);
    const pinned = await until((await runTask({ taskDefinition: 'exit-3:1' })).taskArn!, 'STOPPED');
    expect(pinned.containers![0]!.exitCode).toBe(3);

    await client.send(new DeregisterTaskDefinitionCommand({ taskDefinition: 'exit-3:2' }));
    expect((await client.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'exit-3:2' }))).taskDefinition?.status).toBe('INACTIVE');
    const inactive = await failure(runTask({ taskDefinition: 'exit-3:2' }));
    expect(inactive.name).toBe('ClientException');
    expect(inactive.message).toBe('TaskDefinition is inactive');
    const back = await until((await runTask({ taskDefinition: 'exit-3' })).taskArn!, 'STOPPED');
    expect(back.containers![0]!.exitCode).toBe(3);
  });
});

describe('the AWS CLI as a second client', () => {
  const aws = existsSync('/usr/bin/aws') ? '/usr/bin/aws' : 'aws';
  const cli = async (...args: string[]) => {
    const { stdout } = await run(aws, ['ecs', ...args, '--endpoint-url', ecs.url, '--region', 'us-east-1', '--output', 'json'], {
      env: { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_PAGER: '' },
    });
    return JSON.parse(stdout) as Record<string, unknown>;
  };

  it('runs, lists, describes and stops tasks, registers revisions, and reads the endpoint’s errors', { timeout: 60_000 }, async () => {
    const subnets = 'awsvpcConfiguration={subnets=[subnet-local]}';
    const started = (await cli('run-task', '--task-definition', 'exit-0', '--network-configuration', subnets)) as {
      tasks: Array<{ taskArn: string }>;
    };
    const arn = started.tasks[0]!.taskArn;
    const listed = (await cli('list-tasks', '--desired-status', 'STOPPED')) as { taskArns: string[] };
    await until(arn, 'STOPPED');
    const stoppedList = (await cli('list-tasks', '--desired-status', 'STOPPED')) as { taskArns: string[] };
    expect([...listed.taskArns, ...stoppedList.taskArns]).toContain(arn);
    const described = (await cli('describe-tasks', '--tasks', arn)) as {
      tasks: Array<{ lastStatus: string; containers: Array<{ exitCode: number }> }>;
    };
    expect(described.tasks[0]).toMatchObject({ lastStatus: 'STOPPED', containers: [{ exitCode: 0 }] });
    ecs.setFaults({ taskStartDelayMs: 5_000 });
    const slow = (await cli('run-task', '--task-definition', 'exit-0', '--network-configuration', subnets)) as {
      tasks: Array<{ taskArn: string }>;
    };
    const stopped = (await cli('stop-task', '--task', slow.tasks[0]!.taskArn, '--reason', 'from the CLI')) as {
      task: { desiredStatus: string };
    };
    expect(stopped.task.desiredStatus).toBe('STOPPED');
    const file = join(dir, 'cli-definition.json');
    await writeFile(file, JSON.stringify(definition('cli-family', 'process.exit(0)')));
    const registered = (await cli('register-task-definition', '--cli-input-json', `file://${file}`)) as {
      taskDefinition: { revision: number };
    };
    expect(registered.taskDefinition.revision).toBe(1);
    ecs.setFaults({ errors: { RunTask: { type: 'AccessDeniedException', rate: 1 } } });
    await expect(cli('run-task', '--task-definition', 'exit-0', '--network-configuration', subnets)).rejects.toThrow(
      /AccessDeniedException/,
    );
  });
});
