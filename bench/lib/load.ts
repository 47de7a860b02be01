import type pg from 'pg';
import { customerInbox } from '../../src/modules/customer/contract/index.js';
import { orderInbox } from '../../src/modules/order/contract/index.js';
import { ALL_INBOXES } from '../../src/entrypoints/composition/all-modules.js';
import type { CpuMeter } from './cpu.js';
import type { BenchDb } from './databases.js';
import type { HttpClient } from './http-client.js';
import { percentile, sleep, summarize, type LatencySummary } from './stats.js';
import type { WindowProbe, WindowProbes } from './window-probe.js';

/** The schemas the driver reads, each in its own database (a module may live in one of its own). */
const ORDERS = orderInbox.schema;
const CUSTOMERS = customerInbox.schema;
const INBOXES = ALL_INBOXES.map((i) => i.schema);
/** Every module's outbox: a delivery's message was produced in one of them. */
const OUTBOXES = INBOXES;

/** Far above what a run spends, so every order is approved and each saga does the same work. */
const CREDIT_LIMIT = 1_000_000_000_000;
const ORDER_AMOUNT = 100;

export async function registerCustomers(http: HttpClient, count: number, concurrency: number): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const n = next++;
      const res = await http.send('POST', '/customers', {
        name: `bench customer ${n}`,
        creditLimit: { amount: CREDIT_LIMIT, currency: 'USD' },
      });
      if (res.status !== 201) throw new Error(`POST /customers: ${res.status} ${JSON.stringify(res.body)}`);
      ids.push((res.body as { id: string }).id);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return ids;
}

/**
 * Learns when sagas end from the orders table (one indexed query per tick for every saga still
 * awaited), instead of polling the API once per order.
 */
class CompletionTracker {
  private readonly waiting = new Map<string, () => void>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly db: pg.Pool,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.stopped = false;
    const tick = async (): Promise<void> => {
      if (this.stopped) return;
      if (this.waiting.size > 0) {
        const { rows } = await this.db
          .query<{ id: string }>(`select id from "${ORDERS}".orders where id = any($1::uuid[]) and status <> 'PENDING'`, [
            [...this.waiting.keys()],
          ])
          .catch(() => ({ rows: [] as { id: string }[] }));
        for (const { id } of rows) {
          this.waiting.get(id)?.();
          this.waiting.delete(id);
        }
      }
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.intervalMs);
    };
    void tick();
  }

  /** Resolves true when the saga ended, false when `timeoutMs` passed first. */
  wait(id: string, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(false);
      }, timeoutMs);
      this.waiting.set(id, () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const resolve of this.waiting.values()) resolve();
    this.waiting.clear();
  }
}

export interface LoadTarget {
  readonly http: HttpClient;
  /** The system's databases, read-only for the driver: the sagas' own timestamps. */
  readonly db: BenchDb;
  readonly customers: readonly string[];
  readonly cpu: CpuMeter;
  /** Event loop, GC, PostgreSQL waits and the driver's CPU over each window; none when unset. */
  readonly probe?: WindowProbe;
}

/** Percentiles of one hop, ms. */
export interface HopSummary {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
}

/**
 * A use case's place in the sagas: means after the order's created_at, and each hop's spread:
 * `relay` from the message's outbox row (its producer's transaction) to its inbox row (the relay's
 * transaction: producer commit, wake-up, relay pass); `claim` from the inbox row to the transaction
 * that processed it (relay commit, queue wait, fetch, claim).
 */
export interface TimelineStep {
  readonly useCase: string;
  readonly relayedAfterMs: number;
  readonly claimedAfterMs: number;
  readonly relay: HopSummary;
  readonly claim: HopSummary;
  readonly deliveries: number;
}

export interface PhaseResult {
  readonly kind: 'saturation' | 'open-loop';
  /** Open loop: the arrival rate offered. */
  readonly offeredPerSec: number | null;
  /** Closed loop: sagas kept in flight. */
  readonly inFlight: number | null;
  readonly windowMs: number;
  readonly posted: number;
  readonly postErrors: number;
  /** Open-loop arrivals not sent because too many requests were outstanding (the system fell behind). */
  readonly skippedArrivals: number;
  /** Sagas that reached a terminal state (decided_at) inside the measurement window, per second. */
  readonly throughputPerSec: number;
  /** created_at → decided_at of the orders created inside the measurement window. */
  readonly latencyMs: LatencySummary;
  /** POST /orders as the driver saw it (request sent → 202 read). */
  readonly httpPostMs: LatencySummary;
  readonly approved: number;
  readonly rejected: number;
  /** Orders created in the window still PENDING after the drain: sagas that did not finish. */
  readonly unfinished: number;
  /**
   * Where a saga's time goes, per use case it went through, from the inbox rows' own timestamps
   * (mean ms after the order's created_at): `relayedAfterMs` when the relay created the delivery,
   * `claimedAfterMs` when the transaction that processed it began.
   */
  readonly timeline: ReadonlyArray<TimelineStep>;
  /**
   * The sagas at or beyond the window's p99 latency: the same steps, as means over them only, so
   * the p99 saga's time is shown hop by hop beside the typical one's.
   */
  readonly p99Timeline: ReadonlyArray<TimelineStep>;
  readonly probes: WindowProbes | null;
  /** The bench driver's own CPU per saga over the window (it shares the cores with the system). */
  readonly driverCpuMsPerSaga: number | null;
  /** CPU ms per completed saga inside the window: the system process, and the PostgreSQL backends of its database. */
  readonly cpuMsPerSaga: { readonly system: number; readonly postgres: number };
}

