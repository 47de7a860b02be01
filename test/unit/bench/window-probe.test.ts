import { collectDefaultMetrics, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parsePrometheusText } from '../../../bench/lib/window-probe.js';

describe("the bench's window probe reads what the system's /metrics serves", () => {
  it('finds the event-loop delay percentiles and the GC pause totals by kind in prom-client’s default metrics', async () => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
    // Some garbage and a collection, so the GC histogram has series.
    for (let i = 0; i < 5; i++) Array.from({ length: 200_000 }, (_, k) => ({ k }));
    await new Promise((r) => setTimeout(r, 50));
    const values = parsePrometheusText(await registry.metrics());
    for (const name of ['nodejs_eventloop_lag_p50_seconds', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_eventloop_lag_max_seconds'])
      expect(values.get(name), name).toBeTypeOf('number');
    const gcCounts = [...values.keys()].filter((k) => /^nodejs_gc_duration_seconds_count\{kind="[^"]+"\}$/.test(k));
    expect(gcCounts.length).toBeGreaterThan(0);
    expect(values.get(gcCounts[0]!.replace('_count', '_sum'))).toBeTypeOf('number');
  });

  it('keeps labels in the key and skips comments', () => {
    const values = parsePrometheusText('# HELP x y\n# TYPE x counter\nx{a="1"} 3\nx 4\n');
    expect([...values]).toEqual([
      ['x{a="1"}', 3],
      ['x', 4],
    ]);
  });
});
