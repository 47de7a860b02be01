import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeTasksCommand,
  ECSClient,
  ListClustersCommand,
  ListTasksCommand,
  RunTaskCommand,
  StopTaskCommand,
  type Task,
} from '@aws-sdk/client-ecs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { localEcsClient } from '../support/ecs.js';
import { startLocalEcs, type EcsLocalLogger, type LocalEcs } from '../../src/dev/ecs-local/index.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

/** Records what the endpoint logs, so a test can check that task output reaches it. */
class RecordingLogger implements EcsLocalLogger {
  readonly lines: { level: string; obj: object; msg: string | undefined }[] = [];
  debug(obj: object, msg?: string): void {
    this.lines.push({ level: 'debug', obj, msg });
  }
  info(obj: object, msg?: string): void {
    this.lines.push({ level: 'info', obj, msg });
  }
  warn(obj: object, msg?: string): void {
    this.lines.push({ level: 'warn', obj, msg });
  }
  error(obj: object, msg?: string): void {
    this.lines.push({ level: 'error', obj, msg });
  }
}

const nodeTask = (family: string, script: string, environment: { name: string; value: string }[] = []) => ({
  family,
  requiresCompatibilities: ['FARGATE'],
  networkMode: 'awsvpc',
  cpu: '256',
  memory: '512',
  containerDefinitions: [{ name: 'app', image: 'saga-monolith:local', essential: true, command: ['node', '-e', script], environment }],
});

// Scripts run with `node -e` (CommonJS); OUT_FILE comes from the overrides or the definition.
const ECHO_ENV = `
const fs = require('node:fs');
fs.appendFileSync(process.env.OUT_FILE, JSON.stringify({
  greeting: process.env.GREETING, fromDefinition: process.env.FROM_DEFINITION,
  inherited: process.env.INHERITED, taskArn: process.env.ECS_TASK_ARN, metadata: process.env.ECS_CONTAINER_METADATA_URI_V4, cluster: process.env.ECS_CLUSTER,
  endpoint: process.env.AWS_ENDPOINT_URL_ECS, cwd: process.cwd(),
}) + '\\n');
console.log('hello from the task: ' + process.env.GREETING);
console.log(JSON.stringify({ level: 50, time: 1, pid: 7, hostname: 'h', name: 'task', useCase: 'order.approve-order', msg: 'delivery failed' }));
`;
const EXIT_3 = `process.exit(3)`;
const SLEEP_UNTIL_SIGTERM = `
const fs = require('node:fs');
const out = process.env.OUT_FILE;
process.on('SIGTERM', () => { if (out) fs.appendFileSync(out, 'SIGTERM\\n'); process.exit(0); });
if (out) fs.appendFileSync(out, 'started\\n');
setInterval(() => {}, 1000);
`;
const IGNORE_SIGTERM = `
process.on('SIGTERM', () => {});
require('node:fs').appendFileSync(process.env.OUT_FILE, 'started\\n');
setInterval(() => {}, 1000);
`;

/** Every definition here is Fargate/awsvpc: RunTask needs subnets, as on AWS. */
const AWSVPC = { networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-local'] } } };

let dir: string;
let defsDir: string;
let ecs: LocalEcs;
let client: ECSClient;
const logger = new RecordingLogger();

const newClient = (endpoint: string) => localEcsClient(endpoint);

async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function describe1(taskArn: string, cluster?: string): Promise<Task> {
  const out = await client.send(new DescribeTasksCommand({ tasks: [taskArn], ...(cluster ? { cluster } : {}) }));
  const task = out.tasks?.[0];
  if (!task) throw new Error(`task ${taskArn} not found: ${JSON.stringify(out.failures)}`);
  return task;
}

const waitForStatus = (taskArn: string, status: string, cluster?: string) =>
  waitFor(async () => {
    const task = await describe1(taskArn, cluster);
    return task.lastStatus === status ? task : undefined;
  }, `${taskArn} ${status}`);

async function runOne(input: ConstructorParameters<typeof RunTaskCommand>[0]): Promise<Task> {
  const out = await client.send(new RunTaskCommand({ ...AWSVPC, ...input }));
  expect(out.failures).toEqual([]);
  const task = out.tasks?.[0];
  if (!task?.taskArn) throw new Error('RunTask returned no task');
  return task;
}

async function rejection(promise: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { $metadata?: { httpStatusCode?: number } };
  }
  throw new Error('expected the call to fail');
}

