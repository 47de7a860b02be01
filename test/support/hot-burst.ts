import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { checkConsistency, inOneDatabase, type ConsistencyReport } from '../../src/dev/cli/consistency/consistency-checks.js';
import { ALL_MODULES } from '../../src/entrypoints/composition/all-modules.js';

/**
 * The hot-customer burst of issue 17: a few dozen customers, each with credit for all but (for
 * half of them) one of its orders, and many orders from a handful of clients placed as fast as
 * they are answered. What it measures holds on every transport: every accepted order decided,
 * no TIMEOUT, no deadlock, the invariants, and the connections the system held at its peak.
 */

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | number | undefined>>;
  readonly body: unknown;
}

/** How the clients reach the API: `app.inject` in-process, or fetch over HTTP. */
export type Post = (url: string, payload: unknown, headers: Record<string, string>) => Promise<HttpAnswer>;

export interface BurstOptions {
  readonly post: Post;
  /** The system's database (read directly: 1,500 orders are not polled over HTTP). */
  readonly databaseUrl: string;
  readonly customerIds: readonly string[];
  readonly orders: number;
  readonly clients: number;
  readonly amount: number;
  /** All orders must be decided within this (from the first POST). */
  readonly timeoutMs: number;
}

export interface BurstReport {
  readonly accepted: number;
  /** 503 OVERLOADED answers the clients waited out (Retry-After) and retried. */
  readonly overloaded: number;
  readonly placeMs: number;
  /** From the first POST until every accepted order was decided and nothing was left in flight. */
  readonly decideMs: number;
  readonly ordersPerSecond: number;
  readonly statuses: Record<string, number>;
  /** Connections of the system (application names `saga…`) in this database at their peak. */
  readonly peakConnections: number;
  /** Every connection in this database at its peak (the system's and any other client's). */
  readonly peakAllConnections: number;
  /**
   * ECS tasks holding a connection at once, at their peak: each task names its connections
   * `saga-task:<use case>#<task>` and `saga-listen:<use case>#<task>`. What the connection budget
   * bounds (a task that has closed its connections but not yet exited holds none of it).
   */
  readonly peakTasks: number;
}

/** Orders per customer: round robin, so customers differ by at most one order. */
export function ordersOf(customer: number, customers: number, orders: number): number {
  return Math.floor(orders / customers) + (customer < orders % customers ? 1 : 0);
}

/** The credit limit that fits every order but one of the customers that get the larger share. */
export function creditLimitFor(customers: number, orders: number, amount: number): number {
  return Math.floor(orders / customers) * amount;
}

/** Approved and credit-rejected orders the burst must end with. */
export function expectedOutcome(customers: number, orders: number): { approved: number; rejected: number } {
  const rejected = orders % customers;
  return { approved: orders - rejected, rejected };
}

export async function runHotBurst(options: BurstOptions): Promise<BurstReport> {
  const sampler = new ConnectionSampler(options.databaseUrl);
  await sampler.start();
  const started = Date.now();
  let next = 0;
  let overloaded = 0;
  const accepted: string[] = [];
  const client = async () => {
    for (;;) {
      const i = next++;
      if (i >= options.orders) return;
      const customerId = options.customerIds[i % options.customerIds.length]!;
      const key = randomUUID();
      for (;;) {
        const answer = await options.post(
          '/orders',
          { customerId, total: { amount: options.amount, currency: 'USD' } },
          { 'idempotency-key': key },
        );
        if (answer.status === 202) {
          accepted.push((answer.body as { id: string }).id);
          break;
        }
        if (answer.status !== 503) throw new Error(`POST /orders answered ${answer.status}: ${JSON.stringify(answer.body)}`);
        overloaded += 1;
        // A careful client waits as told (at most a second here, to keep the test short).
        await new Promise((r) => setTimeout(r, Math.min(1_000, Number(answer.headers['retry-after'] ?? 1) * 1_000)));
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.clients }, () => client()));
    const placeMs = Date.now() - started;
    const statuses = await waitUntilDecided(options.databaseUrl, accepted.length, started + options.timeoutMs);
    const decideMs = Date.now() - started;
    return {
      accepted: accepted.length,
      overloaded,
      placeMs,
      decideMs,
      ordersPerSecond: Math.round((accepted.length / decideMs) * 1000),
      statuses,
      peakConnections: sampler.peakSystem,
      peakAllConnections: sampler.peakAll,
      peakTasks: sampler.peakTasks,
    };
  } finally {
    await sampler.stop();
  }
}

