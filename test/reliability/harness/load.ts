import { randomUUID } from 'node:crypto';
import { problemCode, request, type HttpAttempt } from './http.js';
import { percentile, sleep, type Random } from './util.js';

export interface Customer {
  readonly id: string;
  readonly limit: number;
  readonly currency: string;
}

export type OrderStatus = 'PENDING' | 'APPROVED' | 'REJECTED' | 'CANCELLED';

/** One order the clients meant to place, and what they learnt about it. */
export interface IntendedOrder {
  readonly key: string;
  readonly customerId: string;
  readonly amount: number;
  readonly currency: string;
  orderId?: string;
  /** A cancel was sent at least once. */
  cancelSent: boolean;
  /** The clients know the order is CANCELLED by their request. */
  cancelConfirmed: boolean;
}

export interface LoadStats {
  requests: number;
  byStatus: Record<string, number>;
  networkErrors: number;
  timeouts: number;
  /** 202 answers carrying `idempotent-replayed: true`: a retry of a request whose first answer was lost. */
  replayed: number;
  retries: number;
  latenciesMs: number[];
  /** Longest time a request took before any answer (a response, a refused connection, a timeout). */
  maxLatencyMs: number;
  /** Answers the clients did not expect (a 500, a refusal of a valid request...). */
  unexpected: string[];
}

export interface LoadOptions {
  readonly baseUrl: string;
  readonly customers: readonly Customer[];
  readonly orders: number;
  readonly concurrency: number;
  readonly random: Random;
  /** Share of orders whose cancellation the clients attempt once they see them APPROVED. */
  readonly cancelShare: number;
  /** Share of orders for a customer that does not exist (the saga rejects them: CUSTOMER_NOT_FOUND). */
  readonly unknownCustomerShare: number;
  /** Share of orders in another currency than the customer's (CURRENCY_MISMATCH). */
  readonly otherCurrencyShare: number;
  readonly requestTimeoutMs: number;
  /** The whole load, retries included, must end within this. */
  readonly maxDurationMs: number;
  readonly keyPrefix: string;
  /** Orders started per second at most (the first attempt of each), so the load spans a fault schedule. */
  readonly ratePerSecond?: number;
  /** Called after each accepted order with the number accepted so far. */
  readonly onAccepted?: (accepted: number) => void;
}

interface CancelJob {
  readonly order: IntendedOrder;
  notBefore: number;
  /** Reads of the order so far: the next one waits longer, so slow sagas are not polled into the ground. */
  polls: number;
}

export function emptyStats(): LoadStats {
  return {
    requests: 0,
    byStatus: {},
    networkErrors: 0,
    timeouts: 0,
    replayed: 0,
    retries: 0,
    latenciesMs: [],
    maxLatencyMs: 0,
    unexpected: [],
  };
}

export function record(stats: LoadStats, attempt: HttpAttempt): void {
  stats.requests++;
  const ms = attempt.ok ? attempt.response.ms : attempt.ms;
  stats.maxLatencyMs = Math.max(stats.maxLatencyMs, ms);
  if (attempt.ok) {
    stats.byStatus[attempt.response.status] = (stats.byStatus[attempt.response.status] ?? 0) + 1;
    stats.latenciesMs.push(ms);
  } else if (attempt.timedOut) stats.timeouts++;
  else stats.networkErrors++;
}

export function summarizeStats(stats: LoadStats): Record<string, unknown> {
  return {
    requests: stats.requests,
    byStatus: stats.byStatus,
    networkErrors: stats.networkErrors,
    timeouts: stats.timeouts,
    retries: stats.retries,
    replayed: stats.replayed,
    latencyMs: { p50: percentile(stats.latenciesMs, 50), p99: percentile(stats.latenciesMs, 99), max: stats.maxLatencyMs },
    unexpected: stats.unexpected.length,
  };
}

function backoff(attempt: number, random: Random): number {
  const ceiling = Math.min(1_000, 50 * 2 ** Math.min(attempt, 5));
  return ceiling / 2 + random.next() * (ceiling / 2);
}

