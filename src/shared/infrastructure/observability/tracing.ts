// Over 300 lines on purpose: every span the platform makes (process, relay, launch, late and linked spans) and the traceparent helpers, so one
// file says how a saga becomes one trace (ADR 29); split by span kind, each part would repeat the context rules.
import {
  context,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanContext,
} from '@opentelemetry/api';
import { DomainError } from '../../kernel/errors.js';

/**
 * The spans the platform makes itself, where no library instrumentation can see (ADR 29): a
 * delivery handled (`process`), the transaction of a batch, a relay pass, a launch decision and
 * an ECS task's life. Only `@opentelemetry/api` is
 * used here: with no SDK started (no OTLP endpoint configured) every call below returns at once
 * and the envelopes keep the traceparent the kernel gave them.
 *
 * Context crosses every hop through the envelope's `traceparent`: a message written while a span
 * is active carries that span's context, and its delivery's `process` span is a child of it, in
 * whichever process or ECS task handles it. One saga is one trace.
 */
const tracer = trace.getTracer('saga-platform');

let enabled = false;
let shutdownHook: (() => Promise<void>) | undefined;

/** Called by the SDK once it is registered; until then (and without an SDK) nothing is traced. */
export function tracingStarted(shutdown: () => Promise<void>): void {
  enabled = true;
  shutdownHook = shutdown;
}

export function tracingEnabled(): boolean {
  return enabled;
}

/**
 * Exports what is buffered and stops the SDK (before a process exits), waiting at most `timeoutMs`:
 * a collector that does not answer must not keep a task alive or its exit code from the launcher.
 */