/** Order counts by `status` or `REJECTED:<reason>` once none is PENDING (throws with the counts at the deadline). */
async function waitUntilDecided(databaseUrl: string, expected: number, deadline: number): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'test:burst' });
  await client.connect();
  try {
    for (;;) {
      const { rows } = await client.query<{ outcome: string; n: number }>(
        `select case when status = 'REJECTED' then status || ':' || coalesce(rejection_reason, '?') else status end as outcome, count(*)::int as n
         from ordering.orders group by 1`,
      );
      const statuses = Object.fromEntries(rows.map((r) => [r.outcome, r.n]));
      const total = rows.reduce((sum, r) => sum + r.n, 0);
      // Decided, and the saga's last messages (a release of credit, a notice) handled too: the system is idle.
      if (total >= expected && !statuses['PENDING'] && (await inFlight(client)) === 0) return statuses;
      if (Date.now() > deadline) throw new Error(`orders still undecided at the deadline: ${JSON.stringify(statuses)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    await client.end();
  }
}

async function inFlight(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    `select ((select count(*) from customers.inbox where status = 'pending') + (select count(*) from ordering.inbox where status = 'pending')
      + (select count(*) from customers.outbox where relayed_at is null) + (select count(*) from ordering.outbox where relayed_at is null))::int as n`,
  );
  return rows[0]?.n ?? 0;
}

/** Samples pg_stat_activity for the database every 50 ms on its own connection (not counted). */
class ConnectionSampler {
  peakSystem = 0;
  peakAll = 0;
  peakTasks = 0;
  private readonly client: pg.Client;
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> | undefined;

  constructor(databaseUrl: string) {
    this.client = new pg.Client({ connectionString: databaseUrl, application_name: 'test:sampler' });
  }

  async start(): Promise<void> {
    await this.client.connect();
    await this.sample();
    this.timer = setInterval(() => {
      this.sampling ??= this.sample()
        .catch(() => undefined)
        .finally(() => (this.sampling = undefined));
    }, 50);
  }

  private async sample(): Promise<void> {
    const { rows } = await this.client.query<{ system: number; total: number; tasks: number }>(
      `select (count(*) filter (where application_name like 'saga%'))::int as system, (count(*) filter (where pid <> pg_backend_pid()))::int as total,
         (count(distinct split_part(application_name, '#', 2)) filter (where application_name ~ '^saga-(task|listen):.*#'))::int as tasks
       from pg_stat_activity where datname = current_database()`,
    );
    this.peakSystem = Math.max(this.peakSystem, rows[0]?.system ?? 0);
    this.peakAll = Math.max(this.peakAll, rows[0]?.total ?? 0);
    this.peakTasks = Math.max(this.peakTasks, rows[0]?.tasks ?? 0);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sampling;
    await this.client.end();
  }
}

/** The invariants once the system is idle, and the deadlocks PostgreSQL counted in the database (read after the system's connections closed). */
export async function settledChecks(databaseUrl: string): Promise<{ consistency: ConsistencyReport; deadlocks: number }> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'test:checks' });
  await client.connect();
  try {
    const consistency = await checkConsistency(inOneDatabase(client, ALL_MODULES), { mode: 'settled' });
    const { rows } = await client.query<{ n: string }>(
      'select deadlocks::text as n from pg_stat_database where datname = current_database()',
    );
    return { consistency, deadlocks: Number(rows[0]?.n ?? 0) };
  } finally {
    await client.end();
  }
}