const lines = async (file: string) => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter((l) => l.length > 0);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ecs-local-test-'));
  defsDir = join(dir, 'defs');
  await mkdir(defsDir);
  const defs: Record<string, unknown> = {
    'echo-env.json': nodeTask('echo-env', ECHO_ENV, [
      { name: 'FROM_DEFINITION', value: 'from-definition' },
      { name: 'GREETING', value: 'overridden-below' },
    ]),
    'exit-3.json': nodeTask('exit-3', EXIT_3),
    'sleeper.json': nodeTask('sleeper', SLEEP_UNTIL_SIGTERM),
    'stubborn.json': nodeTask('stubborn', IGNORE_SIGTERM),
    'missing-binary.json': {
      family: 'missing-binary',
      containerDefinitions: [{ name: 'app', image: 'x', essential: true, command: ['definitely-not-a-binary-4f2a'] }],
    },
  };
  for (const [file, def] of Object.entries(defs)) await writeFile(join(defsDir, file), JSON.stringify(def, null, 2));
  await writeFile(join(defsDir, 'broken.json'), '{ "family": "broken", ');

  ecs = await startLocalEcs({
    port: 0,
    taskDefinitionsDir: defsDir,
    projectRoot: dir,
    env: { INHERITED: 'from-endpoint' },
    stopTimeoutMs: 700,
    logger,
  });
  client = newClient(ecs.url);
});

afterAll(async () => {
  client?.destroy();
  await ecs?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  ecs.setFaults({ throttleRate: 0, failureRate: 0, taskStartDelayMs: 0 });
});

