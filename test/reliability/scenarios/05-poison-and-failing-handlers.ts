import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ModuleDatabase } from '../../../src/shared/infrastructure/persistence/module-database.js';
import { createLogger } from '../../../src/shared/infrastructure/logging/logger.js';
import { redriveDeadLetters } from '../../../src/shared/infrastructure/messaging/dead-letters.js';
import { uuidv7 } from '../../../src/shared/kernel/index.js';
import { assertSettled } from '../harness/invariants.js';
import { emptyStats, OrderLoad, registerCustomers, type Customer } from '../harness/load.js';
import type { Scenario, ScenarioContext } from '../harness/scenario.js';
import { count, traceparentOf, withDatabase } from '../harness/sql.js';
import { assert, sleep, waitFor } from '../harness/util.js';

const MAX_ATTEMPTS = 4;
const RETRY_BASE_MS = 200;
const TRANSIENT_FAILURES = 2;

/**
 * Faults injected under the handlers, in the database they write to: a trigger makes the
 * Customer module's reserve-credit fail (always for some customers, for the first attempts of
 * each delivery for others) and another makes the Order module's approve-order fail for some
 * customers. The handlers throw exactly as they would on a real bug or a broken dependency.
 */
const FAULTS_SQL = `
  create schema reliability_faults;
  create table reliability_faults.broken (customer_id uuid not null, use_case text not null, primary key (customer_id, use_case));
  create table reliability_faults.flaky (customer_id uuid primary key, failures int not null);
  create function reliability_faults.reserve_guard() returns trigger language plpgsql as $$
  begin
    if exists (select 1 from reliability_faults.broken where customer_id = new.customer_id and use_case = 'customer.reserve-credit') then
      raise exception 'injected fault: reserve-credit is broken for customer %', new.customer_id;
    end if;
    if exists (select 1 from reliability_faults.flaky f join customers.inbox i
               on i.correlation_id = new.order_id and i.use_case = 'customer.reserve-credit'
               -- attempts before this one (the inbox may already count this attempt, marking it done)
               where f.customer_id = new.customer_id and i.attempts - (case when i.status = 'done' then 1 else 0 end) < f.failures) then
      raise exception 'injected transient fault in reserve-credit for order %', new.order_id;
    end if;
    return new;
  end $$;
  create trigger reliability_reserve_guard before insert on customers.credit_reservations
    for each row when (new.status = 'RESERVED') execute function reliability_faults.reserve_guard();
  create function reliability_faults.approve_guard() returns trigger language plpgsql as $$
  begin
    if exists (select 1 from reliability_faults.broken where customer_id = new.customer_id and use_case = 'order.approve-order') then
      raise exception 'injected fault: approve-order is broken for customer %', new.customer_id;
    end if;
    return new;
  end $$;
  create trigger reliability_approve_guard before update on ordering.orders
    for each row when (new.status = 'APPROVED' and old.status = 'PENDING') execute function reliability_faults.approve_guard();
`;

interface BackoffObservation {
  readonly attempts: number;
  readonly delayMs: number;
}

/** Samples the retry schedule PostgreSQL holds: for a pending delivery after attempt n, available_at - updated_at is its backoff. */
async function sampleBackoff(databaseUrl: string, until: () => boolean): Promise<BackoffObservation[]> {
  const seen = new Map<string, BackoffObservation>();
  await withDatabase(databaseUrl, async (client) => {
    for (let i = 0; i < 3_000 && !until(); i++) {
      const rows = await client.query<{ message_id: string; attempts: number; delay_ms: number }>(
        `select message_id, attempts, round(extract(epoch from available_at - updated_at) * 1000)::int as delay_ms
         from customers.inbox where status = 'pending' and attempts > 0 and last_error like '%injected%'`,
      );
      for (const r of rows.rows) seen.set(`${r.message_id}:${r.attempts}`, { attempts: r.attempts, delayMs: r.delay_ms });
      await sleep(20);
    }
  });
  return [...seen.values()];
}

