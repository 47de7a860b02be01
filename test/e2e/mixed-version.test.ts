import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startLocalEcs, silentEcsLocalLogger, type LocalEcs } from '../../src/dev/ecs-local/index.js';
import { SAGA_STYLES, type SagaStyle } from '../../src/shared/contract/routing.js';
import { cloneRunDatabase, uniquePrefix } from '../support/databases.js';
import { ecsSystemEnv } from '../support/ecs.js';
import { freePort } from '../support/ports.js';
import { PREVIOUS_RELEASE, previousRelease, ReleaseProcess } from '../support/previous-release.js';
import { deleteKeysWithPrefix } from '../../src/dev/provisioning/redis.js';

/**
 * The mixed-version test (ADR 37, docs/deployment.md "Release order"): the previous release (a
 * pinned commit, built once and cached) and this build run side by side on one database with
 * sagas in flight, as a rolling deploy has them. The database is migrated by this build first
 * (the release order's first step); then three generations follow each other, each started
 * before the last is stopped with SIGTERM while its sagas are in flight: old API and consumers;
 * a mixed pair; this build alone. The mixed pair is old API + new consumers, or new API + old
 * consumers (on ECS: the API launching tasks pinned to the other release's revision). Each
 * generation places orders and cancels approved ones placed by the one before. Every order must
 * end decided, nothing be dead-lettered, and every customer's credit match its orders.
 */
type Release = 'old' | 'new';
interface Generation {
  readonly api: Release;
  readonly consumers: Release;
}

const DIRECTIONS: Record<string, readonly Generation[]> = {
  'old API + new consumers': [
    { api: 'old', consumers: 'old' },
    { api: 'old', consumers: 'new' },
    { api: 'new', consumers: 'new' },
  ],
  'new API + old consumers': [
    { api: 'old', consumers: 'old' },
    { api: 'new', consumers: 'old' },
    { api: 'new', consumers: 'new' },
  ],
};

const LIMIT = 10_000;
const ORDERS_PER_GENERATION = 6;
const NEW_ROOT = process.cwd();
let OLD_ROOT = '';

beforeAll(() => {
  // The first run builds the pinned release (about a minute); later runs reuse it.
  OLD_ROOT = previousRelease();
}, 10 * 60_000);

const running: Array<{ stop(): Promise<unknown> }> = [];
afterEach(async () => {
  for (const p of running.splice(0).reverse()) await p.stop();
});

interface World {
  readonly databaseUrl: string;
  readonly env: Record<string, string>;
  readonly customers: string[];
  readonly orders: Array<{ id: string; customerId: string; total: number }>;
}

