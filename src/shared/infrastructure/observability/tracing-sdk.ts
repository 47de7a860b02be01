import { randomUUID } from 'node:crypto';
import type { Sampler } from '@opentelemetry/sdk-trace';
import { tracingStarted } from './tracing.js';
import { collectorOf, WatchedExporter } from './collector-watch.js';

/**
 * Starts the OpenTelemetry trace SDK of one process (ADR 29), configured by the standard `OTEL_*`
 * variables. Without an OTLP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT` or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), with `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`
 * nothing is loaded and nothing is traced. The SDK's packages are imported only when it starts, so
 * a process (an ECS task above all) pays for them only then.
 *
 * Long-lived processes also load the library instrumentations (HTTP server and client, pg,
 * ioredis, the AWS SDK): they patch those libraries when they are first required, so the
 * instrumented process must start tracing before it loads them (see `tracing-preload.ts`). An ECS
 * task's code is one esbuild bundle, which those patches cannot reach: a task has the platform's
 * own spans (delivery, batch transaction, relay, launch decision, its own life), which carry the
 * trace from and to the other processes.
 */
export interface TracingSettings {
  readonly serviceName: string;
  readonly sampler: string;
  readonly samplerArg: number | undefined;
  readonly scheduleDelayMs: number;
  readonly maxQueueSize: number;
  readonly maxExportBatchSize: number;
  readonly exportTimeoutMs: number;
  /** The library instrumentations to load (in processes that load any: not in a bundled task). */
  readonly instrumentations: ReadonlySet<Instrumentation>;
}

/**
 * The library instrumentations this platform can load, by the names the OpenTelemetry Node
 * distribution's `OTEL_NODE_ENABLED_INSTRUMENTATIONS` and `OTEL_NODE_DISABLED_INSTRUMENTATIONS`
 * use (comma-separated). All are loaded unless those say otherwise: e.g. `OTEL_NODE_DISABLED_INSTRUMENTATIONS=pg,ioredis`
 * keeps the requests and the platform's own spans and drops one span per SQL statement and Redis command.
 */
export const INSTRUMENTATIONS = ['http', 'pg', 'ioredis', 'aws-sdk'] as const;
export type Instrumentation = (typeof INSTRUMENTATIONS)[number];
function instrumentationList(env: Env, name: string): Instrumentation[] | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return undefined;
  const names = raw
    .split(',')
    .map((n) => n.trim().toLowerCase())
    .filter((n) => n !== '');
  const unknown = names.filter((n) => !(INSTRUMENTATIONS as readonly string[]).includes(n));
  if (unknown.length > 0) throw new Error(`${name}: unknown ${unknown.join(', ')} (choose from ${INSTRUMENTATIONS.join(', ')})`);
  return names as Instrumentation[];
}

type Env = Readonly<Record<string, string | undefined>>;

const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

function positiveInt(env: Env, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return value;
}

