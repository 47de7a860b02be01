import { createServer } from 'node:net';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it } from 'vitest';
import { collectorOf, WatchedExporter } from '../../../src/shared/infrastructure/observability/collector-watch.js';
import { startTraceReceiver, type TraceReceiver } from '../../../src/dev/traces/receiver.js';

/** A collector that is not there: the real OTLP/HTTP exporter, a port nothing listens on, then a receiver on it. */
const closing: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close();
});

async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('an unreachable trace collector', () => {
  it('names the variable to set', () => {
    expect(collectorOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318/' })).toEqual({
      variable: 'OTEL_EXPORTER_OTLP_ENDPOINT',
      url: 'http://127.0.0.1:4318/v1/traces',
    });
    expect(collectorOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b/t' })).toEqual({
      variable: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
      url: 'http://b/t',
    });
  });

  it('logs one warning naming OTEL_EXPORTER_OTLP_ENDPOINT for an outage, and one line when it answers again', async () => {
    const port = await unusedPort();
    const collector = collectorOf({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` });
    const lines: Array<{ level: number; msg: string }> = [];
    const exporter = new WatchedExporter(new OTLPTraceExporter({ url: collector.url, timeoutMillis: 2_000 }), collector, (level, msg) =>
      lines.push({ level, msg }),
    );
    const provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'saga-test' }),
      spanProcessors: [new SimpleSpanProcessor({ exporter })],
    });
    closing.push(() => provider.shutdown());
    const tracer = provider.getTracer('test');
    for (let i = 0; i < 3; i++) {
      tracer.startSpan(`unsent ${i}`).end();
      // The processor still hears of each failure (the watch only words it once).
      await provider.forceFlush().catch(() => undefined);
    }
    expect(lines).toHaveLength(1);
    expect(lines[0]!.level).toBe(40);
    expect(lines[0]!.msg).toContain(`the collector at http://127.0.0.1:${port}/v1/traces (OTEL_EXPORTER_OTLP_ENDPOINT) cannot be reached`);
    expect(lines[0]!.msg).toContain('ECONNREFUSED');

    const received: string[] = [];
    const receiver: TraceReceiver = await startTraceReceiver({
      host: '127.0.0.1',
      port,
      settleMs: 50,
      onTrace: (_tree, spans) => received.push(...spans.map((s) => s.name)),
    });
    closing.push(() => receiver.close());
    tracer.startSpan('sent').end();
    await provider.forceFlush();
    expect(lines.slice(1)).toEqual([{ level: 30, msg: `traces: the collector at http://127.0.0.1:${port}/v1/traces answers again` }]);
    await receiver.close();
    expect(received).toEqual(['sent']);
  });
});
