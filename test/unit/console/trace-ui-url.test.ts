import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/shared/infrastructure/config/config.js';

describe('TRACE_UI_URL', () => {
  it('is optional', () => {
    expect(loadConfig({}).TRACE_UI_URL).toBeUndefined();
  });

  it('takes an http(s) URL with {traceId}', () => {
    expect(loadConfig({ TRACE_UI_URL: 'http://localhost:16686/trace/{traceId}' }).TRACE_UI_URL).toBe(
      'http://localhost:16686/trace/{traceId}',
    );
  });

  it.each(['http://localhost:16686/trace/', 'javascript:alert(1)//{traceId}', 'not a url {traceId}'])('refuses %s', (value) => {
    expect(() => loadConfig({ TRACE_UI_URL: value })).toThrow(ConfigError);
  });
});
