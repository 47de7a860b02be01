import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { TracerProvider, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { spanContextOf, stampSend, tracingStarted, traceparentOf } from '../../../src/shared/infrastructure/observability/tracing.js';

const ended: ReadableSpan[] = [];
const collect: SpanProcessor = {
  onStart: () => undefined,
  onEnd: (span) => void ended.push(span),
  forceFlush: async () => undefined,
  shutdown: async () => undefined,
};
const provider = new TracerProvider({ spanProcessors: [collect] });
const KERNEL_TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const message = () => ({ id: 'm-1', type: 'order.created.v1', correlationId: 'order-1', traceparent: KERNEL_TRACEPARENT });

describe('stampSend (the traceparent a message written now carries)', () => {
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(provider);
    tracingStarted(() => provider.shutdown());
  });
  afterAll(() => {
    trace.disable();
    context.disable();
  });
  beforeEach(() => void ended.splice(0));

  it('carries the active span, and makes no span of its own', () => {
    const request = provider.getTracer('test').startSpan('POST /orders');
    const stamped = context.with(trace.setSpan(context.active(), request), () => stampSend(message(), 'saga-outbox'));
    request.end();
    expect(stamped.traceparent).toBe(traceparentOf(request.spanContext()));
    expect(ended.map((s) => s.name)).toEqual(['POST /orders']);
  });

  it('without an active span, roots a trace of its own in a send span, not in the kernel traceparent', () => {
    const stamped = stampSend(message(), 'saga-outbox');
    expect(ended).toHaveLength(1);
    const [send] = ended as [ReadableSpan];
    expect(send.name).toBe('send order.created.v1');
    expect(send.parentSpanContext).toBeUndefined();
    expect(send.attributes).toMatchObject({ 'messaging.message.id': 'm-1', 'messaging.message.conversation_id': 'order-1' });
    expect(spanContextOf(stamped.traceparent)).toMatchObject({ traceId: send.spanContext().traceId, spanId: send.spanContext().spanId });
    expect(stamped.traceparent).not.toBe(KERNEL_TRACEPARENT);
  });
});