/** What the `OTEL_*` variables ask for; undefined when tracing is off. Throws on a value it cannot use. */
export function tracingSettings(env: Env, defaultServiceName: string): TracingSettings | undefined {
  if (env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true') return undefined;
  // No endpoint is off whatever else is set: an OTEL_* variable meant for other services (set
  // platform-wide, say) must not stop a process that does not trace.
  if (!env['OTEL_EXPORTER_OTLP_ENDPOINT']?.trim() && !env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']?.trim()) return undefined;
  const exporters = (env['OTEL_TRACES_EXPORTER'] ?? 'otlp').split(',').map((e) => e.trim().toLowerCase());
  if (exporters.includes('none')) return undefined;
  const unknown = exporters.filter((e) => e !== 'otlp' && e !== '');
  if (unknown.length > 0) throw new Error(`OTEL_TRACES_EXPORTER: only otlp (or none) is supported, got ${unknown.join(',')}`);
  const protocol = (env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'] ?? env['OTEL_EXPORTER_OTLP_PROTOCOL'] ?? 'http/json').trim();
  if (protocol !== 'http/json') {
    throw new Error(`OTEL_EXPORTER_OTLP_PROTOCOL: traces are exported as OTLP/HTTP JSON (http/json), got ${protocol}`);
  }
  const sampler = (env['OTEL_TRACES_SAMPLER'] ?? 'parentbased_always_on').trim().toLowerCase();
  if (!(SAMPLERS as readonly string[]).includes(sampler)) {
    throw new Error(`OTEL_TRACES_SAMPLER must be one of ${SAMPLERS.join(', ')}, got ${JSON.stringify(sampler)}`);
  }
  const rawArg = env['OTEL_TRACES_SAMPLER_ARG']?.trim();
  const samplerArg = rawArg ? Number(rawArg) : undefined;
  if (samplerArg !== undefined && !(samplerArg >= 0 && samplerArg <= 1)) {
    throw new Error(`OTEL_TRACES_SAMPLER_ARG must be a ratio between 0 and 1, got ${JSON.stringify(rawArg)}`);
  }
  const disabled = new Set(instrumentationList(env, 'OTEL_NODE_DISABLED_INSTRUMENTATIONS') ?? []);
  const instrumentations = new Set(
    (instrumentationList(env, 'OTEL_NODE_ENABLED_INSTRUMENTATIONS') ?? INSTRUMENTATIONS).filter((n) => !disabled.has(n)),
  );
  return {
    serviceName: env['OTEL_SERVICE_NAME']?.trim() || defaultServiceName,
    sampler,
    samplerArg,
    scheduleDelayMs: positiveInt(env, 'OTEL_BSP_SCHEDULE_DELAY', 5_000),
    maxQueueSize: positiveInt(env, 'OTEL_BSP_MAX_QUEUE_SIZE', 2_048),
    maxExportBatchSize: positiveInt(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 512),
    exportTimeoutMs: positiveInt(env, 'OTEL_BSP_EXPORT_TIMEOUT', 30_000),
    instrumentations,
  };
}

export interface StartTracingOptions {
  /** The `service.name` when `OTEL_SERVICE_NAME` does not set one. */
  readonly serviceName: string;
  /**
   * Load the library instrumentations (HTTP, pg, ioredis, AWS SDK), with the entrypoint's
   * `require` (see `instrumentLibraries`); false in a bundled ECS task.
   */
  readonly instrument: NodeJS.Require | false;
  /** Attributes of this process's resource beside the service (e.g. the use case of a task). */
  readonly attributes?: Readonly<Record<string, string>>;
  readonly env?: Env;
}

/** Starts tracing when the environment asks for it; returns whether it did. */
export async function startTracing(options: StartTracingOptions): Promise<boolean> {
  const env = options.env ?? process.env;
  const settings = tracingSettings(env, options.serviceName);
  if (!settings) return false;
  const [
    { context, diag, DiagConsoleLogger, propagation, trace },
    sdk,
    { AsyncLocalStorageContextManager },
    core,
    resources,
    { OTLPTraceExporter },
  ] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/core'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/exporter-trace-otlp-http'),
  ]);
  // The SDK's own diagnostics (an exporter that cannot reach its endpoint, dropped spans), on stderr.
  // WARN unless OTEL_LOG_LEVEL says otherwise: an unreachable collector, or one that refuses the
  // spans, must say so rather than lose them without a line.
  const logLevel = core.diagLogLevelFromString(env['OTEL_LOG_LEVEL']?.trim() || 'warn');
  if (logLevel !== undefined) diag.setLogger(new DiagConsoleLogger(), logLevel);
  // An unreachable collector: one warning naming the variable (collector-watch.ts), not a stack per batch.
  const exporter = new WatchedExporter(new OTLPTraceExporter(), collectorOf(env));
  const fallback = core.loggingErrorHandler();
  core.setGlobalErrorHandler((error) => {
    if (!exporter.wasReported(error)) fallback(error);
  });
  const provider = tracerProvider(settings, options, sdk, resources, exporter);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(
    new core.CompositePropagator({ propagators: [new core.W3CTraceContextPropagator(), new core.W3CBaggagePropagator()] }),
  );
  trace.setGlobalTracerProvider(provider);
  const disable =
    options.instrument && settings.instrumentations.size > 0
      ? await instrumentLibraries(provider, options.instrument, settings.instrumentations)
      : () => undefined;
  tracingStarted(async () => {
    disable();
    await provider.shutdown();
  });
  return true;
}

