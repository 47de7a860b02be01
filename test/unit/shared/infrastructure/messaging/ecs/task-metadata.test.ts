import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readTaskMetadata, TaskMetadataError } from '../../../../../../src/shared/infrastructure/messaging/ecs/task-metadata.js';

/** Fargate's answer to `${ECS_CONTAINER_METADATA_URI_V4}/task`, trimmed (AWS's documented example). */
const FARGATE_TASK = {
  Cluster: 'arn:aws:ecs:us-east-1:123456789012:cluster/MyEmptyCluster',
  TaskARN: 'arn:aws:ecs:us-east-1:123456789012:task/MyEmptyCluster/bfa2636268144d039771334145e490c5',
  Family: 'sample-fargate',
  Revision: '5',
  DesiredStatus: 'RUNNING',
  KnownStatus: 'RUNNING',
  Limits: { CPU: 0.25, Memory: 512 },
  PullStartedAt: '2023-07-21T15:45:33.532811081Z',
  PullStoppedAt: '2023-07-21T15:45:38.541068435Z',
  AvailabilityZone: 'us-east-1d',
  Containers: [{ DockerId: 'bfa2636268144d039771334145e490c5-1117626119', Name: 'curl-image', Type: 'NORMAL' }],
  LaunchType: 'FARGATE',
  ClockDrift: { ClockErrorBound: 0.446931, ReferenceTimestamp: '2023-07-21T16:09:17Z', ClockSynchronizationStatus: 'SYNCHRONIZED' },
  EphemeralStorageMetrics: { Utilized: 261, Reserved: 20496 },
};

const servers: Server[] = [];

/** A metadata endpoint on a free port; `handler` answers each request (its 1-based number given). */
async function endpoint(
  handler: (n: number, req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ uri: string; calls: string[] }> {
  const calls: string[] = [];
  const server = createServer((req, res) => {
    calls.push(req.url ?? '');
    handler(calls.length, req, res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { uri: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v4/bfa2636268144d039771334145e490c5-1117626119`, calls };
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

describe('readTaskMetadata', () => {
  it('is null off ECS (ECS_CONTAINER_METADATA_URI_V4 unset or empty), without a request', async () => {
    const fetchImpl = (() => Promise.reject(new Error('no request expected'))) as typeof fetch;
    expect(await readTaskMetadata({ env: {}, fetchImpl })).toBeNull();
    expect(await readTaskMetadata({ env: { ECS_CONTAINER_METADATA_URI_V4: '' }, fetchImpl })).toBeNull();
  });

  it('reads the task from <uri>/task, times as Dates (Go’s nanoseconds cut to milliseconds)', async () => {
    const { uri, calls } = await endpoint((_n, _req, res) => json(res, 200, FARGATE_TASK));
    expect(await readTaskMetadata({ env: { ECS_CONTAINER_METADATA_URI_V4: uri } })).toEqual({
      taskArn: FARGATE_TASK.TaskARN,
      cluster: FARGATE_TASK.Cluster,
      family: 'sample-fargate',
      revision: '5',
      pullStartedAt: new Date('2023-07-21T15:45:33.532Z'),
      pullStoppedAt: new Date('2023-07-21T15:45:38.541Z'),
      availabilityZone: 'us-east-1d',
      launchType: 'FARGATE',
    });
    expect(calls).toEqual(['/v4/bfa2636268144d039771334145e490c5-1117626119/task']);
  });

  it('gives null for what the endpoint leaves out (no pull yet, no zone, an older agent without LaunchType)', async () => {
    const { PullStartedAt: _a, PullStoppedAt: _b, AvailabilityZone: _c, LaunchType: _d, ...bare } = FARGATE_TASK;
    const { uri } = await endpoint((_n, _req, res) => json(res, 200, bare));
    expect(await readTaskMetadata({ env: { ECS_CONTAINER_METADATA_URI_V4: uri } })).toMatchObject({
      pullStartedAt: null,
      pullStoppedAt: null,
      availabilityZone: null,
      launchType: null,
    });
  });

  it('retries an agent that answers 5xx right at container start, then reads', async () => {
    const { uri, calls } = await endpoint((n, _req, res) =>
      n <= 2 ? json(res, 500, 'V4 task metadata handler: failed to get task metadata') : json(res, 200, FARGATE_TASK),
    );
    const metadata = await readTaskMetadata({ env: { ECS_CONTAINER_METADATA_URI_V4: uri } });
    expect(metadata?.taskArn).toBe(FARGATE_TASK.TaskARN);
    expect(calls).toHaveLength(3);
  });

  it('retries a refused connection (the agent not listening yet)', async () => {
    let attempts = 0;
    const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
      attempts++;
      if (attempts <= 2)
        throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
      return fetch(input, init);
    }) as typeof fetch;
    const { uri } = await endpoint((_n, _req, res) => json(res, 200, FARGATE_TASK));
    expect((await readTaskMetadata({ env: { ECS_CONTAINER_METADATA_URI_V4: uri }, fetchImpl }))?.family).toBe('sample-fargate');
    expect(attempts).toBe(3);
  });

  it('gives up on a 4xx at once (an unknown container id), naming the endpoint and its answer', async () => {
    const { uri, calls } = await endpoint((_n, _req, res) =>
      json(res, 404, 'V4 task metadata handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: x'),
    );
    await expect(readTaskMetadata({ env: { ECS_CONTAINER_METADATA_URI_V4: uri } })).rejects.toThrow(
      /task metadata endpoint http:\/\/127\.0\.0\.1:\d+\/v4\/.+\/task answered HTTP 404: "V4 task metadata handler/,
    );
    expect(calls).toHaveLength(1);
  });

  it('throws a clear error on a malformed body, without retrying', async () => {
    const { uri, calls } = await endpoint((n, _req, res) =>
      n === 1 ? json(res, 200, { ...FARGATE_TASK, TaskARN: 42, PullStartedAt: 'yesterday' }) : res.end('{"Cluster": '),
    );
    const env = { ECS_CONTAINER_METADATA_URI_V4: uri };
    const malformed = await readTaskMetadata({ env }).catch((err: unknown) => err);
    expect(malformed).toBeInstanceOf(TaskMetadataError);
    expect((malformed as Error).message).toMatch(/answered malformed task metadata/);
    expect((malformed as Error).message).toMatch(/TaskARN/);
    expect((malformed as Error).message).toMatch(/not an RFC 3339 timestamp: yesterday/);
    await expect(readTaskMetadata({ env })).rejects.toThrow(/answered a body that is not JSON: \{"Cluster": /);
    expect(calls).toHaveLength(2);
  });

  it('honours its timeout over a hung endpoint', async () => {
    const { uri } = await endpoint(() => undefined); // reads the request, never answers
    const started = Date.now();
    await expect(readTaskMetadata({ env: { ECS_CONTAINER_METADATA_URI_V4: uri }, timeoutMs: 200 })).rejects.toThrow(
      /did not answer within 200 ms/,
    );
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(3_000);
  });

  it('honours its timeout over an agent that keeps failing, retries included', async () => {
    const { uri, calls } = await endpoint((_n, _req, res) => json(res, 503, 'not ready'));
    const started = Date.now();
    // The last try is either answered (503) or cut by the deadline, depending on the machine's load.
    await expect(readTaskMetadata({ env: { ECS_CONTAINER_METADATA_URI_V4: uri }, timeoutMs: 600 })).rejects.toThrow(
      /did not answer within 600 ms \(last: (HTTP 503|The operation was aborted)/,
    );
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(calls.length).toBeGreaterThanOrEqual(2);
  });
});
