import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTasksCommand, ECSClient, RunTaskCommand, type Task } from '@aws-sdk/client-ecs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { localEcsClient } from '../support/ecs.js';
import { silentEcsLocalLogger, startLocalEcs, type LocalEcs } from '../../src/dev/ecs-local/index.js';
import { readTaskMetadata } from '../../src/shared/infrastructure/messaging/ecs/task-metadata.js';

/**
 * The local ECS endpoint gives every container the task metadata endpoint v4 as Fargate does
 * (ECS_CONTAINER_METADATA_URI_V4): the container reads its task's identity and timings there, and
 * they are DescribeTasks' view of the same task. The real SDK is the client.
 */

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

const AWSVPC = { networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-local'] } } };
/** Go's RFC 3339 in UTC, as the ECS agent writes times. */
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

// The container reads both metadata paths, writes what it read to metadata-<task id>.json, and exits 3.
const READS_ITS_METADATA = [
  'const base = process.env.ECS_CONTAINER_METADATA_URI_V4;',
  '(async () => {',
  "  const task = await (await fetch(base + '/task')).json();",
  '  const container = await (await fetch(base)).json();',
  "  const file = 'metadata-' + task.TaskARN.split('/').pop() + '.json';",
  "  require('fs').writeFileSync(file, JSON.stringify({ base, task, container, taskArnVar: process.env.ECS_TASK_ARN }));",
  '  setTimeout(() => process.exit(3), 100);',
  '})();',
].join('\n');

interface Read {
  base: string;
  task: Record<string, unknown> & { Containers: Record<string, unknown>[] };
  container: Record<string, unknown>;
  taskArnVar: string | undefined;
}

let dir: string;
let ecs: LocalEcs;
let client: ECSClient;

async function until(arn: string, done: (task: Task) => boolean): Promise<Task> {
  for (let i = 0; i < 400; i++) {
    const task = (await client.send(new DescribeTasksCommand({ tasks: [arn], cluster: 'apps' }))).tasks?.[0];
    if (task && done(task)) return task;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`task ${arn} never reached the expected state`);
}

async function readBy(arn: string): Promise<Read> {
  const file = join(dir, `metadata-${arn.split('/').pop()}.json`);
  for (let i = 0; i < 400 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 20));
  return JSON.parse(await readFile(file, 'utf8')) as Read;
}

async function runTask(): Promise<string> {
  const out = await client.send(new RunTaskCommand({ taskDefinition: 'reads-metadata', cluster: 'apps', ...AWSVPC }));
  const arn = out.tasks?.[0]?.taskArn;
  if (arn === undefined) throw new Error(`RunTask started nothing: ${JSON.stringify(out.failures)}`);
  return arn;
}

const ms = (text: unknown) => new Date(String(text)).getTime();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ecs-metadata-'));
  await mkdir(join(dir, 'defs'));
  await writeFile(
    join(dir, 'defs', 'reads-metadata.json'),
    JSON.stringify({
      family: 'reads-metadata',
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: '256',
      memory: '512',
      containerDefinitions: [{ name: 'app', image: 'saga:local', essential: true, command: ['node', '-e', READS_ITS_METADATA] }],
    }),
  );
  ecs = await startLocalEcs({
    port: 0,
    taskDefinitionsDir: join(dir, 'defs'),
    projectRoot: dir,
    logger: silentEcsLocalLogger,
    profile: 'fargate',
    timeScale: 10,
    seed: 11,
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
  ecs.setFaults({ taskStartDelayMs: 0 });
});