/** Reads the CPU meter over exactly the measurement window. */
async function meterWindow(
  cpu: CpuMeter,
  probe: WindowProbe | undefined,
  from: number,
  to: number,
): Promise<{ systemMs: number; postgresMs: number; probes: WindowProbes | null }> {
  await sleep(Math.max(0, from - Date.now()));
  // The probe's scrapes stay outside the CPU meter's window: they are the bench's work, not the sagas'.
  await probe?.start();
  await cpu.start();
  await sleep(Math.max(0, to - Date.now()));
  const measured = await cpu.stop();
  return { ...measured, probes: (await probe?.stop()) ?? null };
}

interface PhaseTiming {
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly drainTimeoutMs: number;
}

class Poster {
  posted = 0;
  errors = 0;
  readonly latencies: number[] = [];
  private next = 0;

  constructor(
    private readonly target: LoadTarget,
    private readonly inWindow: (now: number) => boolean,
  ) {}

  async post(): Promise<string | undefined> {
    const customerId = this.target.customers[this.next++ % this.target.customers.length]!;
    const t0 = performance.now();
    try {
      const res = await this.target.http.send('POST', '/orders', { customerId, total: { amount: ORDER_AMOUNT, currency: 'USD' } });
      if (this.inWindow(Date.now())) this.latencies.push(performance.now() - t0);
      this.posted++;
      if (res.status !== 202) {
        this.errors++;
        return undefined;
      }
      return (res.body as { id: string }).id;
    } catch {
      this.errors++;
      return undefined;
    }
  }
}

/**
 * Saturation: a closed loop that keeps `inFlight` sagas running (each slot places an order over
 * HTTP, waits until its saga ends, places the next), customers taken round-robin. The window
 * opens after the warm-up once `inFlight` sagas have ended (steady state) and closes after
 * `durationMs` once at least 2 × `inFlight` more have ended, so a slow system still yields a
 * measurable window; both waits are bounded (5× and 4× their nominal length).
 */
export async function runSaturation(target: LoadTarget, inFlight: number, timing: PhaseTiming): Promise<PhaseResult> {
  const start = Date.now();
  let from = Number.POSITIVE_INFINITY;
  let to = Number.POSITIVE_INFINITY;
  let stop = false;
  let ended = 0;
  const poster = new Poster(target, (now) => now >= from && now < to);
  const tracker = new CompletionTracker(target.db.of(ORDERS), 5);
  const control = async (): Promise<{ systemMs: number; postgresMs: number; probes: WindowProbes | null }> => {
    while ((Date.now() - start < timing.warmupMs || ended < inFlight) && Date.now() - start < timing.warmupMs * 5) await sleep(20);
    await target.probe?.start();
    await target.cpu.start();
    from = Date.now();
    const endedAtStart = ended;
    while ((Date.now() - from < timing.durationMs || ended - endedAtStart < 2 * inFlight) && Date.now() - from < timing.durationMs * 4)
      await sleep(20);
    to = Date.now();
    const cpu = await target.cpu.stop();
    stop = true;
    return { ...cpu, probes: (await target.probe?.stop()) ?? null };
  };
  tracker.start();
  let cpu: { systemMs: number; postgresMs: number; probes: WindowProbes | null };
  try {
    const slot = async (): Promise<void> => {
      while (!stop) {
        const id = await poster.post();
        if (id === undefined) await sleep(20);
        else if (await tracker.wait(id, timing.durationMs * 4 + timing.drainTimeoutMs)) ended++;
      }
    };
    [cpu] = await Promise.all([control(), ...Array.from({ length: inFlight }, slot)]);
  } finally {
    tracker.stop();
  }
  return measure(target, { kind: 'saturation', offeredPerSec: null, inFlight }, poster, 0, from, to, timing.drainTimeoutMs, cpu);
}

