import pg from 'pg';
import { randomUUID } from 'node:crypto';
import { request, type HttpAttempt } from '../harness/http.js';
import { assertSettled, RecoveryClock } from '../harness/invariants.js';
import { emptyStats, OrderLoad, registerCustomers, summarizeStats, type Customer, type IntendedOrder } from '../harness/load.js';
import type { Scenario, ScenarioContext } from '../harness/scenario.js';
import type { SystemProcess } from '../harness/system-process.js';
import { assert, percentile, sleep } from '../harness/util.js';

type PostgresFault = 'restart' | 'crash';

interface ProbeAnswer {
  readonly what: string;
  readonly status: number | 'network-error' | 'timeout';
  readonly contentType: string;
  readonly code: string | undefined;
  readonly ms: number;
}

/**
 * While PostgreSQL is away, probes the API with a new order (fresh idempotency key) and a read,
 * back to back: each must answer quickly with a 503 problem, never hang, never 500. An order
 * answered 503 must not exist afterwards; one answered 202 (PostgreSQL came back meanwhile)
 * joins the orders whose end is asserted.
 */
class OutageProbe {
  readonly answers: ProbeAnswer[] = [];
  readonly orders: IntendedOrder[] = [];
  readonly refusedKeys: string[] = [];
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly system: SystemProcess,
    private readonly customer: Customer,
    private readonly keyPrefix: string,
  ) {}

  start(): void {
    this.stopped = false;
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private note(what: string, attempt: HttpAttempt): void {
    if (attempt.ok) {
      const code = (attempt.response.json as { code?: string } | undefined)?.code;
      this.answers.push({
        what,
        status: attempt.response.status,
        contentType: attempt.response.contentType,
        code,
        ms: attempt.response.ms,
      });
    } else {
      this.answers.push({ what, status: attempt.timedOut ? 'timeout' : 'network-error', contentType: '', code: undefined, ms: attempt.ms });
    }
  }

  private async loop(): Promise<void> {
    for (let i = 0; !this.stopped && i < 10_000; i++) {
      const order: IntendedOrder = {
        key: `${this.keyPrefix}-${i}-${randomUUID()}`,
        customerId: this.customer.id,
        amount: 100,
        currency: this.customer.currency,
        cancelSent: false,
        cancelConfirmed: false,
      };
      const placed = await request(this.system.baseUrl, 'POST', '/orders', {
        body: { customerId: order.customerId, total: { amount: order.amount, currency: order.currency } },
        headers: { 'idempotency-key': order.key },
        timeoutMs: 15_000,
      });
      this.note('POST /orders', placed);
      if (placed.ok && placed.response.status === 202) {
        order.orderId = (placed.response.json as { id: string }).id;
        this.orders.push(order);
      } else {
        this.refusedKeys.push(order.key);
      }
      this.note('GET /customers/:id', await request(this.system.baseUrl, 'GET', `/customers/${this.customer.id}`, { timeoutMs: 15_000 }));
      await sleep(100);
    }
  }
}

/**
 * PostgreSQL, the only source of truth, goes away mid-load: once stopped cleanly (fast
 * shutdown), once crashed (immediate shutdown: no checkpoint, crash recovery at the next start).
 * Requests must fail cleanly (503 problem+json, quickly), nothing half-done may remain, and the
 * system must recover by itself: no restart of the dev server.
 */
