import type { FastifyInstance } from 'fastify';
import { loadConfig, type Config } from '../../src/shared/infrastructure/config/config.js';
import type { ModuleInbox } from '../../src/shared/contract/routing.js';
import type { ModuleDefinition } from '../../src/shared/infrastructure/composition/module-definition.js';
import type { Runtime } from '../../src/entrypoints/composition/runtime.js';
import { createLogger, type Logger } from '../../src/shared/infrastructure/logging/logger.js';
import type { DeliveryTransport } from '../../src/shared/infrastructure/messaging/transport.js';
import { createApi, createMonolith } from '../../src/entrypoints/composition/monolith.js';
import type { ApiSecurity } from '../../src/shared/infrastructure/http/security/api-security.js';
import { testComposition } from './composition.js';
import { cloneRunDatabase, uniquePrefix } from './databases.js';
import { deleteKeysWithPrefix } from '../../src/dev/provisioning/redis.js';

export interface TestSystem {
  readonly runtime: Runtime;
  readonly app: FastifyInstance;
  readonly config: Config;
  /** Stops HTTP, workers, relay, jobs and connections. */
  close(): Promise<void>;
}

export interface TestSystemOptions {
  /** Share a database between systems (a restart); by default each system gets a fresh clone. */
  readonly databaseUrl?: string;
  /** Environment overrides on top of the test run's (DATABASE_URL, REDIS_URL, BULLMQ_PREFIX come from the global setup). */
  readonly env?: Record<string, string>;
  readonly transport?: DeliveryTransport;
  /** Start workers, relay and periodic jobs (default true); false gives a producer-only process. */
  readonly consume?: boolean;
  readonly jobs?: boolean;
  /** Host only these modules (e.g. an Order side whose Customer side runs elsewhere, or not at all); default the tests' composition's. */
  readonly modules?: readonly ModuleDefinition[];
  /** Route with these inboxes (another composition's, e.g. with a fixture module); default the tests' composition's (composition.ts). */
  readonly inboxes?: readonly ModuleInbox[];
  /** Apply the hosted modules' migrations first (a module the run's template database does not hold). */
  readonly migrate?: boolean;
  /** The API's authentication and rate limits; default: from the configuration (AUTH_MODE=off in tests). */
  readonly security?: ApiSecurity;
  /** Log through this logger (e.g. one writing to a stream the test reads) instead of the configured one. */
  readonly logger?: Logger;
}

/**
 * The whole monolith in this test process, against the run's own database and BullMQ prefix.
 * `app.inject` exercises HTTP without a socket.
 */
export async function startTestSystem(options: TestSystemOptions = {}): Promise<TestSystem> {
  const databaseUrl = options.databaseUrl ?? (await cloneRunDatabase());
  const config = loadConfig({
    ...process.env,
    DATABASE_URL: databaseUrl,
    BULLMQ_PREFIX: uniquePrefix(),
    SWEEP_INTERVAL_MS: '200',
    RELAY_POLL_MS: '200',
    REDELIVERY_AFTER_MS: '2000',
    ...options.env,
  });
  if (!config.DATABASE_URL) throw new Error('DATABASE_URL is not set: the vitest global setup provides it');
  const logger = options.logger ?? createLogger({ level: config.LOG_LEVEL, name: 'test' });
  const runtime = await createMonolith({
    config,
    logger,
    databaseUrl: config.DATABASE_URL,
    modules: options.modules ?? testComposition().modules,
    inboxes: options.inboxes ?? testComposition().inboxes,
    ...(config.REDIS_URL ? { redisUrl: config.REDIS_URL } : {}),
    ...(options.transport ? { transport: options.transport } : {}),
  });
  if (options.migrate) await runtime.migrate();
  if (options.consume !== false) {
    await runtime.startConsumers();
    runtime.startRelay();
  }
  if (options.jobs ?? options.consume !== false) runtime.startJobs();
  const app = await createApi(runtime, options.security);
  await app.ready();
  return {
    runtime,
    app,
    config,
    async close() {
      await app.close();
      await runtime.close();
    },
  };
}

