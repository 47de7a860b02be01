import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DerivedMetrics, type MetricsDatabase } from '../../../src/shared/infrastructure/operations/derived-metrics.js';
import { ModuleMetrics } from '../../../src/shared/infrastructure/observability/module-metrics.js';
import { sagaDurationMetric } from '../../../src/modules/order/infrastructure/operations/order-metrics.js';
import type { ModuleMetric } from '../../../src/shared/infrastructure/observability/module-metric.js';
import { ProcessMetrics } from '../../../src/shared/infrastructure/observability/metrics.js';
import { SecurityMetrics } from '../../../src/shared/infrastructure/http/security/security-metrics.js';
import type { SchemaDeliveryStats } from '../../../src/shared/infrastructure/operations/delivery-administration.js';
import { createLogger } from '../../../src/shared/infrastructure/logging/logger.js';
import { uuidv7, uuidv7Floor } from '../../../src/shared/kernel/index.js';
import { checkHistograms, parseExposition, valueOf } from './exposition.js';

const logger = createLogger({ level: 'silent', name: 'test' });

const STATS: SchemaDeliveryStats[] = [
  {
    schema: 'ordering',
    outbox: { unrelayed: 3, oldestUnrelayedAgeMs: 1_500 },
    useCases: [
      {
        useCase: 'ordering.decide',
        counts: { pending: 7, done: 100, dead: 2 },
        oldestPendingAgeMs: 42_000,
        launch: { tasks: 2, failures: 3, startFailures: 1, breakerOpenUntil: '2030-01-01T00:00:00.000Z', lastFailure: 'x' },
      },
      { useCase: 'ordering.idle', counts: { pending: 0, done: 0, dead: 0 }, oldestPendingAgeMs: null, launch: null },
    ],
  },
];

const SAGA = {
  id: '0190f1c2-0000-7000-8000-000000000001',
  saga_style: 'choreography',
  status: 'REJECTED',
  rejection_reason: 'INSUFFICIENT_CREDIT',
  seconds: 0.3,
  decided_ms: Date.now(),
};

const LAUNCHES = [
  { id: 'a1', use_case: 'customers.reserve', status: 'started', tasks: 3, throttled: false, start_seconds: 12, created_ms: Date.now() },
  { id: 'a2', use_case: 'customers.reserve', status: 'failed', tasks: 0, throttled: true, start_seconds: null, created_ms: Date.now() },
  { id: 'a3', use_case: 'customers.reserve', status: 'failed', tasks: 0, throttled: false, start_seconds: null, created_ms: Date.now() },
];