export async function shutdownTracing(timeoutMs = 2_000): Promise<void> {
  const hook = shutdownHook;
  if (!hook) return;
  shutdownHook = undefined;
  enabled = false;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    hook().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The remote span a W3C traceparent names; undefined when it is not one. */
export function spanContextOf(traceparent: string | undefined): SpanContext | undefined {
  const m = traceparent === undefined ? null : TRACEPARENT.exec(traceparent);
  if (!m || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return undefined;
  return { traceId: m[1]!, spanId: m[2]!, traceFlags: Number.parseInt(m[3]!, 16) & 1, isRemote: true };
}

export function traceparentOf(span: SpanContext): string {
  return `00-${span.traceId}-${span.spanId}-0${span.traceFlags & 1}`;
}

/** The trace id of the active span, when tracing is on and a span is active. */
export function activeTraceId(): string | undefined {
  if (!enabled) return undefined;
  const span = trace.getSpan(context.active())?.spanContext();
  return span && trace.isSpanContextValid(span) ? span.traceId : undefined;
}

/** The active span's ids for a log line (pino mixin); empty when none. */
export function activeTraceFields(): { trace_id?: string; span_id?: string; trace_flags?: string } {
  if (!enabled) return {};
  const span = trace.getSpan(context.active())?.spanContext();
  if (!span || !trace.isSpanContextValid(span)) return {};
  return { trace_id: span.traceId, span_id: span.spanId, trace_flags: `0${span.traceFlags & 1}` };
}

/** Names the active span (an HTTP server span) by its route template, and records the route. */
export function nameActiveSpan(name: string, attributes: Attributes): void {
  if (!enabled) return;
  const span = trace.getSpan(context.active());
  if (!span) return;
  span.updateName(name);
  span.setAttributes(attributes);
}

/** Sets attributes on the active span, when tracing is on. */
export function annotate(attributes: Attributes): void {
  if (!enabled) return;
  trace.getSpan(context.active())?.setAttributes(attributes);
}

/** Adds an event to the active span, when tracing is on. */
export function activeSpanEvent(name: string, attributes?: Attributes): void {
  if (!enabled) return;
  trace.getSpan(context.active())?.addEvent(name, attributes);
}

/** The active span as a W3C traceparent (to hand to a process this one starts); undefined when none. */
export function activeTraceparent(): string | undefined {
  if (!enabled) return undefined;
  const span = trace.getSpan(context.active())?.spanContext();
  return span && trace.isSpanContextValid(span) ? traceparentOf(span) : undefined;
}

interface Outgoing {
  readonly id: string;
  readonly type: string;
  readonly correlationId: string;
  readonly traceparent: string;
}

/**
 * The traceparent a message written now carries: that of the active span (the HTTP request, or the
 * delivery being handled), which its delivery's `process` span will be a child of. The message
 * itself gets no span: it is written in the active span's transaction, and its `process` span
 * says which message it was (a `send` span per message was a fifth of all spans and said nothing
 * more; ADR 29). Without an active span (a message written by a scheduled job) it gets a `send`
 * span, the root of a trace of its own, so that its delivery has a parent to descend from.
 */
export function stampSend<M extends Outgoing>(message: M, system: string): M {
  if (!enabled) return message;
  const active = trace.getSpan(context.active())?.spanContext();
  if (active && trace.isSpanContextValid(active)) return { ...message, traceparent: traceparentOf(active) };
  const span = tracer.startSpan(
    `send ${message.type}`,
    {
      kind: SpanKind.PRODUCER,
      root: true,
      attributes: {
        'messaging.system': system,
        'messaging.operation.type': 'send',
        'messaging.operation.name': 'send',
        'messaging.destination.name': message.type,
        'messaging.message.id': message.id,
        'messaging.message.conversation_id': message.correlationId,
      },
    },
    ROOT_CONTEXT,
  );
  span.end();
  const sent = span.spanContext();
  return trace.isSpanContextValid(sent) ? { ...message, traceparent: traceparentOf(sent) } : message;
}

export interface Delivered {
  readonly id: string;
  readonly type: string;
  readonly correlationId: string;
  readonly causationId: string | null;
  readonly traceparent: string;
}

/**
 * Runs the handling of one delivery in its `process` span: a child of the span that wrote the
 * message (from the envelope), linked to the batch transaction it ran in when there is one.
 */
export function processSpan<T>(system: string, useCase: string, message: Delivered, attempt: number, work: () => Promise<T>): Promise<T> {
  if (!enabled) return work();
  const batch = trace.getSpan(context.active());
  const parent = spanContextOf(message.traceparent);
  return inSpan(
    `process ${message.type}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.system': system,
        'messaging.operation.type': 'process',
        'messaging.operation.name': 'process',
        'messaging.destination.name': message.type,
        'messaging.consumer.group.name': useCase,
        'messaging.message.id': message.id,
        'messaging.message.conversation_id': message.correlationId,
        'saga.use_case': useCase,
        'saga.causation_id': message.causationId ?? '',
        'saga.attempt': attempt,
      },
      links: batch ? [{ context: batch.spanContext() }] : [],
      parent: parent ? trace.setSpanContext(ROOT_CONTEXT, parent) : ROOT_CONTEXT,
    },
    work,
  );
}

export interface SpanOptions {
  readonly kind?: SpanKind;
  readonly attributes?: Attributes;
  readonly links?: Link[];
  /** The parent: the active context when not given; ROOT_CONTEXT starts a trace. */
  readonly parent?: Context;
}

/** Links to the spans of these traceparents (at most `max`), for a span that handles many messages of many sagas. */
export function linksTo(traceparents: Iterable<string>, max = 32): Link[] {
  if (!enabled) return [];
  const links: Link[] = [];
  for (const tp of traceparents) {
    const span = spanContextOf(tp);
    if (span) links.push({ context: span });
    if (links.length >= max) break;
  }
  return links;
}

/**
 * Runs `work` in a span made active for it, ended when it settles; an error is recorded on the
 * span and thrown again. Without tracing, runs `work` alone.
 */
export function inSpan<T>(name: string, options: SpanOptions, work: (span: Span | undefined) => Promise<T>): Promise<T> {
  if (!enabled) return work(undefined);
  const parent = options.parent ?? context.active();
  const span = tracer.startSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      ...(options.attributes ? { attributes: options.attributes } : {}),
      ...(options.links && options.links.length > 0 ? { links: options.links } : {}),
    },
    parent,
  );
  return context.with(trace.setSpan(parent, span), async () => {
    try {
      return await work(span);
    } catch (error) {
      recordError(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * Marks a span failed with its error. A domain error (a `DomainError`, with its stable `code`) is
 * recorded by its type and code, not its message: validation messages quote the input they
 * refused (a name, an amount), which has no place in a trace backend. Other errors (a driver's,
 * the network's) keep their message and stack.
 */
export function recordError(span: Span, error: unknown): void {
  const domain = error instanceof DomainError;
  const message = domain ? error.code : error instanceof Error ? error.message : String(error);
  span.recordException(
    error instanceof Error ? { name: error.name, message, ...(error.stack && !domain ? { stack: error.stack } : {}) } : message,
  );
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

/**
 * Runs `work` with no active span: work that a span's code sets going but that is not part of it
 * (a delivery run in the background after a relay pass signalled it) must not land in its trace.
 */
export function detached<T>(work: () => T): T {
  if (!enabled) return work();
  return context.with(ROOT_CONTEXT, work);
}

/** Starts a span that the caller ends (a task's whole life); undefined without tracing. */
export function startSpan(name: string, options: SpanOptions): Span | undefined {
  if (!enabled) return undefined;
  return tracer.startSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      ...(options.attributes ? { attributes: options.attributes } : {}),
      ...(options.links && options.links.length > 0 ? { links: options.links } : {}),
    },
    options.parent ?? context.active(),
  );
}

/**
 * A span opened only once there is something to trace, timed from when it was made: a delivery
 * transaction is traced from the start of its claim, but only when the claim found deliveries,
 * so that the idle polls of every consumer make no spans at all (the claim statement itself is
 * not traced: no span is active while it runs). Ends when `end` is called; never opened, it
 * leaves nothing behind.
 */
export class LateSpan {
  private readonly startTime = enabled ? performance.timeOrigin + performance.now() : 0;
  private span: Span | undefined;

  constructor(
    private readonly name: string,
    private readonly attributes: Attributes,
  ) {}

  /** Opens the span (a trace of its own) with these links, and runs `work` in it. */
  open<T>(links: Link[], work: () => Promise<T>): Promise<T> {
    if (!enabled) return work();
    this.span = tracer.startSpan(this.name, { attributes: this.attributes, links, startTime: this.startTime, root: true });
    return context.with(trace.setSpan(ROOT_CONTEXT, this.span), work);
  }

  setAttributes(attributes: Attributes): void {
    this.span?.setAttributes(attributes);
  }

  end(error?: unknown): void {
    if (!this.span) return;
    if (error !== undefined) {
      recordError(this.span, error);
    }
    this.span.end();
    this.span = undefined;
  }
}

export { ROOT_CONTEXT, SpanKind, SpanStatusCode };