async function call(
  port: number,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/**
 * Places this generation's orders in two waves and cancels the approved ones of the generation
 * before. The second wave comes once the first is decided and its tasks have exited (ECS): a
 * launch must then find every share of the first wave's tasks given back, whichever release's
 * launcher counted it and whichever release's task held it.
 */
async function work(world: World, port: number, generation: number, tasksExited: () => Promise<void> = async () => {}): Promise<void> {
  const before = world.orders.slice();
  const wave = async (from: number, to: number) => {
    for (let i = from; i < to; i += 1) {
      const customerId = world.customers[(generation + i) % world.customers.length]!;
      const total = 1_000 + ((generation * 7 + i * 13) % 5) * 1_000;
      const res = await call(port, 'POST', '/orders', { customerId, total: { amount: total, currency: 'USD' } });
      expect(res.status, JSON.stringify(res.json)).toBe(202);
      world.orders.push({ id: String(res.json['id']), customerId, total });
    }
  };
  const half = ORDERS_PER_GENERATION / 2;
  await wave(0, half);
  await decided(world, port, world.orders.slice(-half));
  await tasksExited();
  await wave(half, ORDERS_PER_GENERATION);
  for (const order of before.slice(-ORDERS_PER_GENERATION)) {
    const res = await call(port, 'GET', `/orders/${order.id}`);
    if (res.json['status'] === 'APPROVED') await call(port, 'POST', `/orders/${order.id}/cancel`);
  }
}

/** Waits until no task of either endpoint runs (the first wave's tasks drained and exited; 30 s at most). */
async function noTaskRunning(endpoints: Partial<Record<Release, LocalEcs>>): Promise<void> {
  const deadline = Date.now() + 30_000;
  const running = () => Object.values(endpoints).reduce((n, e) => n + (e?.stats().tasksRunning ?? 0), 0);
  while (running() > 0) {
    if (Date.now() > deadline) throw new Error(`${running()} task(s) still running 30 s after the first wave was decided`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until these orders are no longer PENDING (30 s at most). */
async function decided(world: World, port: number, orders: World['orders']): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (const order of orders) {
    while ((await call(port, 'GET', `/orders/${order.id}`)).json['status'] === 'PENDING') {
      if (Date.now() > deadline) throw new Error(`order ${order.id} still PENDING after 30 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function query<T extends pg.QueryResultRow>(databaseUrl: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

/** Every order decided, every compensation done, nothing dead, credit matching the orders. */
async function settled(world: World, logs: () => string): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const [busy] = await query<{ pending: string; unreleased: string }>(
      world.databaseUrl,
      `select (select count(*) from ordering.orders where status = 'PENDING')
            + (select count(*) from ordering.inbox where status = 'pending') + (select count(*) from customers.inbox where status = 'pending')
            + (select count(*) from ordering.outbox where relayed_at is null) + (select count(*) from customers.outbox where relayed_at is null) as pending,
              (select count(*) from customers.credit_reservations r join ordering.orders o on o.id = r.order_id
                where o.status <> 'APPROVED' and r.status = 'RESERVED') as unreleased`,
    );
    if (Number(busy!.pending) === 0 && Number(busy!.unreleased) === 0) return;
    if (Date.now() > deadline) throw new Error(`not settled after 90 s (${JSON.stringify(busy)}):\n${logs().slice(-6_000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function assertConsistent(world: World): Promise<void> {
  const dead = await query<{ use_case: string; type: string; error_code: string }>(
    world.databaseUrl,
    `select use_case, type, error_code from ordering.inbox where status = 'dead'
     union all select use_case, type, error_code from customers.inbox where status = 'dead'`,
  );
  expect(dead).toEqual([]);
  const orders = await query<{ id: string; customer_id: string; status: string }>(
    world.databaseUrl,
    'select id::text, customer_id::text, status from ordering.orders',
  );
  expect(orders).toHaveLength(world.orders.length);
  expect(orders.filter((o) => !['APPROVED', 'REJECTED', 'CANCELLED'].includes(o.status))).toEqual([]);
  const credit = await query<{ id: string; available: string }>(
    world.databaseUrl,
    'select id::text, available_credit::text as available from customers.customers',
  );
  for (const c of credit) {
    const approved = world.orders
      .filter((o) => o.customerId === c.id && orders.find((x) => x.id === o.id)?.status === 'APPROVED')
      .reduce((sum, o) => sum + o.total, 0);
    expect({ customer: c.id, available: Number(c.available) }).toEqual({ customer: c.id, available: LIMIT - approved });
  }
}

const rootOf = (release: Release) => (release === 'old' ? OLD_ROOT : NEW_ROOT);

async function newWorld(style: SagaStyle, extra: Record<string, string>): Promise<World> {
  const databaseUrl = await cloneRunDatabase();
  const env = {
    DATABASE_URL: databaseUrl,
    REDIS_URL: process.env['REDIS_URL'] ?? '',
    BULLMQ_PREFIX: uniquePrefix(),
    SAGA_STYLE: style,
    NODE_ENV: 'development',
    AUTH_MODE: 'off',
    LOG_LEVEL: 'info',
    METRICS_PORT: '0',
    SWEEP_INTERVAL_MS: '200',
    RELAY_POLL_MS: '200',
    REDELIVERY_AFTER_MS: '2000',
    ...extra,
  };
  return { databaseUrl, env, customers: [], orders: [] };
}

async function startApi(world: World, release: Release, env: Record<string, string> = {}): Promise<{ api: ReleaseProcess; port: number }> {
  const port = await freePort();
  const api = new ReleaseProcess(`${release} API`, rootOf(release), 'api-server.js', { ...world.env, ...env, PORT: String(port) });
  running.push(api);
  await api.ready('api ready');
  return { api, port };
}

async function registerCustomers(world: World, port: number): Promise<void> {
  for (let i = 0; i < 3; i += 1) {
    const res = await call(port, 'POST', '/customers', { name: `Mixed ${i}`, creditLimit: { amount: LIMIT, currency: 'USD' } });
    world.customers.push(String(res.json['id']));
  }
}

describe.each(SAGA_STYLES)('mixed versions on BullMQ, %s', (style) => {
  it.each(Object.entries(DIRECTIONS))('%s', { timeout: 180_000 }, async (_name, generations) => {
    const world = await newWorld(style, { EVENT_BUS: 'bullmq' });
    const all: ReleaseProcess[] = [];
    let api: { api: ReleaseProcess; port: number } | undefined;
    let worker: { proc: ReleaseProcess; release: Release } | undefined;
    try {
      for (const [n, g] of generations.entries()) {
        if (worker?.release !== g.consumers) {
          const proc = new ReleaseProcess(`${g.consumers} worker`, rootOf(g.consumers), 'worker.js', world.env);
          running.push(proc);
          all.push(proc);
          await proc.ready('worker ready');
          // The previous worker is replaced with messages in flight.
          await worker?.proc.stop();
          worker = { proc, release: g.consumers };
        }
        const next = await startApi(world, g.api);
        all.push(next.api);
        await api?.api.stop();
        api = next;
        if (n === 0) await registerCustomers(world, api.port);
        await work(world, api.port, n);
      }
      await settled(world, () => all.map((p) => `--- ${p.label}\n${p.logs()}`).join('\n'));
      await assertConsistent(world);
    } finally {
      await deleteKeysWithPrefix(process.env['REDIS_URL'] ?? '', world.env['BULLMQ_PREFIX']!).catch(() => undefined);
    }
  });
});

describe.each(SAGA_STYLES)('mixed versions on ECS (local endpoint), %s', (style) => {
  const endpoints: Partial<Record<Release, LocalEcs>> = {};
  afterAll(async () => {
    for (const e of Object.values(endpoints)) await e?.close();
  });

  it.each(Object.entries(DIRECTIONS))('%s', { timeout: 180_000 }, async (_name, generations) => {
    const world = await newWorld(style, {});
    // One endpoint per release: its tasks run that release's dist/tasks from its deploy/ecs (a pinned revision).
    const ports: Record<Release, number> = { old: await freePort(), new: await freePort() };
    const taskEnv = (release: Release) => ({
      ...world.env,
      ...ecsSystemEnv(`http://127.0.0.1:${ports[release]}`),
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    });
    for (const release of ['old', 'new'] as const) {
      await endpoints[release]?.close();
      endpoints[release] = await startLocalEcs({
        port: ports[release],
        taskDefinitionsDir: join(rootOf(release), 'deploy', 'ecs'),
        projectRoot: rootOf(release),
        stopTimeoutMs: 5_000,
        inheritEnv: false,
        env: { PATH: process.env['PATH'] ?? '', ...taskEnv(release), LOG_LEVEL: 'warn' },
        logger: silentEcsLocalLogger,
      });
    }
    const all: ReleaseProcess[] = [];
    let api: { api: ReleaseProcess; port: number } | undefined;
    for (const [n, g] of generations.entries()) {
      // The API launches the consumers' release: its relay starts tasks of that revision.
      const next = await startApi(world, g.api, taskEnv(g.consumers));
      all.push(next.api);
      await api?.api.stop();
      api = next;
      if (n === 0) await registerCustomers(world, api.port);
      await work(world, api.port, n, () => noTaskRunning(endpoints));
    }
    await settled(world, () => all.map((p) => `--- ${p.label}\n${p.logs()}`).join('\n'));
    await assertConsistent(world);
    // Both revisions really ran use cases.
    expect([endpoints.old?.stats().tasksStarted, endpoints.new?.stats().tasksStarted]).toEqual([expect.any(Number), expect.any(Number)]);
    expect(Math.min(endpoints.old!.stats().tasksStarted, endpoints.new!.stats().tasksStarted)).toBeGreaterThan(0);
  });
});

it('runs beside the pinned previous release', () => {
  expect(OLD_ROOT).toContain(PREVIOUS_RELEASE);
});
