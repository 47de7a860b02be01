import pg from 'pg';
import {
  checkConsistency,
  combinedSummary,
  inOneDatabase,
  type CheckResult,
  type ConsistencyReport,
} from '../../../src/dev/cli/consistency/consistency-checks.js';
import { ALL_MODULES } from '../../../src/entrypoints/composition/all-modules.js';
import { customerInbox } from '../../../src/modules/customer/contract/index.js';
import { orderInbox } from '../../../src/modules/order/contract/index.js';
import type { IntendedOrder } from './load.js';
import { count, withDatabase } from './sql.js';
import { AssertionFailure, sleep } from './util.js';

/** What must hold once a scenario's faults are over. */
export interface SettleExpectations {
  readonly databaseUrl: string;
  /** The orders the clients placed (each accepted exactly once, with what the clients sent). */
  readonly intended?: readonly IntendedOrder[];
  /** Customers that exist: orders for others must be REJECTED with CUSTOMER_NOT_FOUND. */
  readonly knownCustomers?: ReadonlySet<string>;
  /**
   * Whether an order may end by its deadline (TIMEOUT). Not in the fault scenarios: there the
   * deadline is far longer than any fault, so a TIMEOUT means a saga stalled.
   */
  readonly allowTimeouts: boolean;
  /** Message ids that must be dead-lettered (poison messages); any other dead letter fails. */
  readonly expectedDeadLetters?: ReadonlySet<string>;
  /** The system must be idle and consistent within this. */
  readonly timeoutMs: number;
}

export interface SettleResult {
  /** From the call until the system was idle (no order PENDING, nothing pending or unrelayed). */
  readonly settleMs: number;
  readonly ordersByStatus: Record<string, number>;
  readonly rejectionReasons: Record<string, number>;
  readonly deadLetters: number;
  readonly report: ConsistencyReport;
}

/** The checks that say "nothing is in flight any more": those of the `progress` kind, whoever declares them. */
const quiescent = (check: CheckResult) => check.kind === 'progress';

/**
 * What only this harness can check, because it runs every module in one database: the Order and
 * Customer schemas compared directly, beside the modules' own checks (each reads its own schema
 * and its own messages, as a module in a database of its own must). A second way to the same
 * truth: a customer's credit against its approved orders, the reservations against the orders.
 */
const O = `"${orderInbox.schema}"`;
const C = `"${customerInbox.schema}"`;
const CROSS_MODULE_CHECKS: ReadonlyArray<{ readonly name: string; readonly sql: string }> = [
  {
    name: 'credit-matches-approved-orders (harness)',
    sql: `with approved as (select customer_id, sum(total_amount) as total from ${O}.orders where status = 'APPROVED' group by customer_id)
          select c.id as "customerId", c.credit_limit as "creditLimit", c.available_credit as "availableCredit", coalesce(a.total, 0) as "approvedTotal"
          from ${C}.customers c left join approved a on a.customer_id = c.id
          where c.available_credit <> c.credit_limit - coalesce(a.total, 0) or c.available_credit < 0`,
  },
  {
    name: 'reservations-match-orders (harness)',
    sql: `select o.id as "orderId", o.status, o.total_amount as "total", r.status as "reservation", r.amount as "reserved"
          from ${O}.orders o left join ${C}.credit_reservations r on r.order_id = o.id
          where o.status <> 'PENDING'
            and ((o.status = 'APPROVED' and (r.order_id is null or r.status <> 'RESERVED' or r.amount <> o.total_amount or r.customer_id <> o.customer_id))
              or (o.status in ('REJECTED', 'CANCELLED') and r.status = 'RESERVED'))
          union all
          select r.order_id, null, null, r.status, r.amount from ${C}.credit_reservations r
          where r.status = 'RESERVED' and not exists (select 1 from ${O}.orders o where o.id = r.order_id)`,
  },
];

async function crossModuleProblems(client: pg.Client): Promise<string[]> {
  const problems: string[] = [];
  for (const check of CROSS_MODULE_CHECKS) {
    const { rows } = await client.query<Record<string, unknown>>(check.sql);
    if (rows.length > 0)
      problems.push(
        `${check.name}: ${rows.length}\n${rows
          .slice(0, 5)
          .map((r) => `    ${JSON.stringify(r)}`)
          .join('\n')}`,
      );
  }
  return problems;
}

interface OrderRow {
  id: string;
  customer_id: string;
  total_amount: string;
  currency: string;
  status: string;
  rejection_reason: string | null;
}

function describe(check: CheckResult): string {
  const rows = check.sample.slice(0, 5).map((r) => `    ${JSON.stringify(r)}`);
  return [`${check.name}: ${check.count} (${check.description})`, ...rows].join('\n');
}

