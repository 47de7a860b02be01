import { describe, expect, it } from 'vitest';
import { featuresOff } from '../../../src/dev/optional-features.js';
import { loadConfig } from '../../../src/shared/infrastructure/config/config.js';

/** What the dev server says is off, and why, for the settings a newcomer meets. */
const features = (env: Record<string, string>) => featuresOff(loadConfig(env), env).map((f) => `${f.feature} off: ${f.why}`);

describe('the dev server names each optional feature that is off', () => {
  it('with the defaults: bull-board, traces and the console sign-in, each with its setting', () => {
    expect(features({})).toEqual([
      expect.stringMatching(/^\/admin\/queues \(bull-board\) off: ADMIN_QUEUES_UI is not true/),
      expect.stringMatching(/^traces off: OTEL_EXPORTER_OTLP_ENDPOINT is not set .*npm run traces/),
      expect.stringMatching(/^console sign-in off: CONSOLE_OIDC_CLIENT_ID is not set/),
    ]);
  });

  it('without queues, says the transport has none; with traces, says where their links are set', () => {
    expect(features({ EVENT_BUS: 'memory', ADMIN_QUEUES_UI: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toEqual([
      '/admin/queues (bull-board) and the saga_bullmq_jobs metric off: EVENT_BUS=memory: there are no BullMQ queues to show',
      expect.stringMatching(/^trace links in the operator console off: TRACE_UI_URL is not set/),
      expect.stringMatching(/^console sign-in off:/),
    ]);
  });

  it('says nothing of a feature that is on', () => {
    const env = {
      ADMIN_QUEUES_UI: 'true',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces',
      TRACE_UI_URL: 'http://localhost:16686/trace/{traceId}',
    };
    expect(features(env)).toEqual([expect.stringMatching(/^console sign-in off:/)]);
    expect(features({ ...env, OTEL_SDK_DISABLED: 'true' })).toEqual([
      'traces off: OTEL_SDK_DISABLED=true',
      expect.stringMatching(/^console sign-in off:/),
    ]);
  });
});
