import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/** One request as the HTTP duration histogram records it. */
export interface ObservedRequest {
  readonly method: string;
  /** The route's template (`/orders/:id`), never the raw URL: unmatched requests are `unmatched`. */
  readonly route: string;
  readonly status: number;
  readonly seconds: number;
}

/** What an HTTP server needs of the metrics: the registry /metrics exposes, and one observation per request. */
export interface ServerMetrics {
  readonly registry: Registry;
  observeRequest(request: ObservedRequest): void;
}

/** Buckets of the HTTP duration histogram (seconds): a healthy request answers in milliseconds, a saga route in tens of them. */
export const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

/**
 * A process's metrics registry: the Node process metrics (event loop lag, heap, RSS, CPU, handles,
 * prom-client's defaults) and the HTTP request duration histogram. Other collectors (PostgreSQL
 * derived, BullMQ) register into `registry` too; one registry per process.
 */
export class ProcessMetrics implements ServerMetrics {
  readonly registry = new Registry();
  private readonly httpDuration = new Histogram({
    name: 'saga_http_request_duration_seconds',
    help: 'HTTP request duration by method, route template and status code',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [...HTTP_BUCKETS],
    registers: [this.registry],
  });

  constructor() {
    // Event loop lag is sampled every 10 ms by perf_hooks; the monitor costs next to nothing.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });
  }

  observeRequest(request: ObservedRequest): void {
    this.httpDuration.observe({ method: request.method, route: request.route, status: String(request.status) }, request.seconds);
  }
}
