import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { freePort } from '../../support/ports.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../../src/shared/kernel/index.js';
import { eventually, placeOrder, registerCustomer, sql, systemsClosedAfterEach, waitForStatus } from '../../support/system.js';
import { parseExposition, valueOf } from '../../unit/observability/exposition.js';

const PROMETHEUS = '/usr/bin/prometheus';
const USD = (amount: number) => ({ amount, currency: 'USD' });
const start = systemsClosedAfterEach(afterEach);

interface Prometheus {
  query(promql: string): Promise<Array<{ metric: Record<string, string>; value: number }>>;
  stop(): Promise<void>;
}

/** A real Prometheus scraping `target` every second, with its own config and storage in a temp directory. */
async function startPrometheus(target: string): Promise<Prometheus> {
  const dir = await mkdtemp(join(tmpdir(), 'prometheus-'));
  const port = await freePort();
  const config = join(dir, 'prometheus.yml');
  await writeFile(
    config,
    `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: saga-api\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['${target}']\n`,
  );
  const child: ChildProcess = spawn(
    PROMETHEUS,
    [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const base = `http://127.0.0.1:${port}`;
  await eventually(async () => ((await fetch(`${base}/-/ready`)).ok ? true : undefined), {
    timeoutMs: 20_000,
    intervalMs: 200,
    what: `prometheus to be ready (${stderr.slice(-500)})`,
  });
  return {
    async query(promql) {
      const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
      };
      if (body.status !== 'success') throw new Error(`${promql}: ${body.error ?? res.status}`);
      return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    async stop() {
      child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The one value `promql` gives once it equals `expected` (Prometheus needs a scrape or two). */
async function until(prometheus: Prometheus, promql: string, accept: (value: number) => boolean): Promise<number> {
  let last: unknown;
  return eventually(
    async () => {
      const result = await prometheus.query(promql);
      last = result;
      const value = result.length === 1 ? result[0]!.value : undefined;
      return value !== undefined && accept(value) ? value : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 250, what: promql },
  ).catch((error: unknown) => {
    throw new Error(`${String(error)}; last: ${JSON.stringify(last)}`);
  });
}

let prometheus: Prometheus | undefined;
afterAll(async () => prometheus?.stop());

describe('GET /metrics scraped by Prometheus', () => {
  it('exposes the sagas and deliveries another process decided, read from PostgreSQL', async () => {
    // The decider runs the sagas; the observer consumes nothing and only serves /metrics, as an
    // API replica does while ECS tasks decide: what it reports comes from PostgreSQL.
    const decider = await start();
    const observer = await start({ databaseUrl: decider.config.DATABASE_URL!, consume: false, jobs: false });
    const address = await observer.app.listen({ host: '127.0.0.1', port: 0 });
    prometheus = await startPrometheus(new URL(address).host);

    // Two deliveries waiting for their retry (not due for an hour) and a dead one, as the inbox holds them.
    const reserve = 'customer.reserve-credit';
    await sql(
      decider,
      `insert into "customers".inbox (use_case, message_id, type, correlation_id, envelope, status, available_at, created_at)
       values (?, ?, 'order.created.v1', ?, '{}', 'pending', now() + interval '1 hour', now() - interval '30 seconds'),
              (?, ?, 'order.created.v1', ?, '{}', 'pending', now() + interval '1 hour', now()),
              (?, ?, 'order.created.v1', ?, '{}', 'dead', now(), now())`,
      [reserve, uuidv7(), uuidv7(), reserve, uuidv7(), uuidv7(), reserve, uuidv7(), uuidv7()],
    );
    const customerId = await registerCustomer(decider.app, USD(1_000));
    const orders = await Promise.all([1, 2, 3].map(() => placeOrder(decider.app, customerId, USD(100))));
    const rejected = await placeOrder(decider.app, customerId, USD(5_000));
    for (const id of orders) await waitForStatus(decider.app, id, ['APPROVED']);
    expect((await waitForStatus(decider.app, rejected, ['REJECTED'])).rejectionReason).toBe('CREDIT_LIMIT_EXCEEDED');

    await until(prometheus, 'up{job="saga-api"}', (v) => v === 1);
    await until(prometheus, 'sum(saga_duration_seconds_count{style="choreography",outcome="APPROVED"})', (v) => v === 3);
    await until(
      prometheus,
      'sum(saga_duration_seconds_count{style="choreography",outcome="REJECTED",reason="CREDIT_LIMIT_EXCEEDED"})',
      (v) => v === 1,
    );
    const median = await until(prometheus, 'histogram_quantile(0.5, sum by (le) (saga_duration_seconds_bucket))', (v) => v > 0);
    expect(median).toBeLessThan(30);
    await until(prometheus, `saga_deliveries_pending{schema="customers",use_case="${reserve}"}`, (v) => v === 2);
    await until(prometheus, `saga_deliveries_dead{schema="customers",use_case="${reserve}"}`, (v) => v === 1);
    await until(prometheus, `saga_deliveries_oldest_pending_age_seconds{use_case="${reserve}"}`, (v) => v >= 30 && v < 120);
    await until(prometheus, 'saga_metrics_postgres_up', (v) => v === 1);
    // The observer's own requests: the route template, never the URL.
    await until(prometheus, 'sum(saga_http_request_duration_seconds_count{route="/metrics",method="GET",status="200"})', (v) => v >= 1);
    await until(prometheus, 'count(nodejs_eventloop_lag_seconds) + count(process_resident_memory_bytes)', (v) => v === 2);
    // Past another cache period and more scrapes, each saga has still been counted once.
    await new Promise((r) => setTimeout(r, 6_000));
    expect(await prometheus.query('max_over_time(sum(saga_duration_seconds_count)[1m:1s])')).toEqual([{ metric: {}, value: 4 }]);
  }, 90_000);

  it('counts the RunTask launches short-lived ECS tasks recorded, once, from launch_attempts', async () => {
    const system = await start({ consume: false, jobs: false });
    const useCase = 'customer.reserve-credit';
    // What an ECS launcher (in a task that has long exited) wrote: two started, one throttled, one unplaced.
    const rows: Array<[string, string, number, string[], string | null, string | null]> = [
      ['started', '7 seconds', 2, ['arn:a', 'arn:b'], null, '7 seconds'],
      ['started', '20 seconds', 1, ['arn:c'], null, null],
      ['failed', '1 second', 1, [], 'ThrottlingException: Rate exceeded', null],
      ['failed', '1 second', 1, [], 'placement: RESOURCE:MEMORY', null],
    ];
    for (const [status, age, count, arns, error, runningAfter] of rows) {
      const id = uuidv7();
      await sql(
        system,
        `insert into "customers".launch_attempts (id, use_case, client_token, task_count, status, attempts, task_arns, last_error, created_at, running_at)
         values (?, ?, ?, ?, ?, 1, ?, ?, now() - ?::interval, now() - ?::interval + ?::interval)`,
        [id, useCase, id, count, status, arns, error, age, age, runningAfter],
      );
    }
    const scrape = async () => parseExposition((await system.app.inject({ method: 'GET', url: '/metrics' })).body);
    const first = await scrape();
    // Read again after the cache period: the same rows must not count twice.
    await new Promise((r) => setTimeout(r, 5_100));
    for (const e of [first, await scrape()]) {
      const labels = { use_case: useCase };
      expect(valueOf(e, 'saga_ecs_run_task_calls_total', labels)).toBe(4);
      expect(valueOf(e, 'saga_ecs_run_task_failures_total', labels)).toBe(2);
      expect(valueOf(e, 'saga_ecs_run_task_throttled_total', labels)).toBe(1);
      expect(valueOf(e, 'saga_ecs_tasks_launched_total', labels)).toBe(3);
      expect(valueOf(e, 'saga_ecs_task_start_seconds_count', labels)).toBe(1);
      expect(valueOf(e, 'saga_ecs_task_start_seconds_sum', labels)).toBeCloseTo(7, 0);
    }
  }, 30_000);
});