/** A database that answers the orders and launch_attempts reads with fixed rows, and counts its reads. */
function fakeDb(schema: string, rows: { orders?: object[]; launches?: object[]; fail?: boolean }) {
  const db = {
    schema,
    reads: 0,
    async query<T extends object>(sql: string): Promise<T[]> {
      db.reads += 1;
      if (rows.fail) throw new Error('connection refused');
      if (/\."?orders\b/.test(sql)) return (rows.orders ?? []) as T[];
      if (sql.includes('.launch_attempts')) return (rows.launches ?? []) as T[];
      throw new Error(`unexpected query ${sql}`);
    },
  };
  return db satisfies MetricsDatabase;
}

function derived(options: { orders?: object[]; launches?: object[]; fail?: boolean; now?: () => number } = {}) {
  const metrics = new ProcessMetrics();
  const orders = fakeDb('ordering', options);
  new DerivedMetrics({
    registry: metrics.registry,
    administration: { stats: async () => (options.fail ? Promise.reject(new Error('down')) : STATS) },
    databases: [orders],
    moduleMetrics: [{ module: 'order', metric: sagaDurationMetric(orders, 60_000) }],
    logger,
    ...(options.now ? { now: options.now } : {}),
  });
  return { metrics, orders, scrape: async () => parseExposition(await metrics.registry.metrics()) };
}

describe('metrics exposition', () => {
  it('is valid Prometheus text with process, HTTP, delivery, saga and launch metrics', async () => {
    const { metrics, scrape } = derived({ orders: [SAGA], launches: LAUNCHES });
    metrics.observeRequest({ method: 'POST', route: '/orders', status: 201, seconds: 0.02 });
    metrics.observeRequest({ method: 'GET', route: '/orders/:id', status: 404, seconds: 0.001 });
    const e = await scrape();
    checkHistograms(e);
    expect(e.types.get('saga_http_request_duration_seconds')).toBe('histogram');
    expect(valueOf(e, 'saga_http_request_duration_seconds_count', { method: 'POST', route: '/orders', status: '201' })).toBe(1);
    expect(valueOf(e, 'saga_http_request_duration_seconds_bucket', { route: '/orders', le: '0.01' })).toBe(0);
    expect(valueOf(e, 'saga_http_request_duration_seconds_bucket', { route: '/orders', le: '0.025' })).toBe(1);
    for (const name of ['nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes', 'process_resident_memory_bytes']) {
      expect(e.types.has(name), name).toBe(true);
    }
    const decide = { schema: 'ordering', use_case: 'ordering.decide' };
    expect(valueOf(e, 'saga_deliveries_pending', decide)).toBe(7);
    expect(valueOf(e, 'saga_deliveries_dead', decide)).toBe(2);
    expect(valueOf(e, 'saga_deliveries_oldest_pending_age_seconds', decide)).toBe(42);
    expect(valueOf(e, 'saga_deliveries_oldest_pending_age_seconds', { use_case: 'ordering.idle' })).toBe(0);
    expect(valueOf(e, 'saga_outbox_unrelayed', { schema: 'ordering' })).toBe(3);
    expect(valueOf(e, 'saga_relay_lag_seconds', { schema: 'ordering' })).toBe(1.5);
    expect(valueOf(e, 'saga_ecs_breaker_open', { use_case: 'ordering.decide' })).toBe(1);
    expect(valueOf(e, 'saga_ecs_consecutive_launch_failures', { use_case: 'ordering.decide' })).toBe(3);
    expect(valueOf(e, 'saga_ecs_lease_tasks', { use_case: 'ordering.decide' })).toBe(2);
    expect(valueOf(e, 'saga_ecs_breaker_open', { use_case: 'ordering.idle' })).toBeUndefined();
    expect(valueOf(e, 'saga_metrics_postgres_up')).toBe(1);
    const rejected = { style: 'choreography', outcome: 'REJECTED', reason: 'INSUFFICIENT_CREDIT' };
    expect(valueOf(e, 'saga_duration_seconds_count', rejected)).toBe(1);
    expect(valueOf(e, 'saga_duration_seconds_sum', rejected)).toBeCloseTo(0.3);
    expect(valueOf(e, 'saga_duration_seconds_bucket', { ...rejected, le: '0.25' })).toBe(0);
    expect(valueOf(e, 'saga_duration_seconds_bucket', { ...rejected, le: '0.5' })).toBe(1);
    const reserve = { use_case: 'customers.reserve' };
    expect(valueOf(e, 'saga_ecs_run_task_calls_total', reserve)).toBe(3);
    expect(valueOf(e, 'saga_ecs_run_task_failures_total', reserve)).toBe(2);
    expect(valueOf(e, 'saga_ecs_run_task_throttled_total', reserve)).toBe(1);
    expect(valueOf(e, 'saga_ecs_tasks_launched_total', reserve)).toBe(3);
    expect(valueOf(e, 'saga_ecs_task_start_seconds_count', reserve)).toBe(1);
    expect(valueOf(e, 'saga_ecs_task_start_seconds_sum', reserve)).toBe(12);
  });

  it('counts a saga and a launch once, however often their rows are read again', async () => {
    let now = Date.now();
    const { scrape } = derived({ orders: [SAGA], launches: LAUNCHES, now: () => now });
    await scrape();
    now += 10_000;
    const e = await scrape();
    expect(valueOf(e, 'saga_duration_seconds_count', { outcome: 'REJECTED' })).toBe(1);
    expect(valueOf(e, 'saga_ecs_run_task_calls_total', { use_case: 'customers.reserve' })).toBe(3);
    expect(valueOf(e, 'saga_ecs_task_start_seconds_count', { use_case: 'customers.reserve' })).toBe(1);
  });

  it('reads PostgreSQL at most once per cache period, however many scrapes', async () => {
    let now = Date.now();
    const { orders, scrape } = derived({ now: () => now });
    await Promise.all([scrape(), scrape()]);
    await scrape();
    // One read of the orders and one of the launch attempts.
    expect(orders.reads).toBe(2);
    now += 5_001;
    await scrape();
    expect(orders.reads).toBe(4);
  });

  it('still serves the process metrics, with postgres_up 0, when PostgreSQL fails', async () => {
    const { scrape } = derived({ fail: true });
    const e = await scrape();
    expect(valueOf(e, 'saga_metrics_postgres_up')).toBe(0);
    expect(e.types.has('process_resident_memory_bytes')).toBe(true);
  });

  it('merges with the security counters into one exposition', async () => {
    const security = new SecurityMetrics();
    security.rateLimited.inc({ limit: 'saga' });
    const { metrics } = derived();
    const e = parseExposition(await Registry.merge([security.registry, metrics.registry]).metrics());
    expect(valueOf(e, 'saga_api_rate_limited_total', { limit: 'saga' })).toBe(1);
    expect(e.types.get('saga_duration_seconds')).toBe('histogram');
  });

  it('bounds the orders scan by the UUIDv7 of a time', () => {
    const at = Date.now();
    const floor = uuidv7Floor(at);
    expect(floor).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-0000-0000-000000000000$/);
    expect(parseInt(floor.replaceAll('-', '').slice(0, 12), 16)).toBe(at);
    expect(uuidv7() >= floor).toBe(true);
    expect(uuidv7Floor(at + 60_000) > uuidv7()).toBe(true);
  });
});

