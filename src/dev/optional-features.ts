import type { Config } from '../shared/infrastructure/config/config.js';

/** A feature of the dev server that a setting turns off, and the line that says which. */
export interface FeatureOff {
  readonly feature: string;
  /** Why it is off and what turns it on, naming the setting. */
  readonly why: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Why the process exports no traces, or undefined when it does (the conditions of tracingSettings). */
function tracingOff(env: Env): string | undefined {
  if (env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true') return 'OTEL_SDK_DISABLED=true';
  if (!env['OTEL_EXPORTER_OTLP_ENDPOINT']?.trim() && !env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']?.trim())
    return 'OTEL_EXPORTER_OTLP_ENDPOINT is not set (`npm run traces` in another shell receives them and prints each trace as a tree: README, Traces)';
  if ((env['OTEL_TRACES_EXPORTER'] ?? '').toLowerCase().includes('none')) return 'OTEL_TRACES_EXPORTER=none';
  return undefined;
}

/**
 * The optional features a dev server runs without under `config` (the resolved one: its
 * REDIS_URL is the Redis it found or started), each with the setting that turns it on. A feature
 * that is off says so once at start, instead of answering 404 or missing from /metrics unexplained.
 */
export function featuresOff(config: Config, env: Env = process.env): FeatureOff[] {
  const off: FeatureOff[] = [];
  const bullmq = config.EVENT_BUS === 'bullmq';
  if (!bullmq) {
    off.push({
      feature: '/admin/queues (bull-board) and the saga_bullmq_jobs metric',
      why: `EVENT_BUS=${config.EVENT_BUS}: there are no BullMQ queues to show`,
    });
  } else if (!config.ADMIN_QUEUES_UI) {
    off.push({
      feature: '/admin/queues (bull-board)',
      why: 'ADMIN_QUEUES_UI is not true (off by default: its queue objects cost CPU on every saga)',
    });
  }
  const tracing = tracingOff(env);
  if (tracing) off.push({ feature: 'traces', why: tracing });
  else if (!config.TRACE_UI_URL)
    off.push({
      feature: 'trace links in the operator console',
      why: 'TRACE_UI_URL is not set (e.g. http://localhost:16686/trace/{traceId} for Jaeger)',
    });
  if (!config.CONSOLE_OIDC_CLIENT_ID)
    off.push({ feature: 'console sign-in', why: 'CONSOLE_OIDC_CLIENT_ID is not set (README, Operator console sign-in)' });
  return off;
}
