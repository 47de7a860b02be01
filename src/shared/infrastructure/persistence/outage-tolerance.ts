import type { Logger } from '../logging/logger.js';
import { backoffMs } from '../messaging/backoff.js';
import { isConnectionLoss } from './pg-connections.js';

/**
 * Rides out a PostgreSQL outage (a restart, a Multi-AZ failover, a full connection table) for a
 * process that has no caller to report it to: a use-case task in the middle of its backlog, the
 * sweeper's pass. Work that fails because the database cannot be reached is run again, after a
 * backoff (100 ms doubling to 5 s, with jitter), until it succeeds or the outage has lasted
 * `toleranceMs`; then the connection error goes up (the process exits 75, EX_TEMPFAIL). Any other
 * error goes up at once. The outage is logged when it starts and when it ends, not every retry.
 */
export class OutageTolerance {
  private since: number | undefined;
  private retries = 0;

  constructor(
    private readonly toleranceMs: number,
    private readonly logger: Logger,
    /** What is waiting, for the log ("the task", "the sweep"). */
    private readonly what: string,
  ) {}

  /** Runs `work` until it succeeds, retrying it while PostgreSQL is away (at most `toleranceMs`). */
  async run<T>(work: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        const value = await work();
        this.recovered();
        return value;
      } catch (error) {
        if (!isConnectionLoss(error)) throw error;
        await this.wait(error);
      }
    }
  }

  /** How long the current outage has lasted (0 when there is none). */
  get outageMs(): number {
    return this.since === undefined ? 0 : Date.now() - this.since;
  }

  private async wait(error: unknown): Promise<void> {
    const now = Date.now();
    if (this.since === undefined) {
      this.since = now;
      this.logger.warn({ err: error, toleranceMs: this.toleranceMs }, `PostgreSQL cannot be reached; ${this.what} waits for it`);
    }
    if (now - this.since >= this.toleranceMs) {
      this.logger.error({ outageMs: now - this.since, retries: this.retries }, `PostgreSQL stayed away too long; ${this.what} gives up`);
      throw error;
    }
    this.retries += 1;
    const delay = Math.min(backoffMs(this.retries, 100, 5_000), this.since + this.toleranceMs - now);
    await new Promise((resolve) => setTimeout(resolve, Math.max(1, delay)));
  }

  private recovered(): void {
    if (this.since === undefined) return;
    this.logger.info({ outageMs: Date.now() - this.since, retries: this.retries }, `PostgreSQL is back; ${this.what} goes on`);
    this.since = undefined;
    this.retries = 0;
  }
}