describe('the task metadata endpoint v4 of a local task', () => {
  it('tells the container its task as DescribeTasks describes it, in the agent’s Fargate shape', async () => {
    const arn = await runTask();
    const read = await readBy(arn);
    const described = await until(arn, (t) => t.lastStatus === 'STOPPED');

    expect(read.base).toMatch(new RegExp(`^${ecs.url}/v4/${arn.split('/').pop()}-\\d+$`));
    const { task, container } = read;
    expect(task).toMatchObject({
      Cluster: described.clusterArn,
      TaskARN: described.taskArn,
      Family: 'reads-metadata',
      Revision: described.taskDefinitionArn?.split(':').pop(),
      DesiredStatus: 'RUNNING',
      KnownStatus: 'RUNNING',
      Limits: { CPU: 0.25, Memory: 512 },
      AvailabilityZone: 'us-east-1a',
      LaunchType: 'FARGATE',
      ClockDrift: { ClockSynchronizationStatus: 'SYNCHRONIZED' },
      EphemeralStorageMetrics: { Utilized: 0, Reserved: 20_496 },
    });
    expect(described.clusterArn).toBe('arn:aws:ecs:us-east-1:000000000000:cluster/apps');
    for (const key of ['PullStartedAt', 'PullStoppedAt']) expect(task[key]).toMatch(RFC3339);
    expect(ms(task['PullStartedAt'])).toBe(described.pullStartedAt?.getTime());
    expect(ms(task['PullStoppedAt'])).toBe(described.pullStoppedAt?.getTime());
    expect(ms(task['PullStartedAt'])).toBeLessThanOrEqual(ms(task['PullStoppedAt']));
    expect(ms(task['PullStoppedAt'])).toBeLessThanOrEqual(described.startedAt!.getTime());

    // The container endpoint answers the container itself, as the task's list has it.
    expect(container).toMatchObject({
      DockerId: read.base.split('/').pop(),
      Name: 'app',
      DockerName: 'app',
      Image: 'saga:local',
      DesiredStatus: 'RUNNING',
      KnownStatus: 'RUNNING',
      Type: 'NORMAL',
      ContainerARN: described.containers?.[0]?.containerArn,
      Labels: {
        'com.amazonaws.ecs.cluster': described.clusterArn,
        'com.amazonaws.ecs.container-name': 'app',
        'com.amazonaws.ecs.task-arn': arn,
        'com.amazonaws.ecs.task-definition-family': 'reads-metadata',
        'com.amazonaws.ecs.task-definition-version': task['Revision'],
      },
      Networks: [{ NetworkMode: 'awsvpc', IPv4Addresses: ['127.0.0.1'] }],
    });
    expect(container).not.toHaveProperty('ExitCode');
    expect(task.Containers).toEqual([container]);
    expect(container['CreatedAt']).toMatch(RFC3339);
    expect(ms(container['StartedAt'])).toBeGreaterThanOrEqual(ms(task['PullStoppedAt']));
    // Not an AWS variable, so not this endpoint's either.
    expect(read.taskArnVar).toBeUndefined();
  });

  it('follows the task to STOPPED, with the container’s exit code, and readTaskMetadata parses it', async () => {
    const arn = await runTask();
    const { base } = await readBy(arn);
    const described = await until(arn, (t) => t.lastStatus === 'STOPPED');

    const after = (await (await fetch(`${base}/task`)).json()) as Read['task'];
    expect(after).toMatchObject({ DesiredStatus: 'STOPPED', KnownStatus: 'STOPPED' });
    expect(ms(after['ExecutionStoppedAt'])).toBe(described.executionStoppedAt?.getTime());
    expect(after.Containers[0]).toMatchObject({ KnownStatus: 'STOPPED', DesiredStatus: 'STOPPED', ExitCode: 3 });
    expect(described.containers?.[0]?.exitCode).toBe(3);
    expect(ms(after.Containers[0]?.['FinishedAt'])).toBeGreaterThanOrEqual(ms(after.Containers[0]?.['StartedAt']));

    const metadata = await readTaskMetadata({ env: { ECS_CONTAINER_METADATA_URI_V4: base } });
    expect(metadata).toEqual({
      taskArn: arn,
      cluster: described.clusterArn,
      family: 'reads-metadata',
      revision: described.taskDefinitionArn?.split(':').pop(),
      pullStartedAt: described.pullStartedAt,
      pullStoppedAt: described.pullStoppedAt,
      availabilityZone: 'us-east-1a',
      launchType: 'FARGATE',
    });
  });

  it('reports the simulated image pull: PullStartedAt precedes StartedAt by the start delay', async () => {
    const delay = 600;
    ecs.setFaults({ taskStartDelayMs: delay });
    const arn = await runTask();
    const provisioning = (await client.send(new DescribeTasksCommand({ tasks: [arn], cluster: 'apps' }))).tasks?.[0];
    expect(provisioning?.lastStatus).toBe('PROVISIONING');
    expect(provisioning?.pullStoppedAt).toBeUndefined();

    const { task, container } = await readBy(arn);
    const described = await until(arn, (t) => t.lastStatus === 'STOPPED');
    const pulling = ms(task['PullStoppedAt']) - ms(task['PullStartedAt']);
    expect(pulling).toBeGreaterThanOrEqual(delay - 5);
    expect(pulling).toBeLessThan(delay + 500);
    const startedAfter = described.startedAt!.getTime() - ms(task['PullStartedAt']);
    expect(startedAfter).toBeGreaterThanOrEqual(delay - 5);
    expect(startedAfter).toBeLessThan(delay + 1_000);
    expect(ms(container['StartedAt'])).toBeGreaterThanOrEqual(ms(task['PullStoppedAt']));
    expect(described.createdAt!.getTime()).toBeLessThanOrEqual(ms(task['PullStartedAt']));
  });

  it('answers an unknown id with the agent’s 404 and its message as a JSON string', async () => {
    const unknown = `${'0'.repeat(32)}-123`;
    const task = await fetch(`${ecs.url}/v4/${unknown}/task`);
    expect(task.status).toBe(404);
    expect(task.headers.get('content-type')).toBe('application/json');
    expect(await task.json()).toBe(
      `V4 task metadata handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: ${unknown}`,
    );

    const container = await fetch(`${ecs.url}/v4/${unknown}`);
    expect(container.status).toBe(404);
    expect(await container.json()).toBe(
      `V4 container metadata handler: unable to get container ID from request: unable to get docker ID from v3 endpoint ID: ${unknown}`,
    );

    await expect(readTaskMetadata({ env: { ECS_CONTAINER_METADATA_URI_V4: `${ecs.url}/v4/${unknown}` } })).rejects.toThrow(
      /answered HTTP 404: "V4 task metadata handler/,
    );
    // A path the agent does not route.
    expect((await fetch(`${ecs.url}/v4/${unknown}/nothing/here`)).status).toBe(404);
  });
});
