import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../support/ports.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { LocalEcs } from '../../src/dev/ecs-local/index.js';
import { cloneRunDatabase, uniquePrefix } from '../support/databases.js';
import { ecsSystemEnv, startTestEcs } from '../support/ecs.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.js';
import { eventually } from '../support/system.js';

/**
 * One trace per saga across processes (ADR 29): the real trace SDK in each process exports
 * OTLP/HTTP to a receiver in this test process. The API and the worker (BullMQ) or the API and
 * one ECS task process per use case (the local endpoint) run as separate processes from dist/.
 */
const SERVER = 2;
const children: ChildProcess[] = [];
const closing: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const close of closing.splice(0)) await close();
});

function spawnEntrypoint(script: string, env: Record<string, string>): { output: () => string } {
  const child = spawn(process.execPath, [script], { env: { PATH: process.env['PATH'], ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  return { output: () => output };
}

function tracingEnv(receiver: OtlpReceiver): Record<string, string> {
  return { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '200' };
}

async function apiProcess(env: Record<string, string>): Promise<{ url: string; output: () => string }> {
  const port = await freePort();
  const { output } = spawnEntrypoint('dist/entrypoints/api-server.js', {
    LOG_LEVEL: 'info',
    AUTH_MODE: 'off',
    RATE_LIMIT_MAX: '0',
    RATE_LIMIT_SAGA_MAX: '0',
    HOST: '127.0.0.1',
    PORT: String(port),
    ...env,
  });
  const url = `http://127.0.0.1:${port}`;
  await eventually(async () => ((await fetch(`${url}/health/ready`)).ok ? true : undefined), {
    timeoutMs: 30_000,
    intervalMs: 100,
    what: `the API on ${port} (${output().slice(-2000)})`,
  });
  return { url, output };
}

async function post(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function orderStatus(api: string, id: string): Promise<string> {
  return ((await (await fetch(`${api}/orders/${id}`)).json()) as { status: string }).status;
}

/** The saga's first span: the API's server span of the POST, in one of these traces. */
function serverSpan(spans: readonly ReceivedSpan[], route: string, traceIds: ReadonlySet<string>): ReceivedSpan | undefined {
  return spans.find((s) => s.kind === SERVER && s.name === route && traceIds.has(s.traceId) && s.attributes['http.route'] !== undefined);
}

/** Whether `span` descends from the span `ancestorId` through parent links within the received spans. */
function descendsFrom(spans: readonly ReceivedSpan[], span: ReceivedSpan, ancestorId: string): boolean {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  let current: ReceivedSpan | undefined = span;
  for (let hops = 0; current && hops < 100; hops++) {
    if (current.parentSpanId === ancestorId) return true;
    current = byId.get(current.parentSpanId);
  }
  return false;
}

/** The trace of every span made for one order (its `process` spans carry its id). */
function traceIdsOf(spans: readonly ReceivedSpan[], orderId: string): Set<string> {
  return new Set(spans.filter((s) => s.attributes['messaging.message.conversation_id'] === orderId).map((s) => s.traceId));
}

const DELIVERED = {
  choreography: ['customer.reserve-credit', 'order.approve-order'],
  orchestration: ['customer.reserve-credit', 'order.place-order-saga'],
} as const;

interface Started {
  readonly api: string;
  readonly apiOutput: () => string;
  readonly ecs?: LocalEcs;
}

async function startBullmq(style: 'choreography' | 'orchestration', receiver: OtlpReceiver): Promise<Started> {
  const env = {
    DATABASE_URL: await cloneRunDatabase(),
    REDIS_URL: process.env['REDIS_URL']!,
    BULLMQ_PREFIX: uniquePrefix(),
    EVENT_BUS: 'bullmq',
    SAGA_STYLE: style,
    ...tracingEnv(receiver),
  };
  const { url, output } = await apiProcess(env);
  spawnEntrypoint('dist/entrypoints/worker.js', { ...env, LOG_LEVEL: 'warn', METRICS_PORT: '0' });
  return { api: url, apiOutput: output };
}

async function startEcs(style: 'choreography' | 'orchestration', receiver: OtlpReceiver): Promise<Started> {
  const databaseUrl = await cloneRunDatabase();
  const ecs = await startTestEcs(databaseUrl, { SAGA_STYLE: style, ...tracingEnv(receiver) });
  closing.push(() => ecs.close());
  const { url, output } = await apiProcess({
    DATABASE_URL: databaseUrl,
    SAGA_STYLE: style,
    ...ecsSystemEnv(ecs.url),
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...tracingEnv(receiver),
  });
  return { api: url, apiOutput: output, ecs };
}

describe.each([
  ['bullmq', startBullmq, 2],
  ['ecs', startEcs, 3],
] as const)('one trace per saga on %s', (transport, startSystem, minProcesses) => {
  it.each(['choreography', 'orchestration'] as const)(
    '%s: POST /orders to the last delivery is one trace',
    { timeout: 120_000 },
    async (style) => {
      const receiver = await startOtlpReceiver();
      closing.push(() => receiver.close());
      const { api, apiOutput } = await startSystem(style, receiver);

      const customer = await post(`${api}/customers`, { name: 'Traced', creditLimit: { amount: 10_000, currency: 'USD' } });
      expect(customer.status).toBe(201);
      const order = await post(`${api}/orders`, { customerId: customer.json['id'], total: { amount: 2_500, currency: 'USD' } });
      expect(order.status).toBe(202);
      const orderId = String(order.json['id']);
      await eventually(async () => ((await orderStatus(api, orderId)) === 'APPROVED' ? true : undefined), {
        timeoutMs: 60_000,
        intervalMs: 100,
        what: `order ${orderId} to be approved (API: ${apiOutput().slice(-3000)})`,
      });

      // Every process exports within OTEL_BSP_SCHEDULE_DELAY; a task flushes before it exits.
      const delivered = DELIVERED[style];
      const { root, deliveries, traceId } = await eventually(
        async () => {
          const traceIds = traceIdsOf(receiver.spans, orderId);
          if (traceIds.size !== 1) return undefined;
          const [traceId] = traceIds as unknown as [string];
          const post = serverSpan(receiver.spans, 'POST /orders', traceIds);
          const deliveries = delivered.map((useCase) =>
            receiver.spans.find((s) => s.traceId === traceId && s.name.startsWith('process ') && s.attributes['saga.use_case'] === useCase),
          );
          return post && deliveries.every(Boolean) ? { root: post, deliveries: deliveries as ReceivedSpan[], traceId } : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200, what: `the spans of order ${orderId} (${receiver.spans.length} received)` },
      );
      expect(receiver.rejected).toEqual([]);

      // All spans of the order share one trace id: the POST's, and each delivery descends from it.
      expect(traceIdsOf(receiver.spans, orderId)).toEqual(new Set([traceId]));
      expect(root.parentSpanId).toBe('');
      for (const delivery of deliveries) {
        expect(descendsFrom(receiver.spans, delivery, root.spanId), `${delivery.name} descends from POST /orders`).toBe(true);
        expect(delivery.attributes).toMatchObject({ 'messaging.operation.type': 'process', 'messaging.message.conversation_id': orderId });
      }
      const trace = receiver.spans.filter((s) => s.traceId === traceId);
      // The library instrumentations ran in the API: its statements are spans of the request.
      expect(trace.some((s) => s.scope === '@opentelemetry/instrumentation-pg' && descendsFrom(trace, s, root.spanId))).toBe(true);

      // Spans from separate processes: API and worker, or API and one task per use case.
      const processes = new Set(trace.map((s) => String(s.resource['service.instance.id'])));
      expect(processes.size).toBeGreaterThanOrEqual(minProcesses);
      const services = new Set(trace.map((s) => String(s.resource['service.name'])));
      if (transport === 'ecs') {
        for (const useCase of delivered) expect([...services]).toContain(`saga-task-${useCase}`);
        // The launch decisions were traced in the relay's pass (linked to the messages), and each
        // task's own span links to the decision that launched it.
        const launches = receiver.spans.filter((s) => s.name.startsWith('ecs.launch '));
        expect(launches.length).toBeGreaterThan(0);
        // The AWS SDK's instrumentation made RunTask a client span of the decision that called it.
        const runTasks = receiver.spans.filter((s) => s.scope === '@opentelemetry/instrumentation-aws-sdk' && s.name === 'ECS.RunTask');
        expect(runTasks.some((r) => launches.some((launch) => launch.spanId === r.parentSpanId))).toBe(true);
        const tasks = receiver.spans.filter((s) => s.name.startsWith('ecs.task '));
        expect(tasks.some((t) => t.links.some((l) => launches.some((launch) => launch.spanId === l.spanId)))).toBe(true);
        expect(tasks.every((t) => t.events.some((e) => e.name === 'spawned'))).toBe(true);
      } else {
        expect([...services].sort()).toEqual(['saga-api-server', 'saga-worker']);
        // BullMQ's Redis commands were traced (the relay's publishing), and name their arguments
        // without their values: a job's data is the message, with its ids and amounts.
        const redis = receiver.spans.filter((s) => s.scope === '@opentelemetry/instrumentation-ioredis');
        expect(redis.length).toBeGreaterThan(0);
        for (const span of redis) {
          const statement = String(span.attributes['db.query.text'] ?? span.attributes['db.statement'] ?? '');
          expect(statement).toMatch(/^\w+ \[\d+ arguments\]$/);
        }
        expect(JSON.stringify(redis)).not.toContain(orderId);
        expect(JSON.stringify(redis)).not.toContain(String(customer.json['id']));
      }
      // The relay's pass that published the order's first message links to it.
      // It says what it relayed: how many messages, of which types, for which use cases.
      const publishes = receiver.spans.filter((s) => s.name.startsWith('publish ') && s.links.some((l) => l.traceId === traceId));
      const first = publishes.find((p) => (p.attributes['saga.use_cases'] as string[] | undefined)?.includes(delivered[0]));
      expect(first?.attributes).toMatchObject({ 'messaging.operation.type': 'publish' });
      expect(Number(first?.attributes['messaging.batch.message_count'])).toBeGreaterThanOrEqual(1);
      expect((first?.attributes['saga.message_types'] as string[] | undefined)?.length).toBeGreaterThanOrEqual(1);

      // The API's log lines of the request carry its trace id.
      expect(apiOutput()).toContain(`"trace_id":"${traceId}"`);
    },
  );
});

describe('compensation on ECS', () => {
  it('a cancellation is the trace of its request, down to the credit released in a task', { timeout: 120_000 }, async () => {
    const receiver = await startOtlpReceiver();
    closing.push(() => receiver.close());
    const { api } = await startEcs('choreography', receiver);
    const customer = await post(`${api}/customers`, { name: 'Traced', creditLimit: { amount: 10_000, currency: 'USD' } });
    const order = await post(`${api}/orders`, { customerId: customer.json['id'], total: { amount: 2_500, currency: 'USD' } });
    const orderId = String(order.json['id']);
    await eventually(async () => ((await orderStatus(api, orderId)) === 'APPROVED' ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    expect((await post(`${api}/orders/${orderId}/cancel`, {})).status).toBe(202);
    const release = await eventually(
      async () => receiver.spans.find((s) => s.name.startsWith('process ') && s.attributes['saga.use_case'] === 'customer.release-credit'),
      { timeoutMs: 60_000, intervalMs: 200, what: 'the release-credit delivery span' },
    );
    const cancel = await eventually(
      async () => receiver.spans.find((s) => s.kind === SERVER && s.name === 'POST /orders/:id/cancel' && s.traceId === release.traceId),
      { timeoutMs: 10_000, intervalMs: 200, what: 'the cancel request span in the same trace' },
    );
    expect(descendsFrom(receiver.spans, release, cancel.spanId)).toBe(true);
    expect(String(release.resource['service.name'])).toBe('saga-task-customer.release-credit');
  });
});
