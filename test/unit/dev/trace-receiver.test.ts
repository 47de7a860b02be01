import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it } from 'vitest';
import type { Span } from '../../../src/dev/traces/otlp-json.js';
import { startTraceReceiver, type TraceReceiver } from '../../../src/dev/traces/receiver.js';

/**
 * `npm run traces` (src/dev/traces/): the real OpenTelemetry OTLP/HTTP exporter, as every process of
 * the platform uses it, sends to the receiver, which prints each settled trace as a tree.
 */
const open: Array<{ close(): Promise<unknown> }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

interface Printed {
  readonly tree: string;
  readonly spans: readonly Span[];
}

async function receiver(settleMs = 150): Promise<{ receiver: TraceReceiver; printed: Printed[]; rejected: string[] }> {
  const printed: Printed[] = [];
  const rejected: string[] = [];
  const started = await startTraceReceiver({
    host: '127.0.0.1',
    port: 0,
    settleMs,
    onTrace: (tree, spans) => printed.push({ tree, spans }),
    onRejected: (problem) => rejected.push(problem),
  });
  open.push(started);
  return { receiver: started, printed, rejected };
}

/** A process's tracer, exporting each span as it ends with the real exporter (JSON, as tracing-sdk.ts configures it). */
function provider(service: string, endpoint: string, compression: 'gzip' | 'none' = 'none'): TracerProvider {
  const exporter = new OTLPTraceExporter({ url: `${endpoint}/v1/traces`, compression: compression as never });
  const tracerProvider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  open.push({ close: () => tracerProvider.shutdown() });
  return tracerProvider;
}

async function until<T>(read: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = read();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('the dev trace receiver', () => {
  it('prints a trace of two processes as one tree, children under their parents, in start order', async () => {
    const { receiver: r, printed, rejected } = await receiver();
    const api = provider('saga-api', r.endpoint).getTracer('test');
    const worker = provider('saga-worker', r.endpoint, 'gzip').getTracer('test');

    const root = api.startSpan('POST /orders', { kind: SpanKind.SERVER, attributes: { 'http.response.status_code': 202 } });
    const inRoot = trace.setSpan(context.active(), root);
    const insert = api.startSpan('INSERT saga', { kind: SpanKind.CLIENT }, inRoot);
    insert.end();
    const delivery = worker.startSpan('deliver customer.reserve-credit', { kind: SpanKind.CONSUMER }, inRoot);
    const failed = worker.startSpan('UPDATE customer', { kind: SpanKind.CLIENT }, trace.setSpan(context.active(), delivery));
    failed.setStatus({ code: SpanStatusCode.ERROR, message: 'serialization failure' });
    failed.end();
    delivery.end();
    root.end();

    const { tree, spans } = await until(() => printed[0], 'the trace');
    expect(spans).toHaveLength(4);
    const lines = tree.split('\n');
    expect(lines[0]).toBe(`trace ${root.spanContext().traceId}: 4 spans, 2 services, ${lines[0]!.split(', ').at(-1)}`);
    expect(lines.slice(1).map((l) => l.replace(/ \+.*?( ERROR.*)?$/, '$1'))).toEqual([
      '└─ POST /orders (server) 202 [saga-api]',
      '   ├─ INSERT saga (client)',
      '   └─ deliver customer.reserve-credit (consumer) [saga-worker]',
      '      └─ UPDATE customer (client) ERROR: serialization failure',
    ]);
    expect(printed).toHaveLength(1);
    expect(rejected).toEqual([]);
  });

  it('prints a trace only once it settled, and whole again when a span of it arrives later', async () => {
    const { receiver: r, printed } = await receiver(300);
    const tracer = provider('saga-dev-server', r.endpoint).getTracer('test');
    const root = tracer.startSpan('POST /orders');
    const child = tracer.startSpan('relay', {}, trace.setSpan(context.active(), root));
    child.end();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(printed).toHaveLength(0);
    await until(() => printed[0], 'the first print');
    root.end();
    const again = await until(() => printed[1], 'the second print');
    expect(again.spans.map((s) => s.name).sort()).toEqual(['POST /orders', 'relay']);
    expect(again.tree.split('\n')[1]).toMatch(/^└─ POST \/orders/);
    // Before the root arrived, its child was a root of its own (its parent not received).
    expect(printed[0]!.tree.split('\n')[1]).toMatch(/^└─ relay/);
  });

  it('refuses what it cannot read with a line saying why (protobuf, another path)', async () => {
    const { receiver: r, rejected } = await receiver();
    const protobuf = await fetch(`${r.endpoint}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: new Uint8Array([1, 2, 3]),
    });
    expect(protobuf.status).toBe(415);
    const metrics = await fetch(`${r.endpoint}/v1/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(metrics.status).toBe(404);
    expect(rejected).toEqual([expect.stringContaining('OTEL_EXPORTER_OTLP_PROTOCOL=http/json'), expect.stringContaining('/v1/metrics')]);
  });
});
