import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { LocalEcs } from '../../src/dev/ecs-local/index.js';
import { loadConfig, maxEcsTasks } from '../../src/shared/infrastructure/config/config.js';
import { SuitePostgres } from '../reliability/harness/services.js';
import { cloneRunDatabase } from '../support/databases.js';
import { ecsSystemEnv, startTestEcs } from '../support/ecs.js';
import { creditLimitFor, expectedOutcome, runHotBurst, settledChecks, type BurstReport } from '../support/hot-burst.js';
import { registerCustomer, startTestSystem, type TestSystem } from '../support/system.js';

/**
 * Issue 17's burst: 1,500 orders from 10 clients on 40 customers, each with the credit for all
 * its orders but, for half of them, the last one. On ECS tasks (child processes of the local
 * endpoint) and on BullMQ, in both saga styles: every order decided, the expected number
 * approved, none REJECTED with TIMEOUT, no deadlock, the invariants, and the system's
 * connections within DB_CONNECTION_BUDGET at their peak.
 */

const CUSTOMERS = 40;
const ORDERS = 1_500;
const CLIENTS = 10;
const AMOUNT = 50;
const BUDGET = 50;

/** One database: a long-lived pool of 5 and tasks of TASK_CONCURRENCY 2 + 1 + 1 LISTEN: (50 - 5) / 4 = 11 tasks, scale-out included. */
// The deadline of the other transports, not ECS' 5 minutes: a TIMEOUT must be possible within the test.
const SYSTEM_ENV = {
  ORDER_DEADLINE_MS: '60000',
  DB_POOL_SIZE: '5',
  DB_CONNECTION_BUDGET: String(BUDGET),
  TASK_CONCURRENCY: '2',
  ECS_SCALE_OUT_BACKLOG: '10',
  LOG_LEVEL: 'warn',
};

async function burst(system: TestSystem, databaseUrl: string): Promise<BurstReport> {
  const limit = creditLimitFor(CUSTOMERS, ORDERS, AMOUNT);
  const customerIds = await Promise.all(
    Array.from({ length: CUSTOMERS }, (_, i) => registerCustomer(system.app, { amount: limit, currency: 'USD' }, `hot ${i}`)),
  );
  return runHotBurst({
    databaseUrl,
    customerIds,
    orders: ORDERS,
    clients: CLIENTS,
    amount: AMOUNT,
    timeoutMs: 150_000,
    post: async (url, payload, headers) => {
      const res = await system.app.inject({ method: 'POST', url, payload: payload as object, headers });
      return { status: res.statusCode, headers: res.headers, body: res.json() };
    },
  });
}

async function expectSettledAndSound(report: BurstReport, databaseUrl: string, budget: number): Promise<void> {
  const { approved, rejected } = expectedOutcome(CUSTOMERS, ORDERS);
  expect(report.accepted).toBe(ORDERS);
  expect(report.statuses).toEqual({ APPROVED: approved, 'REJECTED:CREDIT_LIMIT_EXCEEDED': rejected });
  expect(report.peakConnections).toBeLessThanOrEqual(budget);
  const { consistency, deadlocks } = await settledChecks(databaseUrl);
  expect(consistency.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.count}`)).toEqual([]);
  expect(deadlocks).toBe(0);
}

/** Runs the burst on a system launching tasks on the local endpoint, then stops both (so that every backend has reported its counters). */
async function ecsBurst(databaseUrl: string, style: string, env: Record<string, string>): Promise<BurstReport> {
  let ecs: LocalEcs | undefined;
  let system: TestSystem | undefined;
  try {
    ecs = await startTestEcs(databaseUrl, { SAGA_STYLE: style, LOG_LEVEL: 'warn' });
    system = await startTestSystem({ databaseUrl, env: { ...ecsSystemEnv(ecs.url), SAGA_STYLE: style, ...env } });
    const report = await burst(system, databaseUrl);
    const stats = ecs.stats();
    console.info(
      `hot burst on ECS (${style}): ${JSON.stringify({ ...report, tasksStarted: stats.tasksStarted, exitedNonZero: stats.tasksExitedNonZero })}`,
    );
    expect(stats.tasksExitedNonZero).toBe(0);
    return report;
  } finally {
    await system?.close();
    await ecs?.close();
  }
}

describe.each(['choreography', 'orchestration'] as const)('a burst on hot customers (%s)', (style) => {
  it('on ECS tasks: every order decided, none timed out, no deadlock, connections within the budget', { timeout: 240_000 }, async () => {
    const databaseUrl = await cloneRunDatabase();
    const report = await ecsBurst(databaseUrl, style, SYSTEM_ENV);
    await expectSettledAndSound(report, databaseUrl, BUDGET);
    // Tasks holding connections at once, within the launcher's ceiling for this budget (both modules in one database).
    expect(report.peakTasks).toBeGreaterThan(0);
    expect(report.peakTasks).toBeLessThanOrEqual(maxEcsTasks(loadConfig({ ...SYSTEM_ENV, EVENT_BUS: 'memory' }), 1));
  });

  it('on BullMQ: every order decided, none timed out, no deadlock, connections within the budget', { timeout: 240_000 }, async () => {
    const databaseUrl = await cloneRunDatabase();
    let report: BurstReport;
    const system = await startTestSystem({ databaseUrl, env: { EVENT_BUS: 'bullmq', SAGA_STYLE: style, ...SYSTEM_ENV } });
    try {
      report = await burst(system, databaseUrl);
      console.info(`hot burst on BullMQ (${style}): ${JSON.stringify(report)}`);
    } finally {
      await system.close();
    }
    await expectSettledAndSound(report, databaseUrl, BUDGET);
  });
});

describe('a burst on hot customers against a PostgreSQL with max_connections=50', () => {
  let root: string | undefined;
  let postgres: SuitePostgres | undefined;
  afterAll(async () => {
    await postgres?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('fits the budget: nothing is refused by PostgreSQL', { timeout: 300_000 }, async () => {
    root = await mkdtemp(join(tmpdir(), 'saga-hot-'));
    postgres = await SuitePostgres.start(root, { max_connections: '50' });
    const databaseUrl = await postgres.createDatabase('hot');
    // The schemas first, by a process that launches nothing.
    const migrator = await startTestSystem({ databaseUrl, consume: false, jobs: false, env: { EVENT_BUS: 'memory' } });
    await migrator.runtime.migrate();
    await migrator.close();
    // 50 minus PostgreSQL's 3 reserved, the test's own 3 and some slack: a budget of 40, tasks included.
    const budget = 40;
    const report = await ecsBurst(databaseUrl, 'choreography', { ...SYSTEM_ENV, DB_POOL_SIZE: '4', DB_CONNECTION_BUDGET: String(budget) });
    expect(report.peakAllConnections).toBeLessThan(47);
    await expectSettledAndSound(report, databaseUrl, budget);
  });
});