describe('metrics a module declares', () => {
  const registry = () => new ProcessMetrics().registry;
  const scrape = async (r: Registry) => parseExposition(await r.metrics());

  it('become collectors: a gauge read whole each time, a counter counting each event once', async () => {
    let rows = [{ labels: { status: 'SCHEDULED' }, value: 2 }];
    let events = [{ id: 'e1', atMs: Date.now(), labels: { carrier: 'ups' }, value: 1 }];
    const declared: ModuleMetric[] = [
      { type: 'gauge', name: 'shipments', help: 'Shipments by status', labels: ['status'], read: async () => rows },
      { type: 'counter', name: 'shipments_scheduled_total', help: 'Shipments scheduled', labels: ['carrier'], read: async () => events },
    ];
    const r = registry();
    const metrics = new ModuleMetrics(
      r,
      declared.map((metric) => ({ module: 'shipping', metric })),
      async () => undefined,
    );
    await metrics.refresh();
    await metrics.refresh();
    let e = await scrape(r);
    expect(valueOf(e, 'shipments', { status: 'SCHEDULED' })).toBe(2);
    expect(valueOf(e, 'shipments_scheduled_total', { carrier: 'ups' })).toBe(1);
    rows = [{ labels: { status: 'SHIPPED' }, value: 1 }];
    events = [...events, { id: 'e2', atMs: Date.now(), labels: { carrier: 'ups' }, value: 1 }];
    await metrics.refresh();
    e = await scrape(r);
    // A gauge's label set that is gone is gone: it is the table's state, not a history.
    expect(valueOf(e, 'shipments', { status: 'SCHEDULED' })).toBeUndefined();
    expect(valueOf(e, 'shipments', { status: 'SHIPPED' })).toBe(1);
    expect(valueOf(e, 'shipments_scheduled_total', { carrier: 'ups' })).toBe(2);
  });

  it('asks for the events since its last read, with a late-commit slack', async () => {
    const asked: number[] = [];
    let now = 1_000_000;
    const metric: ModuleMetric = {
      type: 'histogram',
      name: 'waits_seconds',
      help: 'Waits',
      labels: [],
      buckets: [1, 10],
      read: async (since) => {
        asked.push(since);
        return [];
      },
    };
    const metrics = new ModuleMetrics(
      registry(),
      [{ module: 'shipping', metric }],
      async () => undefined,
      () => now,
    );
    await metrics.refresh();
    now += 5_000;
    await metrics.refresh();
    expect(asked).toEqual([1_000_000 - 60_000, 1_000_000 - 60_000]);
    now += 5_000;
    await metrics.refresh();
    expect(asked[2]).toBe(1_005_000 - 60_000);
  });

  it('refuses a name that is not a Prometheus name, or one already registered', () => {
    const gauge = (name: string): ModuleMetric => ({ type: 'gauge', name, help: 'x', labels: [], read: async () => [] });
    expect(() => new ModuleMetrics(registry(), [{ module: 'shipping', metric: gauge('ship-ments') }], async () => undefined)).toThrow(
      'module shipping: metric name "ship-ments" is not a Prometheus name',
    );
    expect(
      () => new ModuleMetrics(registry(), [{ module: 'shipping', metric: gauge('process_resident_memory_bytes') }], async () => undefined),
    ).toThrow('module shipping: metric process_resident_memory_bytes is already registered');
  });
});

describe('the exposition reader', () => {
  it('refuses what is not the text format', () => {
    expect(() => parseExposition('x 1\n')).toThrow(/before .*TYPE/);
    expect(() => parseExposition('# TYPE x gauge\nx{a=b} 1\n')).toThrow(/not a HELP, TYPE or sample|malformed labels/);
    expect(() => parseExposition('# TYPE x gauge\nx one\n')).toThrow(/not a float/);
    expect(() => parseExposition('# TYPE x gauge\nx 1')).toThrow(/newline/);
    const histogram = '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n';
    expect(() => checkHistograms(parseExposition(histogram))).toThrow(/decrease/);
  });
});