/** The provider: this process's resource, the sampler OTEL_TRACES_SAMPLER names, a batch processor exporting OTLP/HTTP. */
function tracerProvider(
  settings: TracingSettings,
  options: StartTracingOptions,
  sdk: typeof import('@opentelemetry/sdk-trace'),
  resources: typeof import('@opentelemetry/resources'),
  exporter: import('@opentelemetry/sdk-trace').SpanExporter,
): import('@opentelemetry/sdk-trace').TracerProvider {
  const ratio = settings.samplerArg ?? 1;
  const samplers: Record<(typeof SAMPLERS)[number], () => Sampler> = {
    always_on: () => new sdk.AlwaysOnSampler(),
    always_off: () => new sdk.AlwaysOffSampler(),
    traceidratio: () => new sdk.TraceIdRatioBasedSampler(ratio),
    parentbased_always_on: () => new sdk.ParentBasedSampler({ root: new sdk.AlwaysOnSampler() }),
    parentbased_always_off: () => new sdk.ParentBasedSampler({ root: new sdk.AlwaysOffSampler() }),
    parentbased_traceidratio: () => new sdk.ParentBasedSampler({ root: new sdk.TraceIdRatioBasedSampler(ratio) }),
  };
  const resource = resources
    .resourceFromAttributes({
      'service.name': settings.serviceName,
      'service.namespace': 'saga-platform',
      'service.instance.id': randomUUID(),
      'process.pid': process.pid,
      'process.runtime.name': 'nodejs',
      'process.runtime.version': process.versions.node,
      ...options.attributes,
    })
    // OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME win over the defaults above.
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  return new sdk.TracerProvider({
    resource,
    sampler: samplers[settings.sampler as (typeof SAMPLERS)[number]](),
    spanProcessors: [
      new sdk.BatchSpanProcessor({
        // The endpoint, headers and timeout come from OTEL_EXPORTER_OTLP_* (read by the exporter).
        exporter,
        scheduledDelayMillis: settings.scheduleDelayMs,
        maxQueueSize: settings.maxQueueSize,
        maxExportBatchSize: Math.min(settings.maxExportBatchSize, settings.maxQueueSize),
        exportTimeoutMillis: settings.exportTimeoutMs,
      }),
    ],
  });
}

/** Paths no span is made for: probes and scrapes, polled every few seconds. */
const UNTRACED_PATHS = /^\/(health(\/|$)|metrics($|\?))/;

async function instrumentLibraries(
  provider: import('@opentelemetry/api').TracerProvider,
  require: NodeJS.Require,
  enabled: ReadonlySet<Instrumentation>,
): Promise<() => void> {
  const { registerInstrumentations } = await import('@opentelemetry/instrumentation');
  const make: Record<Instrumentation, () => Promise<import('@opentelemetry/instrumentation').Instrumentation>> = {
    http: async () =>
      new (await import('@opentelemetry/instrumentation-http')).HttpInstrumentation({
        ignoreIncomingRequestHook: (request) => UNTRACED_PATHS.test(request.url ?? ''),
        // Outgoing requests only inside a trace (a JWKS fetch for a request), never as roots.
        requireParentforOutgoingSpans: true,
      }),
    // Only statements run inside a span (a request, a delivery, a relay pass): the relay's and
    // the sweeper's polls would otherwise each be a trace of their own.
    pg: async () =>
      new (await import('@opentelemetry/instrumentation-pg')).PgInstrumentation({ requireParentSpan: true, ignoreConnectSpans: true }),
    // BullMQ keeps blocking reads open on Redis all the time: the same rule. The statement is the
    // command's name and its number of arguments, never their values: BullMQ's scripts (EVALSHA)
    // take the job's data, a message with customer ids and amounts, which has no place in a trace
    // backend (and made the spans large: up to 760 bytes of arguments each).
    ioredis: async () =>
      new (await import('@opentelemetry/instrumentation-ioredis')).IORedisInstrumentation({
        requireParentSpan: true,
        dbStatementSerializer: (command, args) => `${command} [${args.length} arguments]`,
      }),
    'aws-sdk': async () =>
      new (await import('@opentelemetry/instrumentation-aws-sdk')).AwsInstrumentation({ suppressInternalInstrumentation: true }),
  };
  const picked = INSTRUMENTATIONS.filter((name) => enabled.has(name));
  const disable = registerInstrumentations({
    tracerProvider: provider,
    instrumentations: await Promise.all(picked.map((name) => make[name]())),
  });
  // The hooks patch a CommonJS library when it is require()d. An ES module importing one goes
  // around them (Node 20), and this code base imports pg and ioredis as ES modules: require them
  // here once, so the module every later import gets is the patched one.
  const libraries: Partial<Record<Instrumentation, readonly string[]>> = {
    http: ['node:http', 'node:https'],
    pg: ['pg'],
    ioredis: ['ioredis'],
  };
  for (const library of picked.flatMap((name) => libraries[name] ?? [])) {
    try {
      require(library);
    } catch {
      // Not installed where it is not used (an image without the BullMQ transport's client).
    }
  }
  return disable;
}
