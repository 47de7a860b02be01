import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type DestinationStream, type Logger } from 'pino';
import { activeTraceFields, tracingEnabled } from '../observability/tracing.js';

export type { Logger } from 'pino';

/** Fields every log line written while handling a message (or a request) carries. */
export interface LogContext {
  correlationId?: string;
  causationId?: string | null;
  messageId?: string;
  messageType?: string;
  useCase?: string;
  requestId?: string;
  /** The saga's trace (from the message's traceparent), also when no span is exported. */
  trace_id?: string;
}

const storage = new AsyncLocalStorage<LogContext>();

export function withLogContext<T>(context: LogContext, work: () => T): T {
  const parent = storage.getStore();
  return storage.run(parent ? { ...parent, ...context } : context, work);
}

export function currentLogContext(): LogContext | undefined {
  return storage.getStore();
}

/** Logs to stdout unless `destination` is given (a test reading what was logged, a file). */
export function createLogger(options: { level: string; name?: string; destination?: DestinationStream }): Logger {
  const settings = {
    level: options.level,
    base: options.name ? { service: options.name } : {},
    timestamp: pino.stdTimeFunctions.isoTime,
    // With tracing on, the active span's ids join each line to its trace (OpenTelemetry's log fields).
    mixin: () => {
      const fields = storage.getStore();
      if (!tracingEnabled()) return fields ?? {};
      const trace = activeTraceFields();
      return fields ? { ...fields, ...trace } : trace;
    },
    redact: { paths: ['databaseUrl', 'redisUrl', '*.password', 'req.headers.authorization'], censor: '[redacted]' },
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}