export const postgresRestart: Scenario = {
  id: 'postgres-restart',
  number: 3,
  title: 'PostgreSQL stopped and crashed during load',
  async run(ctx: ScenarioContext) {
    const orders = ctx.quick ? 250 : 1_500;
    const customersCount = ctx.quick ? 25 : 100;
    const concurrency = 16;
    const faults: PostgresFault[] = ctx.quick ? ['crash'] : ['restart', 'crash', 'restart'];
    const outageMs = ctx.quick ? 3_000 : 5_000;
    const { system, databaseUrl } = await ctx.createSystem({ SAGA_STYLE: 'choreography' });
    await system.start();
    const customers = await registerCustomers(system.baseUrl, customersCount, ctx.random, emptyStats());
    const probeCustomer = customers[0]!;
    const load = new OrderLoad({
      baseUrl: system.baseUrl,
      customers: customers.slice(1),
      orders,
      concurrency,
      random: ctx.random,
      cancelShare: 0.15,
      unknownCustomerShare: 0.01,
      otherCurrencyShare: 0.01,
      requestTimeoutMs: 15_000,
      maxDurationMs: ctx.quick ? 120_000 : 300_000,
      keyPrefix: `pg-${ctx.seed}`,
      ratePerSecond: 30,
    });
    const loadStarted = Date.now();
    const loadDone = load.start();

    const probes: OutageProbe[] = [];
    const records: Array<{ fault: PostgresFault; atAccepted: number; downMs: number; firstAcceptedAfterMs: number }> = [];
    const clock = new RecoveryClock(databaseUrl);
    for (const [index, fault] of faults.entries()) {
      await load.waitForAccepted(Math.floor((orders * (index + 1)) / (faults.length + 1)));
      const atAccepted = load.acceptedCount;
      const probe = new OutageProbe(system, probeCustomer, `pg-probe-${ctx.seed}-${index}`);
      probes.push(probe);
      const downAt = Date.now();
      if (fault === 'crash') await ctx.postgres.crash();
      else await ctx.postgres.stop();
      probe.start();
      await sleep(outageMs);
      await ctx.postgres.restart();
      const backAt = Date.now();
      clock.faultEnded(load.acceptedIds());
      const acceptedBefore = load.acceptedCount;
      await probe.stop();
      const deadline = Date.now() + 60_000;
      while (load.acceptedCount === acceptedBefore && Date.now() < deadline) await sleep(20);
      assert(load.acceptedCount > acceptedBefore, `no order was accepted within 60 s of PostgreSQL's ${fault}`);
      records.push({ fault, atAccepted, downMs: backAt - downAt, firstAcceptedAfterMs: Date.now() - backAt });
      ctx.log(`PostgreSQL ${fault}`, records.at(-1));
    }
    await loadDone;
    const loadEndedAt = Date.now();

    const probeOrders = probes.flatMap((p) => p.orders);
    const invariants = await assertSettled({
      databaseUrl,
      intended: [...load.intended, ...probeOrders],
      knownCustomers: new Set(customers.map((c) => c.id)),
      allowTimeouts: false,
      timeoutMs: 60_000,
    });
    const recoveries = await clock.all();

    const answers = probes.flatMap((p) => p.answers);
    const during = answers.filter((a) => a.status !== 202 && a.status !== 200);
    const bad = during.filter((a) => a.status !== 503 || !a.contentType.startsWith('application/problem+json'));
    assert(during.length > 0, 'no request was refused while PostgreSQL was down: the outage was not observed');
    assert(bad.length === 0, `requests during the outage must fail with a 503 problem: ${JSON.stringify(bad.slice(0, 5))}`);
    const slowest = Math.max(...answers.map((a) => a.ms));
    assert(slowest < 10_000, `a request hung for ${slowest} ms during the outage`);
    await assertNothingWrittenFor(
      databaseUrl,
      probes.flatMap((p) => p.refusedKeys),
    );
    assert(load.stats.timeouts === 0, `${load.stats.timeouts} requests of the load timed out (hung)`);
    assert((load.stats.byStatus[500] ?? 0) === 0, `${load.stats.byStatus[500]} requests of the load answered 500`);
    assert(load.stats.unexpected.length === 0, `unexpected answers: ${load.stats.unexpected.slice(0, 5).join('; ')}`);
    assert(
      system.unexpectedExits.length === 0,
      `the system exited by itself (it must recover without a restart): ${JSON.stringify(system.unexpectedExits)}`,
    );
    assert(system.starts === 1, 'the dev server was restarted');

    const refusedMs = during.map((a) => a.ms);
    return {
      load: `${orders} orders (15% cancelled once approved) at up to 30/s from ${concurrency} concurrent clients across ${customersCount} customers, plus a probe placing an order and reading a customer every 100 ms during each outage; choreography`,
      faults: faults
        .map((f) =>
          f === 'crash'
            ? `PostgreSQL crash (immediate shutdown) ${outageMs / 1000} s`
            : `PostgreSQL stop (fast shutdown) ${outageMs / 1000} s`,
        )
        .join(', '),
      lost: 0,
      recoveryMs: Math.max(...recoveries),
      invariants,
      figures: {
        faults: records.map((r, i) => ({ ...r, recoveryMs: recoveries[i] })),
        refusedDuringOutage: {
          requests: during.length,
          status: '503 application/problem+json',
          p50Ms: percentile(refusedMs, 50),
          maxMs: Math.max(0, ...refusedMs),
        },
        probeOrdersAcceptedAroundRestart: probeOrders.length,
        loadMs: loadEndedAt - loadStarted,
        settleAfterLoadMs: invariants.settleMs,
        cancelled: load.intended.filter((o) => o.cancelConfirmed).length,
        http: summarizeStats(load.stats),
        ordersByStatus: invariants.ordersByStatus,
        rejectionReasons: invariants.rejectionReasons,
      },
    };
  },
};

/** An order refused with 503 left nothing behind: no idempotency key, hence no order and no message. */
async function assertNothingWrittenFor(databaseUrl: string, keys: readonly string[]): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const found = await client.query<{ key: string }>('select key from ordering.idempotency_keys where key = any($1::text[])', [keys]);
    assert(
      found.rows.length === 0,
      `refused requests left orders behind: ${found.rows
        .map((r) => r.key)
        .slice(0, 5)
        .join(', ')}`,
    );
  } finally {
    await client.end();
  }
}
