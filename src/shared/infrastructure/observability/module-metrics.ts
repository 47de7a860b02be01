import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { MetricEvent, ModuleMetric } from './module-metric.js';

/** An event is looked for again this long after its time: a transaction that commits late is still counted, once. */
export const LATE_COMMIT_SLACK_MS = 60_000;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** One declared metric as a prom-client collector, and how to bring it up to date. */
interface Collector {
  refresh(): Promise<void>;
}

/**
 * The metrics the hosted modules declare (ModuleMetric, library-free), as prom-client collectors
 * of `registry`. `refresh` reads them all; the platform calls it at scrape time (DerivedMetrics:
 * cached, one read for concurrent scrapes) and a failure is the platform's `postgres_up` 0.
 */
export class ModuleMetrics {
  private readonly collectors: Collector[];

  constructor(
    registry: Registry,
    declared: readonly { readonly module: string; readonly metric: ModuleMetric }[],
    collect: () => Promise<void>,
    private readonly now: () => number = Date.now,
  ) {
    const registers = [registry];
    this.collectors = declared.map(({ module, metric }) => {
      if (!METRIC_NAME.test(metric.name))
        throw new Error(`module ${module}: metric name ${JSON.stringify(metric.name)} is not a Prometheus name`);
      if (registry.getSingleMetric(metric.name)) throw new Error(`module ${module}: metric ${metric.name} is already registered`);
      const common = { name: metric.name, help: metric.help, labelNames: [...metric.labels], registers, collect };
      switch (metric.type) {
        case 'gauge': {
          const gauge = new Gauge(common);
          return {
            refresh: async () => {
              const samples = await metric.read();
              gauge.reset();
              for (const s of samples) gauge.set(s.labels, s.value);
            },
          };
        }
        case 'counter': {
          const counter = new Counter(common);
          return this.events(metric.read.bind(metric), (e) => counter.inc(e.labels, e.value));
        }
        case 'histogram': {
          const histogram = new Histogram({ ...common, buckets: [...metric.buckets] });
          return this.events(metric.read.bind(metric), (e) => histogram.observe(e.labels, e.value));
        }
      }
    });
  }

  /** Reads every declared metric; rejects when one read fails (the others are still applied). */
  async refresh(): Promise<void> {
    const results = await Promise.allSettled(this.collectors.map((c) => c.refresh()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /**
   * Events since the last read (and a late-commit slack), each applied once by this process: ids
   * are remembered while a read can still return them. Events before the process started are not
   * counted (a counter starts at 0 with its process).
   */
  private events(read: (sinceMs: number) => Promise<readonly MetricEvent[]>, apply: (event: MetricEvent) => void): Collector {
    const seen = new Map<string, number>();
    let cursorMs = this.now();
    return {
      refresh: async () => {
        const readAt = this.now();
        for (const event of await read(cursorMs - LATE_COMMIT_SLACK_MS)) {
          if (seen.has(event.id)) continue;
          seen.set(event.id, event.atMs);
          apply(event);
        }
        cursorMs = readAt;
        for (const [id, at] of seen) if (at < readAt - 2 * LATE_COMMIT_SLACK_MS) seen.delete(id);
      },
    };
  }
}