/** Runs the operator command against the database, as an operator would; returns its exit code and JSON report. */
async function checkConsistencyCli(
  ctx: ScenarioContext,
  databaseUrl: string,
): Promise<{
  code: number | null;
  report: { ok: boolean; checks: Array<{ name: string; count: number; sample: Array<Record<string, unknown>> }> };
}> {
  const child = spawn(
    process.execPath,
    [join(ctx.distDir, 'dev', 'cli', 'check-consistency.js'), '--json', '--limit', '1000', '--database-url', databaseUrl],
    {
      cwd: ctx.projectRoot,
      env: { PATH: process.env['PATH'] ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  try {
    return { code, report: JSON.parse(out) as Awaited<ReturnType<typeof checkConsistencyCli>>['report'] };
  } catch {
    throw new Error(`check-consistency printed no JSON (exit ${String(code)}): ${err.slice(0, 500)}`);
  }
}

export const poisonAndFailingHandlers: Scenario = {
  id: 'poison-and-failing-handlers',
  number: 5,
  title: 'Poison messages and throwing handlers: backoff, dead letters, redrive',
  async run(ctx: ScenarioContext) {
    const perGroup = ctx.quick ? 3 : 8;
    const ordersPerCustomer = ctx.quick ? 2 : 5;
    const poisonPerPath = ctx.quick ? 3 : 10;
    const { system, databaseUrl } = await ctx.createSystem({
      SAGA_STYLE: 'choreography',
      DELIVERY_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
      RETRY_BASE_MS: String(RETRY_BASE_MS),
      RETRY_MAX_MS: '5000',
    });
    await system.start();
    // Limits no order can exceed: every order of a broken customer reaches its broken handler.
    const all = await registerCustomers(system.baseUrl, perGroup * 4, ctx.random, emptyStats(), 100_000_000);
    const group = (i: number): Customer[] => all.slice(i * perGroup, (i + 1) * perGroup);
    const [healthy, flaky, brokenReserve, brokenApprove] = [group(0), group(1), group(2), group(3)];

    // Poison: valid envelopes about orders that do not exist, straight into an inbox and through an outbox.
    const poison: string[] = [];
    /** The orders the poison names (none exists): what the checks find about them is the poison itself. */
    const poisonSagas = new Set<string>();
    await withDatabase(databaseUrl, async (client) => {
      await client.query(FAULTS_SQL);
      await client.query('insert into reliability_faults.flaky (customer_id, failures) select unnest($1::uuid[]), $2', [
        flaky.map((c) => c.id),
        TRANSIENT_FAILURES,
      ]);
      await client.query(
        `insert into reliability_faults.broken (customer_id, use_case)
         select unnest($1::uuid[]), 'customer.reserve-credit' union all select unnest($2::uuid[]), 'order.approve-order'`,
        [brokenReserve.map((c) => c.id), brokenApprove.map((c) => c.id)],
      );
      for (let i = 0; i < poisonPerPath; i++) {
        const [inboxId, outboxId, orderA, orderB] = [uuidv7(), uuidv7(), uuidv7(), uuidv7()];
        const payload = (orderId: string) => ({ orderId, customerId: healthy[0]!.id, amount: { amount: 100, currency: 'USD' } });
        const envelope = {
          id: inboxId,
          type: 'customer.credit-reserved.v1',
          occurredAt: new Date().toISOString(),
          correlationId: orderA,
          causationId: null,
          traceparent: traceparentOf(inboxId),
          payload: payload(orderA),
        };
        await client.query(
          `insert into ordering.inbox (use_case, message_id, type, correlation_id, envelope) values ('order.approve-order', $1, 'customer.credit-reserved.v1', $2, $3)`,
          [inboxId, orderA, envelope],
        );
        await client.query(
          `insert into customers.outbox (id, type, correlation_id, causation_id, traceparent, occurred_at, payload, produced_by)
           values ($1, 'customer.credit-reserved.v1', $2, null, $3, now(), $4, 'reliability.poison')`,
          [outboxId, orderB, traceparentOf(outboxId), payload(orderB)],
        );
        poison.push(inboxId, outboxId);
        poisonSagas.add(orderA).add(orderB);
      }
    });

    const load = new OrderLoad({
      baseUrl: system.baseUrl,
      customers: all,
      orders: all.length * ordersPerCustomer,
      concurrency: 8,
      random: ctx.random,
      cancelShare: 0,
      unknownCustomerShare: 0,
      otherCurrencyShare: 0,
      requestTimeoutMs: 10_000,
      maxDurationMs: 60_000,
      keyPrefix: `poison-${ctx.seed}`,
    });
    let failing = true;
    const sampling = sampleBackoff(databaseUrl, () => !failing);
    const loadStarted = Date.now();
    await load.start();
    const ordersOf = (customers: Customer[]) => {
      const ids = new Set(customers.map((c) => c.id));
      return load.intended.filter((o) => ids.has(o.customerId)).map((o) => o.orderId!);
    };
    const brokenReserveOrders = ordersOf(brokenReserve);
    const brokenApproveOrders = ordersOf(brokenApprove);
    const flakyOrders = ordersOf(flaky);
    const workingOrders = [...ordersOf(healthy), ...flakyOrders];

    // Every failing delivery must end dead after MAX_ATTEMPTS, every other order must end.
    const deadState = await waitFor(
      'the failing deliveries to be dead-lettered and the others to end',
      () =>
        withDatabase(databaseUrl, async (client) => {
          const deadReserve = await count(
            client,
            `select count(*) from customers.inbox where status = 'dead' and use_case = 'customer.reserve-credit' and correlation_id = any($1::uuid[])`,
            [brokenReserveOrders],
          );
          const deadApprove = await count(
            client,
            `select count(*) from ordering.inbox where status = 'dead' and use_case = 'order.approve-order' and correlation_id = any($1::uuid[])`,
            [brokenApproveOrders],
          );
          const deadPoison = await count(
            client,
            `select count(*) from ordering.inbox where status = 'dead' and message_id = any($1::uuid[])`,
            [poison],
          );
          const pendingWorking = await count(
            client,
            `select count(*) from ordering.orders where status = 'PENDING' and id = any($1::uuid[])`,
            [workingOrders],
          );
          const done =
            deadReserve === brokenReserveOrders.length &&
            deadApprove === brokenApproveOrders.length &&
            deadPoison === poison.length &&
            pendingWorking === 0;
          return done ? { deadReserve, deadApprove, deadPoison } : undefined;
        }),
      { timeoutMs: 90_000, intervalMs: 250 },
    );
    const deadAt = Date.now();
    failing = false;
    const backoff = await sampling;

    await withDatabase(databaseUrl, async (client) => {
      const dead = await client.query<{
        use_case: string;
        attempts: number;
        error_code: string;
        last_error: string;
        correlation_id: string;
        message_id: string;
      }>(
        `select use_case, attempts, error_code, last_error, correlation_id, message_id from customers.inbox where status = 'dead'
         union all select use_case, attempts, error_code, last_error, correlation_id, message_id from ordering.inbox where status = 'dead'`,
      );
      for (const row of dead.rows) {
        assert(row.attempts === MAX_ATTEMPTS, `dead letter ${row.message_id} after ${row.attempts} attempts, expected ${MAX_ATTEMPTS}`);
        const isPoison = poison.includes(row.message_id);
        assert(
          isPoison
            ? row.error_code === 'ORDER_NOT_FOUND'
            : row.error_code === 'HANDLER_FAILED' && row.last_error.includes('injected fault'),
          `dead letter ${row.message_id} has the wrong reason: ${row.error_code} ${row.last_error}`,
        );
      }
      assert(
        dead.rows.length === brokenReserveOrders.length + brokenApproveOrders.length + poison.length,
        `unexpected dead letters: ${dead.rows.length}`,
      );
      const stillPending = await count(client, `select count(*) from ordering.orders where status = 'PENDING' and id = any($1::uuid[])`, [
        [...brokenReserveOrders, ...brokenApproveOrders],
      ]);
      assert(
        stillPending === brokenReserveOrders.length + brokenApproveOrders.length,
        'orders whose saga is dead-lettered must wait, PENDING',
      );
      const flakyAttempts = await client.query<{ attempts: number }>(
        `select i.attempts from customers.inbox i join customers.credit_reservations r on r.order_id = i.correlation_id
         where i.use_case = 'customer.reserve-credit' and i.status = 'done' and i.correlation_id = any($1::uuid[])`,
        [flakyOrders],
      );
      assert(flakyAttempts.rows.length > 0, 'no delivery of the flaky customers reserved credit');
      assert(
        flakyAttempts.rows.every((r) => r.attempts === TRANSIENT_FAILURES + 1),
        `transient failures must be retried until they succeed: attempts ${flakyAttempts.rows.map((r) => r.attempts).join(',')}`,
      );
    });

    // Backoff: after attempt n the delivery waits between half and all of base * 2^(n-1).
    for (let n = 1; n < MAX_ATTEMPTS; n++) {
      const observed = backoff.filter((b) => b.attempts === n);
      assert(observed.length > 0, `no retry after attempt ${n} was observed`);
      const ceiling = RETRY_BASE_MS * 2 ** (n - 1);
      const outside = observed.filter((b) => b.delayMs < ceiling / 2 - 2 || b.delayMs > ceiling + 2);
      assert(
        outside.length === 0,
        `backoff after attempt ${n} outside [${ceiling / 2}, ${ceiling}] ms: ${outside.map((b) => b.delayMs).join(', ')}`,
      );
    }

    const before = await checkConsistencyCli(ctx, databaseUrl);
    const deadCheck = before.report.checks.find((c) => c.name === 'no-dead-letters');
    assert(
      before.code === 1 && deadCheck?.count === brokenReserveOrders.length + brokenApproveOrders.length + poison.length,
      `check:consistency must fail on the dead letters (exit ${String(before.code)}, ${deadCheck?.count} listed)`,
    );

    // The operator repairs the cause, then re-drives; the poison stays poison and dies again.
    const logger = createLogger({ level: 'silent' });
    const connect = (schema: string) =>
      ModuleDatabase.connect({ schema, entities: [], migrations: async () => [], databaseUrl, poolSize: 2, logger });
    const [customers, ordering] = await Promise.all([connect('customers'), connect('ordering')]);
    await withDatabase(databaseUrl, (client) => client.query('delete from reliability_faults.broken'));
    const redriveStarted = Date.now();
    let redriven: { reserve: number; approve: number };
    try {
      redriven = {
        reserve: await redriveDeadLetters(customers, { useCase: 'customer.reserve-credit' }),
        approve: await redriveDeadLetters(ordering, { useCase: 'order.approve-order' }),
      };
    } finally {
      await Promise.all([customers.close(), ordering.close()]);
    }
    assert(
      redriven.reserve === brokenReserveOrders.length,
      `redrove ${redriven.reserve} reserve-credit deliveries, expected ${brokenReserveOrders.length}`,
    );
    assert(redriven.approve === brokenApproveOrders.length + poison.length, `redrove ${redriven.approve} approve-order deliveries`);

    const invariants = await assertSettled({
      databaseUrl,
      intended: load.intended,
      knownCustomers: new Set(all.map((c) => c.id)),
      allowTimeouts: false,
      expectedDeadLetters: new Set(poison),
      timeoutMs: 60_000,
    });
    const recoveryMs = Date.now() - redriveStarted;
    const approvedAfterRedrive = await withDatabase(databaseUrl, (client) =>
      count(client, `select count(*) from ordering.orders where status = 'APPROVED' and id = any($1::uuid[])`, [
        [...brokenReserveOrders, ...brokenApproveOrders],
      ]),
    );
    assert(
      approvedAfterRedrive === brokenReserveOrders.length + brokenApproveOrders.length &&
        invariants.ordersByStatus['APPROVED'] === load.intended.length,
      `every saga must end APPROVED once re-driven (no limit can be exceeded here): ${JSON.stringify(invariants.ordersByStatus)}`,
    );
    const after = await checkConsistencyCli(ctx, databaseUrl);
    // The dead letters, and what a module's checks see of the forged messages (Customer's outbox
    // holding an answer it never gave): nothing about a real order.
    const aboutPoison = (c: { count: number; sample: readonly Record<string, unknown>[] }) =>
      c.sample.length === c.count && c.sample.every((r) => poisonSagas.has(String(r['orderId'] ?? r['correlationId'])));
    const failedAfter = after.report.checks.filter((c) => c.count > 0).map((c) => c.name);
    const beyondPoison = after.report.checks
      .filter((c) => c.count > 0 && c.name !== 'no-dead-letters' && !aboutPoison(c))
      .map((c) => c.name);
    assert(
      after.code === 1 && failedAfter.includes('no-dead-letters') && beyondPoison.length === 0,
      `after the redrive only the poison may remain: ${failedAfter.join(', ')}`,
    );
    assert(system.unexpectedExits.length === 0, `the system exited by itself: ${JSON.stringify(system.unexpectedExits)}`);

    return {
      load: `${load.intended.length} orders across ${all.length} customers in 4 groups (healthy, flaky reserve-credit, broken reserve-credit, broken approve-order) + ${poison.length} poison messages (${poisonPerPath} into an inbox, ${poisonPerPath} through an outbox); choreography`,
      faults: `reserve-credit fails ${TRANSIENT_FAILURES}x then succeeds for ${perGroup} customers; reserve-credit and approve-order always fail for ${perGroup} customers each until repaired; poison messages naming orders that do not exist; DELIVERY_MAX_ATTEMPTS=${MAX_ATTEMPTS}, RETRY_BASE_MS=${RETRY_BASE_MS}`,
      lost: 0,
      recoveryMs,
      invariants,
      figures: {
        deadLettered: deadState,
        allDeadLetteredAfterMs: deadAt - loadStarted,
        backoffObservations: Object.fromEntries(
          Array.from({ length: MAX_ATTEMPTS - 1 }, (_, i) => {
            const delays = backoff.filter((b) => b.attempts === i + 1).map((b) => b.delayMs);
            return [`afterAttempt${i + 1}`, { samples: delays.length, minMs: Math.min(...delays), maxMs: Math.max(...delays) }];
          }),
        ),
        redriven,
        approvedAfterRedrive,
        poisonDeadAgain: invariants.deadLetters,
        checkConsistencyExitBefore: before.code,
        checkConsistencyExitAfter: after.code,
        ordersByStatus: invariants.ordersByStatus,
        rejectionReasons: invariants.rejectionReasons,
      },
    };
  },
};
