import { describe, expect, it } from 'vitest';
import { tracingSettings } from '../../../src/shared/infrastructure/observability/tracing-sdk.js';
import { spanContextOf, traceparentOf } from '../../../src/shared/infrastructure/observability/tracing.js';

const ENDPOINT = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };

describe('tracingSettings (the OTEL_* variables)', () => {
  it('is off without an endpoint, with an empty one, when disabled, or with the exporter none', () => {
    expect(tracingSettings({}, 'saga-api-server')).toBeUndefined();
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: ' ' }, 'saga-api-server')).toBeUndefined();
    expect(tracingSettings({ ...ENDPOINT, OTEL_SDK_DISABLED: 'TRUE' }, 'saga-api-server')).toBeUndefined();
    expect(tracingSettings({ ...ENDPOINT, OTEL_TRACES_EXPORTER: 'none' }, 'saga-api-server')).toBeUndefined();
    // Without an endpoint, settings meant for other services do not stop a process that does not trace.
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'console', OTEL_TRACES_SAMPLER: 'sometimes' }, 'saga-worker')).toBeUndefined();
  });

  it('is on with either endpoint variable, named after the process unless OTEL_SERVICE_NAME says', () => {
    expect(tracingSettings(ENDPOINT, 'saga-worker')).toMatchObject({
      serviceName: 'saga-worker',
      sampler: 'parentbased_always_on',
      scheduleDelayMs: 5_000,
    });
    expect(
      tracingSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces', OTEL_SERVICE_NAME: 'orders' }, 'x'),
    ).toMatchObject({
      serviceName: 'orders',
    });
    expect(
      tracingSettings(
        { ...ENDPOINT, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25', OTEL_BSP_SCHEDULE_DELAY: '200' },
        'x',
      ),
    ).toMatchObject({ sampler: 'parentbased_traceidratio', samplerArg: 0.25, scheduleDelayMs: 200 });
  });

  it('refuses what it cannot honour, naming the variable', () => {
    expect(() => tracingSettings({ ...ENDPOINT, OTEL_TRACES_SAMPLER: 'sometimes' }, 'x')).toThrow(/OTEL_TRACES_SAMPLER/);
    expect(() => tracingSettings({ ...ENDPOINT, OTEL_TRACES_SAMPLER_ARG: '2' }, 'x')).toThrow(/OTEL_TRACES_SAMPLER_ARG/);
    expect(() => tracingSettings({ ...ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'x')).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL/);
    expect(() => tracingSettings({ ...ENDPOINT, OTEL_TRACES_EXPORTER: 'zipkin' }, 'x')).toThrow(/OTEL_TRACES_EXPORTER/);
    expect(() => tracingSettings({ ...ENDPOINT, OTEL_BSP_SCHEDULE_DELAY: '-1' }, 'x')).toThrow(/OTEL_BSP_SCHEDULE_DELAY/);
    expect(() => tracingSettings({ ...ENDPOINT, OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,express' }, 'x')).toThrow(
      /OTEL_NODE_ENABLED_INSTRUMENTATIONS: unknown express/,
    );
    expect(() => tracingSettings({ ...ENDPOINT, OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'mysql' }, 'x')).toThrow(
      /OTEL_NODE_DISABLED_INSTRUMENTATIONS: unknown mysql/,
    );
  });

  it('loads every library instrumentation unless OTEL_NODE_ENABLED/DISABLED_INSTRUMENTATIONS say otherwise', () => {
    const loaded = (env: Record<string, string>) => [...tracingSettings({ ...ENDPOINT, ...env }, 'x')!.instrumentations].sort();
    expect(loaded({})).toEqual(['aws-sdk', 'http', 'ioredis', 'pg']);
    expect(loaded({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'pg, IOREDIS' })).toEqual(['aws-sdk', 'http']);
    expect(loaded({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,pg', OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'pg' })).toEqual(['http']);
    expect(loaded({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: ' ' })).toEqual(['aws-sdk', 'http', 'ioredis', 'pg']);
  });
});

describe('traceparent <-> span context', () => {
  it('round-trips a W3C traceparent and keeps only the sampled flag', () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const span = spanContextOf(tp)!;
    expect(span).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1, isRemote: true });
    expect(traceparentOf(span)).toBe(tp);
    expect(traceparentOf({ ...span, traceFlags: 0 })).toBe(tp.replace(/01$/, '00'));
  });

  it('refuses what is not one: all-zero ids, another version, garbage', () => {
    expect(spanContextOf('00-00000000000000000000000000000000-00f067aa0ba902b7-01')).toBeUndefined();
    expect(spanContextOf('00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01')).toBeUndefined();
    expect(spanContextOf('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toBeUndefined();
    expect(spanContextOf('nonsense')).toBeUndefined();
    expect(spanContextOf(undefined)).toBeUndefined();
  });
});
