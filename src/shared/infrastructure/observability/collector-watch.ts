import type { ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';

type Env = Readonly<Record<string, string | undefined>>;

/** The variable that names where this process sends its spans, and what it says. */
export function collectorOf(env: Env): { readonly variable: string; readonly url: string } {
  const traces = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']?.trim();
  if (traces) return { variable: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', url: traces };
  const base = (env['OTEL_EXPORTER_OTLP_ENDPOINT'] ?? '').trim().replace(/\/+$/, '');
  return { variable: 'OTEL_EXPORTER_OTLP_ENDPOINT', url: `${base}/v1/traces` };
}

/** One log line on stderr, in the processes' own format (pino's JSON: level 40 warn, 30 info). */
function writeLine(level: 30 | 40, msg: string, fields: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify({ level, time: new Date().toISOString(), ...fields, msg })}\n`);
}

/**
 * The span exporter, watched: when the collector cannot be reached (or refuses the spans), one
 * warning names the variable to check and the address, instead of the SDK's bare error and stack
 * on every batch; one line again when it answers. The batches that failed meanwhile are lost,
 * as they would be anyway (a trace is diagnostics: it never holds a process back).
 */
export class WatchedExporter implements SpanExporter {
  private failing = false;
  /** The errors this watch reported: the SDK's global error handler passes over them (see quietHandler). */
  private readonly reported = new WeakSet<object>();

  constructor(
    private readonly inner: SpanExporter,
    private readonly collector: { readonly variable: string; readonly url: string },
    private readonly write: typeof writeLine = writeLine,
  ) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code === 0) {
        if (this.failing) this.write(30, `traces: the collector at ${this.collector.url} answers again`, { collector: this.collector.url });
        this.failing = false;
      } else {
        if (!this.failing) {
          this.write(
            40,
            `traces: the collector at ${this.collector.url} (${this.collector.variable}) cannot be reached: ${result.error?.message ?? 'export failed'}; spans are dropped until it answers (is it running? \`npm run traces\` is one)`,
            { collector: this.collector.url, variable: this.collector.variable },
          );
        }
        this.failing = true;
        if (result.error) this.reported.add(result.error);
      }
      done(result);
    });
  }

  /** Whether `error` is an export failure this watch already reported. */
  wasReported(error: unknown): boolean {
    return typeof error === 'object' && error !== null && this.reported.has(error);
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}