/** Open loop: orders arrive at a fixed rate whatever the system does; latency is read from the orders table. */
export async function runOpenLoop(
  target: LoadTarget,
  ratePerSec: number,
  timing: PhaseTiming,
  maxOutstanding: number,
): Promise<PhaseResult> {
  const start = Date.now();
  const from = start + timing.warmupMs;
  const to = from + timing.durationMs;
  const poster = new Poster(target, (now) => now >= from && now < to);
  const cpu = meterWindow(target.cpu, target.probe, from, to);
  const total = Math.floor((ratePerSec * (timing.warmupMs + timing.durationMs)) / 1000);
  const t0 = performance.now();
  const outstanding = new Set<Promise<unknown>>();
  let skipped = 0;
  for (let i = 0; i < total; i++) {
    const wait = t0 + (i * 1000) / ratePerSec - performance.now();
    if (wait >= 1) await sleep(wait);
    if (outstanding.size >= maxOutstanding) {
      skipped++;
      continue;
    }
    const request: Promise<unknown> = poster.post().finally(() => outstanding.delete(request));
    outstanding.add(request);
  }
  await Promise.allSettled([...outstanding]);
  return measure(
    target,
    { kind: 'open-loop', offeredPerSec: ratePerSec, inFlight: null },
    poster,
    skipped,
    from,
    to,
    timing.drainTimeoutMs,
    await cpu,
  );
}

async function measure(
  target: LoadTarget,
  phase: Pick<PhaseResult, 'kind' | 'offeredPerSec' | 'inFlight'>,
  poster: Poster,
  skippedArrivals: number,
  from: number,
  to: number,
  drainTimeoutMs: number,
  cpu: { systemMs: number; postgresMs: number; probes: WindowProbes | null },
): Promise<PhaseResult> {
  const orders = target.db.of(ORDERS);
  const drainUntil = Date.now() + drainTimeoutMs;
  while (Date.now() < drainUntil) {
    const { rows } = await orders.query<{ n: string }>(`select count(*) as n from "${ORDERS}".orders where status = 'PENDING'`);
    if (Number(rows[0]?.n ?? 0) === 0) break;
    await sleep(100);
  }
  const window = [new Date(from), new Date(to)];
  const decided = await orders.query<{ n: string }>(
    `select count(*) as n from "${ORDERS}".orders where decided_at >= $1 and decided_at < $2`,
    window,
  );
  const created = await orders.query<{ id: string; created_ms: number; status: string; ms: number | null }>(
    `select id, (extract(epoch from created_at) * 1000)::float8 as created_ms, status, (extract(epoch from (decided_at - created_at)) * 1000)::float8 as ms
     from "${ORDERS}".orders where created_at >= $1 and created_at < $2`,
    window,
  );
  const completed = Number(decided.rows[0]?.n ?? 0);
  const latencies = created.rows.filter((r) => r.ms !== null && r.status !== 'PENDING').map((r) => r.ms!);
  const createdMs = new Map(created.rows.map((r) => [r.id, r.created_ms]));
  const p99 = percentile(
    [...latencies].sort((a, b) => a - b),
    99,
  );
  const tail = new Set(created.rows.filter((r) => r.ms !== null && r.status !== 'PENDING' && r.ms >= p99).map((r) => r.id));
  const { all: timeline, tail: p99Timeline } = await timelineOf(target.db, createdMs, tail);
  return {
    ...phase,
    windowMs: to - from,
    posted: poster.posted,
    postErrors: poster.errors,
    skippedArrivals,
    throughputPerSec: Math.round((completed / ((to - from) / 1000)) * 10) / 10,
    latencyMs: summarize(latencies),
    httpPostMs: summarize(poster.latencies),
    approved: created.rows.filter((r) => r.status === 'APPROVED').length,
    rejected: created.rows.filter((r) => r.status === 'REJECTED').length,
    unfinished: created.rows.filter((r) => r.status === 'PENDING').length,
    cpuMsPerSaga: {
      system: Math.round((cpu.systemMs / Math.max(1, completed)) * 100) / 100,
      postgres: Math.round((cpu.postgresMs / Math.max(1, completed)) * 100) / 100,
    },
    timeline,
    p99Timeline,
    probes: cpu.probes,
    driverCpuMsPerSaga: cpu.probes ? Math.round((cpu.probes.driverCpuMs / Math.max(1, completed)) * 100) / 100 : null,
  };
}

export interface ConsistencyCheck {
  readonly ok: boolean;
  readonly orders: number;
  readonly pending: number;
  readonly approvedTotal: number;
  readonly reservedTotal: number;
  readonly deadLetters: number;
}

interface Hop {
  readonly useCase: string;
  readonly order: string;
  readonly relayedAfter: number;
  readonly claimedAfter: number;
  readonly relay: number;
  readonly claim: number;
}

