import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { TracerProvider, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../../src/shared/kernel/errors.js';
import {
  recordError,
  shutdownTracing,
  spanContextOf,
  stampSend,
  tracingEnabled,
  tracingStarted,
  traceparentOf,
} from '../../../src/shared/infrastructure/observability/tracing.js';

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

it('with tracing off, a message is left as it is: the same object, the kernel traceparent', () => {
  expect(tracingEnabled()).toBe(false);
  const written = message();
  expect(stampSend(written, 'saga-outbox')).toBe(written);
});

describe('stampSend (the traceparent a message written now carries)', () => {
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(provider);
    tracingStarted(() => provider.shutdown());
  });
  // The unit tests share their worker (no isolation): tracing must be off again for the next file.
  afterAll(async () => {
    await shutdownTracing();
    expect(tracingEnabled()).toBe(false);
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

  it('records a domain error by its code, never its message (it quotes the input); others keep theirs', () => {
    const tracer = provider.getTracer('test');
    const refused = tracer.startSpan('process customer.registered.v1');
    recordError(refused, new ValidationError('INVALID_NAME', 'name "Ada Lovelace, 12 Main St" is too long'));
    refused.end();
    const broken = tracer.startSpan('deliver customer.reserve-credit');
    recordError(broken, new Error('Connection terminated unexpectedly'));
    broken.end();
    const [a, b] = ended as [ReadableSpan, ReadableSpan];
    expect(JSON.stringify({ events: a.events, status: a.status })).not.toContain('Main St');
    expect(a.status).toEqual({ code: 2, message: 'INVALID_NAME' });
    expect(a.events[0]?.attributes).toMatchObject({ 'exception.type': 'ValidationError', 'exception.message': 'INVALID_NAME' });
    expect(b.status).toEqual({ code: 2, message: 'Connection terminated unexpectedly' });
    expect(b.events[0]?.attributes?.['exception.stacktrace']).toContain('Connection terminated unexpectedly');
  });
});
