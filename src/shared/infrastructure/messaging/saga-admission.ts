import type { ModuleDatabase } from '../persistence/module-database.js';
import { quoteIdent } from '../persistence/sql-identifier.js';

export interface LaggingInbox {
  readonly db: ModuleDatabase;
  /** The use cases whose deliveries wait in this inbox. */
  readonly useCases: readonly string[];
}

/**
 * How long the oldest due delivery of any use case has been waiting: the consumers' lag, read
 * from PostgreSQL (so every process and every transport sees the same). One index lookup per use
 * case; the value is cached for `refreshMs`, and concurrent readers share one query.
 */
export class DeliveryLag {
  private value = 0;
  private readAt = 0;
  private reading: Promise<number> | undefined;

  constructor(
    private readonly inboxes: readonly LaggingInbox[],
    private readonly refreshMs: number,
  ) {}

  current(): Promise<number> {
    if (Date.now() - this.readAt < this.refreshMs) return Promise.resolve(this.value);
    this.reading ??= this.read().finally(() => (this.reading = undefined));
    return this.reading;
  }

  private async read(): Promise<number> {
    const lags = await Promise.all(
      this.inboxes
        .filter((i) => i.useCases.length > 0)
        .map(async ({ db, useCases }) => {
          const [row] = await db.query<{ lag_ms: number | null }>(
            `select max(extract(epoch from now() - oldest) * 1000)::float8 as lag_ms from (
               select (select min(available_at) from ${quoteIdent(db.schema)}.inbox where use_case = u and status = 'pending' and available_at <= now()) as oldest
               from unnest(?::text[]) as u
             ) due`,
            [useCases],
          );
          return row?.lag_ms ?? 0;
        }),
    );
    this.value = Math.max(0, ...lags);
    this.readAt = Date.now();
    return this.value;
  }
}

export interface Admission {
  readonly overloaded: boolean;
  readonly lagMs: number;
  /** Seconds a client should wait before it tries again (the Retry-After header). */
  readonly retryAfterSeconds: number;
}

/**
 * Backpressure for the requests that start a saga: once the consumers lag more than `maxLagMs`
 * (a share of the order deadline), an order accepted now would likely end REJECTED with TIMEOUT,
 * so it is refused (503 with Retry-After) while the backlog drains. A lag that cannot be read
 * admits: the request then fails, or not, on its own.
 */
export class SagaAdmission {
  constructor(
    private readonly lag: DeliveryLag,
    private readonly maxLagMs: number,
  ) {}

  async check(): Promise<Admission> {
    const lagMs = await this.lag.current().catch(() => 0);
    const overloaded = this.maxLagMs > 0 && lagMs > this.maxLagMs;
    return { overloaded, lagMs, retryAfterSeconds: overloaded ? Math.min(30, Math.max(1, Math.ceil((lagMs - this.maxLagMs) / 1000))) : 0 };
  }
}