function steps(hops: readonly Hop[]): TimelineStep[] {
  const byUseCase = new Map<string, Hop[]>();
  for (const h of hops) byUseCase.set(h.useCase, [...(byUseCase.get(h.useCase) ?? []), h]);
  const spread = (values: number[]): HopSummary => {
    values.sort((a, b) => a - b);
    return { p50: Math.round(percentile(values, 50)), p95: Math.round(percentile(values, 95)), p99: Math.round(percentile(values, 99)) };
  };
  const mean = (values: readonly number[]) => Math.round(values.reduce((s, v) => s + v, 0) / Math.max(1, values.length));
  return [...byUseCase]
    .map(([useCase, list]) => ({
      useCase,
      relayedAfterMs: mean(list.map((h) => h.relayedAfter)),
      claimedAfterMs: mean(list.map((h) => h.claimedAfter)),
      relay: spread(list.map((h) => h.relay)),
      claim: spread(list.map((h) => h.claim)),
      deliveries: list.length,
    }))
    .sort((a, b) => a.relayedAfterMs - b.relayedAfterMs);
}

/**
 * Where a saga's time goes, per use case, from the rows' own timestamps: each delivery's inbox row
 * (relay: created_at; processing transaction: done_at) matched with its message's outbox row
 * (created_at, the producer's transaction) and its order's created_at. Every module's tables are
 * read in its own database and matched in the driver (they may live in different databases).
 * `tail`: the orders whose steps are also summarised apart (the p99 sagas).
 */
async function timelineOf(
  db: BenchDb,
  createdMs: ReadonlyMap<string, number>,
  tail: ReadonlySet<string>,
): Promise<{ all: TimelineStep[]; tail: TimelineStep[] }> {
  const ids = [...createdMs.keys()];
  const producedMs = new Map<string, number>();
  for (const schema of OUTBOXES) {
    const { rows } = await db
      .of(schema)
      .query<{ id: string; created_ms: number }>(
        `select id, (extract(epoch from created_at) * 1000)::float8 as created_ms from "${schema}".outbox where correlation_id = any($1::uuid[])`,
        [ids],
      );
    for (const r of rows) producedMs.set(r.id, r.created_ms);
  }
  const hops: Hop[] = [];
  for (const schema of INBOXES) {
    const { rows } = await db.of(schema).query<{
      use_case: string;
      message_id: string;
      correlation_id: string;
      created_ms: number;
      done_ms: number | null;
    }>(
      `select use_case, message_id, correlation_id, (extract(epoch from created_at) * 1000)::float8 as created_ms, (extract(epoch from done_at) * 1000)::float8 as done_ms
         from "${schema}".inbox where correlation_id = any($1::uuid[])`,
      [ids],
    );
    for (const r of rows) {
      const orderMs = createdMs.get(r.correlation_id);
      if (orderMs === undefined || r.done_ms === null) continue;
      const produced = producedMs.get(r.message_id) ?? orderMs;
      hops.push({
        useCase: r.use_case,
        order: r.correlation_id,
        relayedAfter: r.created_ms - orderMs,
        claimedAfter: r.done_ms - orderMs,
        relay: r.created_ms - produced,
        claim: r.done_ms - r.created_ms,
      });
    }
  }
  return { all: steps(hops), tail: steps(hops.filter((h) => tail.has(h.order))) };
}

/**
 * After a run: every order ended, and the credit the customers lost equals what their approved
 * orders hold, so the speed was not bought with a broken saga.
 */
export async function checkConsistency(db: BenchDb): Promise<ConsistencyCheck> {
  const one = async (schema: string, sql: string): Promise<number> =>
    Number((await db.of(schema).query<{ n: string | null }>(sql)).rows[0]?.n ?? 0);
  const orders = await one(ORDERS, `select count(*) as n from "${ORDERS}".orders`);
  const pending = await one(ORDERS, `select count(*) as n from "${ORDERS}".orders where status = 'PENDING'`);
  const approvedTotal = await one(ORDERS, `select coalesce(sum(total_amount), 0) as n from "${ORDERS}".orders where status = 'APPROVED'`);
  const reservedTotal = await one(CUSTOMERS, `select coalesce(sum(credit_limit - available_credit), 0) as n from "${CUSTOMERS}".customers`);
  let deadLetters = 0;
  for (const schema of INBOXES) deadLetters += await one(schema, `select count(*) as n from "${schema}".inbox where status = 'dead'`);
  return {
    ok: pending === 0 && approvedTotal === reservedTotal && deadLetters === 0,
    orders,
    pending,
    approvedTotal,
    reservedTotal,
    deadLetters,
  };
}

/** Deliveries the run's inboxes hold, over every module's database. */
export async function deliveriesOf(db: BenchDb): Promise<number> {
  let n = 0;
  for (const schema of INBOXES)
    n += Number((await db.of(schema).query<{ n: string }>(`select count(*) as n from "${schema}".inbox`)).rows[0]?.n ?? 0);
  return n;
}