export interface MoneyJson {
  amount: number;
  currency: string;
}

export async function registerCustomer(app: FastifyInstance, creditLimit: MoneyJson, name = 'Test customer'): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/customers', payload: { name, creditLimit } });
  if (res.statusCode !== 201) throw new Error(`POST /customers: ${res.statusCode} ${res.body}`);
  return (res.json() as { id: string }).id;
}

export async function placeOrder(
  app: FastifyInstance,
  customerId: string,
  total: MoneyJson,
  headers: Record<string, string> = {},
): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/orders', payload: { customerId, total }, headers });
  if (res.statusCode !== 202) throw new Error(`POST /orders: ${res.statusCode} ${res.body}`);
  return (res.json() as { id: string }).id;
}

export interface OrderJson {
  id: string;
  customerId: string;
  total: MoneyJson;
  status: 'PENDING' | 'APPROVED' | 'REJECTED' | 'CANCELLED';
  rejectionReason?: string;
  saga?: { style: string; state: string; steps: Array<{ name: string; at: string; outcome: string; detail?: string }> };
}

export async function getOrder(app: FastifyInstance, id: string): Promise<OrderJson> {
  const res = await app.inject({ method: 'GET', url: `/orders/${id}` });
  if (res.statusCode !== 200) throw new Error(`GET /orders/${id}: ${res.statusCode} ${res.body}`);
  return res.json() as OrderJson;
}

export async function availableCredit(app: FastifyInstance, customerId: string): Promise<number> {
  const res = await app.inject({ method: 'GET', url: `/customers/${customerId}` });
  if (res.statusCode !== 200) throw new Error(`GET /customers/${customerId}: ${res.statusCode} ${res.body}`);
  return (res.json() as { availableCredit: MoneyJson }).availableCredit.amount;
}

/** Polls until `check` returns a value (not undefined) or the time is up. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${options.what ?? 'a condition'}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
  }
}

export function waitForStatus(app: FastifyInstance, id: string, statuses: OrderJson['status'][], timeoutMs?: number): Promise<OrderJson> {
  return eventually(
    async () => {
      const order = await getOrder(app, id);
      return statuses.includes(order.status) ? order : undefined;
    },
    { what: `order ${id} to be ${statuses.join('|')}`, ...(timeoutMs ? { timeoutMs } : {}) },
  );
}

export const TERMINAL: OrderJson['status'][] = ['APPROVED', 'REJECTED', 'CANCELLED'];

/**
 * Systems a test file starts through `start` are closed (and their BullMQ keys deleted) after
 * each test. Call once at the top of a file.
 */
export function systemsClosedAfterEach(
  afterEachHook: (fn: () => Promise<void>) => void,
): (options?: TestSystemOptions) => Promise<TestSystem> {
  const started: TestSystem[] = [];
  afterEachHook(async () => {
    const systems = started.splice(0);
    await Promise.allSettled(systems.map((s) => s.close()));
    const redisUrl = process.env['REDIS_URL'];
    if (redisUrl)
      await Promise.allSettled(
        [...new Set(systems.map((s) => s.config.BULLMQ_PREFIX))].map((prefix) => deleteKeysWithPrefix(redisUrl, prefix)),
      );
  });
  return async (options = {}) => {
    const system = await startTestSystem(options);
    started.push(system);
    return system;
  };
}

/** A parameterised query on the first hosted module's connection (any schema of the run's database). */
export function sql<T extends object = Record<string, unknown>>(system: TestSystem, text: string, params: unknown[] = []): Promise<T[]> {
  const db = system.runtime.modules[0]?.db;
  if (!db) throw new Error('the system hosts no module');
  return db.query<T>(text, params);
}