describe('local ECS endpoint with the real ECSClient', () => {
  it('RunTask starts a process with the definition, endpoint and override environment; DescribeTasks follows it to STOPPED', async () => {
    const out = join(dir, 'echo-1.jsonl');
    const task = await runOne({
      cluster: 'saga',
      taskDefinition: 'echo-env',
      startedBy: 'relay',
      tags: [{ key: 'useCase', value: 'echo' }],
      overrides: {
        containerOverrides: [
          {
            name: 'app',
            environment: [
              { name: 'GREETING', value: 'hello-override' },
              { name: 'OUT_FILE', value: out },
            ],
          },
        ],
      },
    });

    expect(task.taskArn).toMatch(/^arn:aws:ecs:us-east-1:000000000000:task\/saga\/[0-9a-f]{32}$/);
    expect(task.clusterArn).toBe('arn:aws:ecs:us-east-1:000000000000:cluster/saga');
    expect(task.taskDefinitionArn).toBe('arn:aws:ecs:us-east-1:000000000000:task-definition/echo-env:1');
    expect(task.group).toBe('family:echo-env');
    expect(task.lastStatus).toBe('PROVISIONING');
    expect(task.desiredStatus).toBe('RUNNING');
    expect(task.startedBy).toBe('relay');
    expect(task.tags).toEqual([{ key: 'useCase', value: 'echo' }]);
    expect(task.createdAt).toBeInstanceOf(Date);
    expect(task.containers?.map((c) => c.name)).toEqual(['app']);

    const stopped = await waitForStatus(task.taskArn!, 'STOPPED', 'saga');
    expect(stopped.containers?.[0]?.exitCode).toBe(0);
    expect(stopped.containers?.[0]?.lastStatus).toBe('STOPPED');
    expect(stopped.stopCode).toBe('EssentialContainerExited');
    expect(stopped.stoppedReason).toBe('Essential container in task exited');
    expect(stopped.desiredStatus).toBe('STOPPED');
    expect(stopped.stoppedAt).toBeInstanceOf(Date);
    expect(stopped.startedAt!.getTime()).toBeGreaterThanOrEqual(stopped.createdAt!.getTime());
    // Tags only with include: ['TAGS'], as on ECS.
    expect(stopped.tags).toBeUndefined();
    const withTags = await client.send(new DescribeTasksCommand({ cluster: 'saga', tasks: [task.taskArn!], include: ['TAGS'] }));
    expect(withTags.tasks?.[0]?.tags).toEqual([{ key: 'useCase', value: 'echo' }]);

    const [line] = await lines(out);
    expect(JSON.parse(line!)).toEqual({
      greeting: 'hello-override',
      fromDefinition: 'from-definition',
      inherited: 'from-endpoint',
      // Never set by AWS, so never by this endpoint: a task learns its ARN from its metadata endpoint.
      metadata: expect.stringMatching(new RegExp(`^${ecs.url}/v4/${task.taskArn!.split('/').pop()!}-\\d+$`)),
      cluster: 'saga',
      endpoint: ecs.url,
      cwd: dir,
    });
    const taskId = task.taskArn!.split('/').pop()!;
    await waitFor(
      async () =>
        logger.lines.some((l) => l.msg === 'hello from the task: hello-override' && 'task' in l.obj && l.obj.task === taskId)
          ? true
          : undefined,
      'the task output in the endpoint log',
    );
    // A structured (pino) line arrives as an object at its own level, not as an escaped string.
    const structured = await waitFor(
      async () => logger.lines.find((l) => l.msg === 'delivery failed'),
      'the task JSON line in the endpoint log',
    );
    expect(structured).toEqual({
      level: 'error',
      msg: 'delivery failed',
      obj: { useCase: 'order.approve-order', taskLogger: 'task', task: taskId, container: expect.any(String) },
    });
  });

  it('records a non-zero exit code', async () => {
    const task = await runOne({ taskDefinition: 'arn:aws:ecs:us-east-1:000000000000:task-definition/exit-3:1' });
    expect(task.clusterArn).toBe('arn:aws:ecs:us-east-1:000000000000:cluster/default');
    const stopped = await waitForStatus(task.taskArn!, 'STOPPED');
    expect(stopped.containers?.[0]?.exitCode).toBe(3);
    expect(stopped.stopCode).toBe('EssentialContainerExited');
  });

  it('a command that cannot be spawned ends the task STOPPED with the reason', async () => {
    const task = await runOne({ taskDefinition: 'missing-binary:1' });
    const stopped = await waitForStatus(task.taskArn!, 'STOPPED');
    expect(stopped.stopCode).toBe('TaskFailedToStart');
    expect(stopped.stoppedReason).toMatch(/^CannotStartContainerError: .*ENOENT/);
    expect(stopped.containers?.[0]?.exitCode).toBeUndefined();
  });

  it('StopTask sends SIGTERM, which the task honours; the reason is recorded', async () => {
    const out = join(dir, 'sleeper-stop.log');
    const task = await runOne({
      taskDefinition: 'sleeper',
      overrides: { containerOverrides: [{ name: 'app', environment: [{ name: 'OUT_FILE', value: out }] }] },
    });
    const running = await waitForStatus(task.taskArn!, 'RUNNING');
    expect(running.containers?.[0]?.lastStatus).toBe('RUNNING');
    expect(ecs.taskPids(task.taskArn!)).toHaveLength(1);
    await waitFor(async () => ((await lines(out)).includes('started') ? true : undefined), 'the script to start');

    const stop = await client.send(new StopTaskCommand({ task: task.taskArn!, reason: 'scaling in' }));
    expect(stop.task?.desiredStatus).toBe('STOPPED');

    const stopped = await waitForStatus(task.taskArn!, 'STOPPED');
    expect(stopped.stopCode).toBe('UserInitiated');
    expect(stopped.stoppedReason).toBe('scaling in');
    expect(stopped.containers?.[0]?.exitCode).toBe(0);
    expect(stopped.stoppingAt).toBeInstanceOf(Date);
    expect(await lines(out)).toEqual(['started', 'SIGTERM']);

    // Stopping a stopped task changes nothing; an unknown one is an InvalidParameterException.
    const again = await client.send(new StopTaskCommand({ task: task.taskArn!.split('/').pop()!, reason: 'again' }));
    expect(again.task?.stoppedReason).toBe('scaling in');
    const err = await rejection(client.send(new StopTaskCommand({ task: 'ffffffffffffffffffffffffffffffff' })));
    expect(err.name).toBe('InvalidParameterException');
  });

  it('SIGKILL follows SIGTERM after the grace when the task ignores it', async () => {
    const out = join(dir, 'stubborn.log');
    const task = await runOne({
      taskDefinition: 'stubborn',
      overrides: { containerOverrides: [{ name: 'app', environment: [{ name: 'OUT_FILE', value: out }] }] },
    });
    await waitFor(async () => ((await lines(out)).includes('started') ? true : undefined), 'the script to start');
    const t0 = Date.now();
    await client.send(new StopTaskCommand({ task: task.taskArn! }));
    const stopped = await waitForStatus(task.taskArn!, 'STOPPED');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(600);
    expect(stopped.containers?.[0]?.exitCode).toBe(137);
    expect(stopped.stoppedReason).toBe('Task stopped by user');
  });

  it('ListTasks filters by desiredStatus, family and startedBy, and paginates', async () => {
    const cluster = 'list-cluster';
    const started: string[] = [];
    for (let i = 0; i < 3; i++) {
      started.push((await runOne({ cluster, taskDefinition: 'sleeper', startedBy: 'lister' })).taskArn!);
    }
    await runOne({ cluster, taskDefinition: 'sleeper', startedBy: 'someone-else' });

    const page1 = await client.send(new ListTasksCommand({ cluster, startedBy: 'lister', maxResults: 2 }));
    expect(page1.taskArns).toEqual(started.slice(0, 2));
    expect(page1.nextToken).toBeTypeOf('string');
    const page2 = await client.send(new ListTasksCommand({ cluster, startedBy: 'lister', maxResults: 2, nextToken: page1.nextToken! }));
    expect(page2.taskArns).toEqual(started.slice(2));
    expect(page2.nextToken).toBeUndefined();

    const all = await client.send(new ListTasksCommand({ cluster, family: 'sleeper' }));
    expect(all.taskArns).toHaveLength(4);
    expect((await client.send(new ListTasksCommand({ cluster, family: 'exit-3' }))).taskArns).toEqual([]);
    expect((await client.send(new ListTasksCommand({ cluster: 'another-cluster' }))).taskArns).toEqual([]);

    await client.send(new StopTaskCommand({ cluster, task: started[0]! }));
    await waitForStatus(started[0]!, 'STOPPED', cluster);
    const running = await client.send(new ListTasksCommand({ cluster, startedBy: 'lister', desiredStatus: 'RUNNING' }));
    expect(running.taskArns).toEqual(started.slice(1));
    const stopped = await client.send(new ListTasksCommand({ cluster, startedBy: 'lister', desiredStatus: 'STOPPED' }));
    expect(stopped.taskArns).toEqual([started[0]]);

    const bad = await rejection(client.send(new ListTasksCommand({ cluster, nextToken: 'garbage' })));
    expect(bad.name).toBe('InvalidParameterException');
    const tooMany = await rejection(client.send(new ListTasksCommand({ cluster, maxResults: 101 })));
    expect(tooMany.name).toBe('InvalidParameterException');

    for (const arn of started.slice(1)) await client.send(new StopTaskCommand({ cluster, task: arn }));
  });

  it('DescribeTasks reports unknown tasks as MISSING failures', async () => {
    const task = await runOne({ taskDefinition: 'exit-3' });
    const unknown = 'arn:aws:ecs:us-east-1:000000000000:task/default/0123456789abcdef0123456789abcdef';
    const out = await client.send(new DescribeTasksCommand({ tasks: [task.taskArn!, unknown, 'not-a-task'] }));
    expect(out.tasks?.map((t) => t.taskArn)).toEqual([task.taskArn]);
    expect(out.failures).toEqual([
      { arn: unknown, reason: 'MISSING' },
      { arn: 'not-a-task', reason: 'MISSING' },
    ]);
    // A task is found only in its own cluster.
    const elsewhere = await client.send(new DescribeTasksCommand({ cluster: 'other', tasks: [task.taskArn!] }));
    expect(elsewhere.failures).toEqual([{ arn: task.taskArn, reason: 'MISSING' }]);
  });

  it('the same clientToken returns the same task and starts one process; a new token starts a new one', async () => {
    const out = join(dir, 'idempotent.jsonl');
    const input = {
      cluster: 'saga',
      taskDefinition: 'echo-env',
      clientToken: 'launch-attempt-0001',
      overrides: { containerOverrides: [{ name: 'app', environment: [{ name: 'OUT_FILE', value: out }] }] },
    };
    const before = ecs.stats();
    const first = await runOne(input);
    await waitForStatus(first.taskArn!, 'STOPPED', 'saga');
    const second = await runOne(input);
    expect(second.taskArn).toBe(first.taskArn);
    expect(second.lastStatus).toBe('STOPPED');
    const after = ecs.stats();
    expect(after.runTaskCalls - before.runTaskCalls).toBe(2);
    expect(after.tasksStarted - before.tasksStarted).toBe(1);
    expect(after.runTaskReplays - before.runTaskReplays).toBe(1);
    expect(await lines(out)).toHaveLength(1);

    const third = await runOne({ ...input, clientToken: 'launch-attempt-0002' });
    expect(third.taskArn).not.toBe(first.taskArn);
    await waitForStatus(third.taskArn!, 'STOPPED', 'saga');
    expect(await lines(out)).toHaveLength(2);

    const mismatch = await rejection(client.send(new RunTaskCommand({ ...AWSVPC, ...input, startedBy: 'someone-else' })));
    expect(mismatch.name).toBe('ConflictException');
    // Tokens are scoped per cluster: the same token in another cluster is a new launch.
    const elsewhere = await runOne({ ...input, cluster: 'other' });
    expect(elsewhere.taskArn).not.toBe(first.taskArn);
  });

  it('validation errors surface as the SDK exception names', async () => {
    const count11 = await rejection(client.send(new RunTaskCommand({ ...AWSVPC, taskDefinition: 'exit-3', count: 11 })));
    expect(count11.name).toBe('InvalidParameterException');
    expect(count11.$metadata?.httpStatusCode).toBe(400);

    const big = await rejection(
      client.send(
        new RunTaskCommand({
          ...AWSVPC,
          taskDefinition: 'exit-3',
          overrides: { containerOverrides: [{ name: 'app', environment: [{ name: 'PAYLOAD', value: 'x'.repeat(8200) }] }] },
        }),
      ),
    );
    expect(big.name).toBe('InvalidParameterException');
    expect(big.message).toBe('Container Overrides length must be at most 8192');

    const unknown = await rejection(client.send(new RunTaskCommand({ ...AWSVPC, taskDefinition: 'no-such-family' })));
    expect(unknown.name).toBe('ClientException');
    expect(unknown.message).toMatch(/^Unable to find task definition/);
    const wrongRevision = await rejection(client.send(new RunTaskCommand({ ...AWSVPC, taskDefinition: 'exit-3:2' })));
    expect(wrongRevision.name).toBe('ClientException');
    const broken = await rejection(client.send(new RunTaskCommand({ ...AWSVPC, taskDefinition: 'broken' })));
    expect(broken.name).toBe('ClientException');

    const badCluster = await rejection(client.send(new RunTaskCommand({ ...AWSVPC, taskDefinition: 'exit-3', cluster: 'bad cluster!' })));
    expect(badCluster.name).toBe('InvalidParameterException');

    const longToken = await rejection(
      client.send(new RunTaskCommand({ ...AWSVPC, taskDefinition: 'exit-3', clientToken: 't'.repeat(65) })),
    );
    expect(longToken.name).toBe('InvalidParameterException');
    const longStartedBy = await rejection(
      client.send(new RunTaskCommand({ ...AWSVPC, taskDefinition: 'exit-3', startedBy: 's'.repeat(129) })),
    );
    expect(longStartedBy.name).toBe('InvalidParameterException');
    const badOverride = await rejection(
      client.send(new RunTaskCommand({ ...AWSVPC, taskDefinition: 'exit-3', overrides: { containerOverrides: [{ name: 'sidecar' }] } })),
    );
    expect(badOverride.name).toBe('InvalidParameterException');

    const unsupported = await rejection(client.send(new ListClustersCommand({})));
    expect(unsupported.name).toBe('UnknownOperationException');
  });

  it('ClusterNotFoundException when the endpoint is configured with a list of clusters', async () => {
    const strict = await startLocalEcs({
      port: 0,
      taskDefinitionsDir: defsDir,
      projectRoot: dir,
      clusters: ['saga'],
      logger: new RecordingLogger(),
    });
    const strictClient = newClient(strict.url);
    try {
      const err = await rejection(strictClient.send(new RunTaskCommand({ ...AWSVPC, cluster: 'other', taskDefinition: 'exit-3' })));
      expect(err.name).toBe('ClusterNotFoundException');
      const ok = await strictClient.send(new RunTaskCommand({ ...AWSVPC, cluster: 'saga', taskDefinition: 'exit-3' }));
      expect(ok.tasks).toHaveLength(1);
    } finally {
      strictClient.destroy();
      await strict.close();
    }
  });

  it('throttling injection surfaces as ThrottlingException and starts nothing', async () => {
    const faults = await fetch(`${ecs.url}/_local/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ throttleRate: 1 }),
    });
    expect(faults.status).toBe(200);
    expect(await faults.json()).toMatchObject({ throttleRate: 1, failureRate: 0 });
    const before = ecs.stats();
    const err = await rejection(client.send(new RunTaskCommand({ ...AWSVPC, taskDefinition: 'exit-3' })));
    expect(err.name).toBe('ThrottlingException');
    expect(err.message).toBe('Rate exceeded');
    expect(err.$metadata?.httpStatusCode).toBe(400);
    const after = ecs.stats();
    expect(after.runTaskThrottled - before.runTaskThrottled).toBe(1);
    expect(after.tasksStarted).toBe(before.tasksStarted);

    const invalid = await fetch(`${ecs.url}/_local/faults`, { method: 'POST', body: JSON.stringify({ throttleRate: 2 }) });
    expect(invalid.status).toBe(400);
  });

  it('failure injection answers 200 with failures[] and no task', async () => {
    ecs.setFaults({ failureRate: 1 });
    const before = ecs.stats();
    const out = await client.send(new RunTaskCommand({ ...AWSVPC, taskDefinition: 'exit-3', count: 2, clientToken: 'failing-attempt' }));
    expect(out.tasks).toEqual([]);
    expect(out.failures).toHaveLength(2);
    for (const f of out.failures ?? []) {
      // Fargate's reason, with no container instance: RESOURCE:MEMORY belongs to the EC2 launch type.
      expect(f.reason).toBe('Capacity is unavailable at this time. Please try again later or in a different availability zone');
      expect(f.arn).toBeUndefined();
    }
    const after = ecs.stats();
    expect(after.runTaskFailures - before.runTaskFailures).toBe(1);
    expect(after.tasksStarted).toBe(before.tasksStarted);

    // A failed launch does not consume the token: the retry with the same token starts the task.
    ecs.setFaults({ failureRate: 0 });
    const retry = await client.send(new RunTaskCommand({ ...AWSVPC, taskDefinition: 'exit-3', count: 2, clientToken: 'failing-attempt' }));
    expect(retry.tasks).toHaveLength(2);
  });

  it('a provisioning delay keeps the task PROVISIONING before its process starts', async () => {
    ecs.setFaults({ taskStartDelayMs: 400 });
    const task = await runOne({ taskDefinition: 'sleeper' });
    expect((await describe1(task.taskArn!)).lastStatus).toBe('PROVISIONING');
    expect(ecs.taskPids(task.taskArn!)).toEqual([]);
    await waitForStatus(task.taskArn!, 'RUNNING');
    await client.send(new StopTaskCommand({ task: task.taskArn! }));
    await waitForStatus(task.taskArn!, 'STOPPED');

    // Stopped while provisioning: no process is ever started.
    const never = await runOne({ taskDefinition: 'sleeper' });
    await client.send(new StopTaskCommand({ task: never.taskArn! }));
    const stopped = await waitForStatus(never.taskArn!, 'STOPPED');
    expect(stopped.startedAt).toBeUndefined();
    expect(stopped.stopCode).toBe('UserInitiated');
  });

  it('stats count RunTask calls and tasks started separately', async () => {
    const reset = await fetch(`${ecs.url}/_local/reset-stats`, { method: 'POST' });
    expect(reset.status).toBe(200);
    const out = await client.send(new RunTaskCommand({ ...AWSVPC, taskDefinition: 'exit-3', count: 3 }));
    expect(out.tasks).toHaveLength(3);
    await Promise.all(out.tasks!.map((t) => waitForStatus(t.taskArn!, 'STOPPED')));
    const stats = (await (await fetch(`${ecs.url}/_local/stats`)).json()) as Record<string, number>;
    expect(stats).toMatchObject({
      runTaskCalls: 1,
      runTaskThrottled: 0,
      runTaskFailures: 0,
      tasksStarted: 3,
      tasksStopped: 3,
      tasksExitedNonZero: 3,
    });
    expect(stats['tasksRunning']).toBeTypeOf('number');
  });

  it('close() stops the running tasks with SIGTERM', async () => {
    const own = await startLocalEcs({
      port: 0,
      taskDefinitionsDir: defsDir,
      projectRoot: dir,
      stopTimeoutMs: 2_000,
      logger: new RecordingLogger(),
    });
    const ownClient = newClient(own.url);
    const out = join(dir, 'close.log');
    const run = await ownClient.send(
      new RunTaskCommand({
        ...AWSVPC,
        taskDefinition: 'sleeper',
        overrides: { containerOverrides: [{ name: 'app', environment: [{ name: 'OUT_FILE', value: out }] }] },
      }),
    );
    ownClient.destroy();
    await waitFor(async () => ((await lines(out)).includes('started') ? true : undefined), 'the script to start');
    const [pid] = own.taskPids(run.tasks![0]!.taskArn!);
    expect(pid).toBeTypeOf('number');
    await own.close();
    expect(await lines(out)).toEqual(['started', 'SIGTERM']);
    expect(() => process.kill(pid!, 0)).toThrow();
    expect(own.stats()).toMatchObject({ tasksRunning: 0, tasksStopped: 1 });
  });
});