/**
 * Waits (bounded) until the system is idle, then asserts every invariant: the consistency
 * checks of `npm run check:consistency` in settled mode, the expected dead letters and nothing
 * else, and the clients' view: every order they placed exists once, as they sent it, ended, and
 * is CANCELLED exactly when they cancelled it.
 */
export async function assertSettled(expectations: SettleExpectations): Promise<SettleResult> {
  const started = Date.now();
  const client = new pg.Client({ connectionString: expectations.databaseUrl, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    let report: ConsistencyReport;
    for (;;) {
      report = await checkConsistency(inOneDatabase(client, ALL_MODULES), { mode: 'settled', sampleLimit: 10_000 });
      const idle = report.checks.filter(quiescent).every((c) => c.ok);
      if (idle) break;
      if (Date.now() - started > expectations.timeoutMs) {
        const stuck = report.checks.filter((c) => quiescent(c) && !c.ok).map(describe);
        throw new AssertionFailure(`the system did not settle within ${expectations.timeoutMs} ms:\n${stuck.join('\n')}`);
      }
      await sleep(200);
    }
    const settleMs = Date.now() - started;
    const problems: string[] = [];

    const expectedDead = expectations.expectedDeadLetters ?? new Set<string>();
    const dead = report.checks.find((c) => c.name === 'no-dead-letters')?.sample ?? [];
    // The sagas of the poison a scenario injected (forged messages about orders that never existed):
    // what the checks find about them is the injected corruption itself, and expected.
    const poisoned = new Set(dead.filter((r) => expectedDead.has(String(r['messageId']))).map((r) => String(r['correlationId'])));
    for (const check of report.checks) {
      if (check.ok || check.name === 'no-dead-letters') continue;
      const aboutPoison = (row: Record<string, unknown>) => poisoned.has(String(row['orderId'] ?? row['correlationId']));
      if (check.count === check.sample.length && check.sample.every(aboutPoison)) continue;
      problems.push(describe({ ...check, sample: check.sample.filter((r) => !aboutPoison(r)) }));
    }
    problems.push(...(await crossModuleProblems(client)));
    const deadIds = new Set(dead.map((r) => String(r['messageId'])));
    const unexpectedDead = dead.filter((r) => !expectedDead.has(String(r['messageId'])));
    if (unexpectedDead.length > 0) {
      problems.push(
        `unexpected dead letters: ${unexpectedDead.length}\n${unexpectedDead
          .slice(0, 5)
          .map((r) => `    ${JSON.stringify(r)}`)
          .join('\n')}`,
      );
    }
    const missingDead = [...expectedDead].filter((id) => !deadIds.has(id));
    if (missingDead.length > 0)
      problems.push(`messages that should be dead-lettered but are not: ${missingDead.length} (${missingDead.slice(0, 5).join(', ')})`);

    const orders = (
      await client.query<OrderRow>('select id, customer_id, total_amount, currency, status, rejection_reason from ordering.orders')
    ).rows;
    const ordersByStatus: Record<string, number> = {};
    const rejectionReasons: Record<string, number> = {};
    for (const o of orders) {
      ordersByStatus[o.status] = (ordersByStatus[o.status] ?? 0) + 1;
      if (o.rejection_reason) rejectionReasons[o.rejection_reason] = (rejectionReasons[o.rejection_reason] ?? 0) + 1;
    }
    if (!expectations.allowTimeouts && (rejectionReasons['TIMEOUT'] ?? 0) > 0) {
      problems.push(`${rejectionReasons['TIMEOUT']} orders ended by their deadline (TIMEOUT): some message of their saga never arrived`);
    }
    if (expectations.intended) problems.push(...clientViewProblems(expectations.intended, orders, expectations.knownCustomers));

    if (problems.length > 0) throw new AssertionFailure(`invariants violated:\n${problems.join('\n')}`);
    return { settleMs, ordersByStatus, rejectionReasons, deadLetters: dead.length, report };
  } finally {
    await client.end().catch(() => undefined);
  }
}

function clientViewProblems(
  intended: readonly IntendedOrder[],
  orders: readonly OrderRow[],
  knownCustomers: ReadonlySet<string> | undefined,
): string[] {
  const problems: string[] = [];
  const byId = new Map(orders.map((o) => [o.id, o]));
  const seen = new Set<string>();
  let lost = 0;
  let wrong = 0;
  let cancelMismatch = 0;
  let reasonMismatch = 0;
  const examples: string[] = [];
  for (const order of intended) {
    if (!order.orderId) {
      lost++;
      examples.push(`${order.key}: never accepted`);
      continue;
    }
    if (seen.has(order.orderId)) problems.push(`two idempotency keys answered with the same order ${order.orderId}`);
    seen.add(order.orderId);
    const row = byId.get(order.orderId);
    if (!row) {
      lost++;
      examples.push(`${order.key}: accepted as ${order.orderId}, not in the database`);
      continue;
    }
    if (row.customer_id !== order.customerId || Number(row.total_amount) !== order.amount || row.currency !== order.currency) {
      wrong++;
      examples.push(`${order.key}: stored as ${row.customer_id} ${row.total_amount} ${row.currency}`);
    }
    if ((row.status === 'CANCELLED') !== order.cancelConfirmed) {
      cancelMismatch++;
      examples.push(`${order.key}: ${row.status}, cancel confirmed to the client: ${order.cancelConfirmed}`);
    }
    const expectedReason =
      knownCustomers && !knownCustomers.has(order.customerId)
        ? 'CUSTOMER_NOT_FOUND'
        : order.currency !== 'USD'
          ? 'CURRENCY_MISMATCH'
          : undefined;
    if (expectedReason && row.rejection_reason !== expectedReason) {
      reasonMismatch++;
      examples.push(`${order.key}: ${row.status} ${row.rejection_reason ?? ''}, expected REJECTED ${expectedReason}`);
    }
  }
  const extra = orders.filter((o) => !seen.has(o.id)).length;
  if (lost > 0) problems.push(`${lost} accepted orders lost`);
  if (wrong > 0) problems.push(`${wrong} orders stored differently from what the client sent`);
  if (cancelMismatch > 0)
    problems.push(`${cancelMismatch} orders whose CANCELLED status disagrees with the cancellations the clients saw succeed`);
  if (reasonMismatch > 0) problems.push(`${reasonMismatch} orders without their expected rejection`);
  if (extra > 0) problems.push(`${extra} orders in the database that no client was told about (a retried request created a second order?)`);
  if (examples.length > 0) problems.push(`  e.g. ${examples.slice(0, 5).join('; ')}`);
  return problems;
}

interface OpenFault {
  readonly orderIds: readonly string[];
  readonly endedAt: number;
  readonly done: (ms: number) => void;
  readonly fail: (error: Error) => void;
}

/**
 * Time to recover from each fault of a scenario: from the moment the fault ended until every
 * order accepted before then has left PENDING (orders placed afterwards do not count). One
 * background poller for all of them, bounded in time.
 */
export class RecoveryClock {
  private readonly open: OpenFault[] = [];
  private readonly results: Array<Promise<number>> = [];
  private polling: Promise<void> | undefined;

  constructor(
    private readonly databaseUrl: string,
    private readonly timeoutMs = 120_000,
  ) {}

  /** The fault is over (the process is back, the server restarted...): start its clock. Resolves with its recovery time. */
  faultEnded(orderIds: readonly string[]): Promise<number> {
    const endedAt = Date.now();
    const result = new Promise<number>((done, fail) => this.open.push({ orderIds: [...orderIds], endedAt, done, fail }));
    result.catch(() => undefined);
    this.results.push(result);
    this.polling ??= this.poll();
    return result;
  }

  /** The recovery time of each fault, in order. */
  all(): Promise<number[]> {
    return Promise.all(this.results);
  }

  private async poll(): Promise<void> {
    while (this.open.length > 0) {
      await withDatabase(this.databaseUrl, async (client) => {
        for (const fault of [...this.open]) {
          const pending = await count(client, `select count(*) from ordering.orders where status = 'PENDING' and id = any($1::uuid[])`, [
            fault.orderIds,
          ]);
          if (pending === 0) fault.done(Date.now() - fault.endedAt);
          else if (Date.now() - fault.endedAt > this.timeoutMs)
            fault.fail(
              new AssertionFailure(`${pending} orders accepted before a fault were still PENDING ${this.timeoutMs} ms after it ended`),
            );
          else continue;
          this.open.splice(this.open.indexOf(fault), 1);
        }
      }).catch(() => undefined); // PostgreSQL may be the fault being recovered from: poll again.
      await sleep(200);
    }
    this.polling = undefined;
  }
}

function sum(records: ReadonlyArray<Record<string, number>>): Record<string, number> {
  const total: Record<string, number> = {};
  for (const r of records) for (const [k, v] of Object.entries(r)) total[k] = (total[k] ?? 0) + v;
  return total;
}

/** One view of several runs' invariants (a scenario's saga styles, each asserted on its own), for the suite's summary. */
export function combinedSettled(results: readonly SettleResult[]): SettleResult {
  const reports = results.map((r) => r.report);
  return {
    settleMs: Math.max(...results.map((r) => r.settleMs)),
    ordersByStatus: sum(results.map((r) => r.ordersByStatus)),
    rejectionReasons: sum(results.map((r) => r.rejectionReasons)),
    deadLetters: results.reduce((n, r) => n + r.deadLetters, 0),
    report: { ...reports.at(-1)!, ok: reports.every((r) => r.ok), summary: combinedSummary(reports.map((r) => r.summary)) },
  };
}