/** Registers customers (before any fault: registration carries no idempotency key). */
export async function registerCustomers(
  baseUrl: string,
  count: number,
  random: Random,
  stats: LoadStats,
  fixedLimit?: number,
): Promise<Customer[]> {
  const customers: Customer[] = [];
  const deadline = Date.now() + 60_000;
  while (customers.length < count) {
    if (Date.now() > deadline) throw new Error(`could not register ${count} customers within 60 s`);
    const limit = fixedLimit ?? random.int(50, 300) * 1_000;
    const attempt = await request(baseUrl, 'POST', '/customers', {
      body: { name: `Customer ${customers.length}`, creditLimit: { amount: limit, currency: 'USD' } },
    });
    record(stats, attempt);
    if (attempt.ok && attempt.response.status === 201) {
      customers.push({ id: (attempt.response.json as { id: string }).id, limit, currency: 'USD' });
    } else {
      await sleep(100);
    }
  }
  return customers;
}

/**
 * Clients placing orders over real HTTP with bounded concurrency, as a careful client would:
 * every order carries an Idempotency-Key and is retried with the same key until the system
 * answers (a refused connection, a reset, a timeout or a 503 may hide an order that was created),
 * so each intended order exists exactly once at the end. A share of the approved orders is
 * then cancelled, retried the same way.
 */
export class OrderLoad {
  readonly intended: IntendedOrder[] = [];
  readonly stats: LoadStats = emptyStats();
  private nextIndex = 0;
  private accepted = 0;
  private readonly cancels: CancelJob[] = [];
  private inFlightPlacements = 0;
  private deadline = 0;
  private startedAt = 0;
  private failure: unknown;

  constructor(private readonly options: LoadOptions) {
    const { random, customers } = options;
    for (let i = 0; i < options.orders; i++) {
      const customer = random.pick(customers);
      const unknown = random.chance(options.unknownCustomerShare);
      const otherCurrency = !unknown && random.chance(options.otherCurrencyShare);
      this.intended.push({
        key: `${options.keyPrefix}-${i}`,
        customerId: unknown ? randomUUID() : customer.id,
        amount: random.int(5, 400) * 100,
        currency: otherCurrency ? 'EUR' : customer.currency,
        cancelSent: false,
        cancelConfirmed: false,
      });
    }
  }

  get acceptedCount(): number {
    return this.accepted;
  }

  acceptedIds(): string[] {
    return this.intended.flatMap((o) => (o.orderId ? [o.orderId] : []));
  }

  /** Resolves once `n` orders were accepted; throws if the load fails or stalls first. */
  async waitForAccepted(n: number, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.accepted < n) {
      if (this.failure !== undefined) throw new Error(`the load failed: ${String(this.failure)}`);
      if (Date.now() > deadline) throw new Error(`the load stalled at ${this.accepted} accepted orders (waiting for ${n})`);
      await sleep(10);
    }
  }

  /**
   * Places no order beyond those already started (a scenario whose fault schedule decides when the
   * load ends): the orders never sent leave `intended`, so they are neither placed nor expected.
   */
  stopPlacing(): void {
    this.intended.length = Math.min(this.intended.length, this.nextIndex);
  }

  /** Starts the load; the promise settles when every order was placed (and cancelled, for the share). */
  start(): Promise<void> {
    const running = this.run();
    running.catch((error: unknown) => (this.failure = error ?? new Error('load failed')));
    return running;
  }

  private async run(): Promise<void> {
    this.startedAt = Date.now();
    this.deadline = this.startedAt + this.options.maxDurationMs;
    await Promise.all(Array.from({ length: this.options.concurrency }, () => this.worker()));
    const missing = this.intended.filter((o) => o.orderId === undefined).length;
    if (missing > 0) throw new Error(`${missing} orders were never accepted within ${this.options.maxDurationMs} ms`);
  }

  private async worker(): Promise<void> {
    for (;;) {
      if (Date.now() > this.deadline) {
        const unplaced = this.intended.filter((o) => o.orderId === undefined).length;
        throw new Error(
          `the load did not finish within ${this.options.maxDurationMs} ms: ${unplaced} orders not accepted, ${this.cancels.length} cancellations still waiting for their order to leave PENDING`,
        );
      }
      if (this.nextIndex < this.intended.length) {
        const index = this.nextIndex++;
        const order = this.intended[index]!;
        this.inFlightPlacements++;
        try {
          if (this.options.ratePerSecond) {
            const due = this.startedAt + (index * 1_000) / this.options.ratePerSecond;
            if (due > Date.now()) await sleep(due - Date.now());
          }
          await this.place(order);
        } finally {
          this.inFlightPlacements--;
        }
        continue;
      }
      const now = Date.now();
      const due = this.cancels.findIndex((j) => j.notBefore <= now);
      if (due >= 0) {
        const [job] = this.cancels.splice(due, 1);
        await this.cancel(job!);
        continue;
      }
      if (this.cancels.length === 0 && this.inFlightPlacements === 0) return;
      await sleep(50);
    }
  }

  private async place(order: IntendedOrder): Promise<void> {
    const body = { customerId: order.customerId, total: { amount: order.amount, currency: order.currency } };
    for (let attempt = 1; ; attempt++) {
      if (Date.now() > this.deadline) return;
      const result = await request(this.options.baseUrl, 'POST', '/orders', {
        body,
        headers: { 'idempotency-key': order.key },
        timeoutMs: this.options.requestTimeoutMs,
      });
      record(this.stats, result);
      if (result.ok) {
        const { status } = result.response;
        if (status === 202) {
          order.orderId = (result.response.json as { id: string }).id;
          if (result.response.headers.get('idempotent-replayed') === 'true') this.stats.replayed++;
          this.accepted++;
          this.options.onAccepted?.(this.accepted);
          if (this.options.random.chance(this.options.cancelShare)) this.cancels.push({ order, notBefore: Date.now() + 200, polls: 0 });
          return;
        }
        const retriable = status === 503 || (status === 409 && problemCode(result.response) === 'IDEMPOTENCY_KEY_IN_USE');
        if (!retriable) {
          this.stats.unexpected.push(`POST /orders (${order.key}): ${status} ${result.response.text.slice(0, 300)}`);
          if (status < 500) return;
        }
      }
      this.stats.retries++;
      await sleep(backoff(attempt, this.options.random));
    }
  }

  /** Cancels once the order is APPROVED; a REJECTED order is left alone. One step per call: the job is requeued. */
  private async cancel(job: CancelJob): Promise<void> {
    const { order } = job;
    const requeue = (ms: number) => {
      job.polls++;
      job.notBefore = Date.now() + Math.min(2_000, ms * 1.5 ** Math.min(job.polls, 10));
      this.cancels.push(job);
    };
    const read = await request(this.options.baseUrl, 'GET', `/orders/${order.orderId}`, { timeoutMs: this.options.requestTimeoutMs });
    record(this.stats, read);
    if (!read.ok || read.response.status !== 200) return requeue(200);
    const status = (read.response.json as { status: OrderStatus }).status;
    if (status === 'PENDING') return requeue(150);
    if (status === 'REJECTED') return;
    if (status === 'CANCELLED') {
      if (!order.cancelSent) this.stats.unexpected.push(`order ${order.orderId} is CANCELLED but no client cancelled it`);
      order.cancelConfirmed = true;
      return;
    }
    order.cancelSent = true;
    const result = await request(this.options.baseUrl, 'POST', `/orders/${order.orderId}/cancel`, {
      timeoutMs: this.options.requestTimeoutMs,
    });
    record(this.stats, result);
    if (result.ok && result.response.status === 202) {
      order.cancelConfirmed = true;
      return;
    }
    if (result.ok && result.response.status !== 503 && result.response.status !== 409) {
      this.stats.unexpected.push(`POST /orders/${order.orderId}/cancel: ${result.response.status} ${result.response.text.slice(0, 300)}`);
      if (result.response.status < 500) return;
    }
    // Unknown outcome (or 409: maybe our previous attempt won): read the order again.
    this.stats.retries++;
    requeue(100);
  }
}
