import type { Logger } from '../logging/logger.js';
import type { ModuleDatabase } from '../persistence/module-database.js';
import { quoteIdent } from '../persistence/sql-identifier.js';
import type { Delivery } from './subscription.js';
import type { DeliveryTransport } from './transport.js';

export interface SweeperOptions {
  /** A delivery signalled this long ago and still pending is signalled again. */
  readonly redeliveryAfterMs: number;
  readonly batchSize: number;
}

/**
 * Finds pending deliveries that are due and that no transport is known to carry: retries whose
 * backoff has elapsed, and deliveries whose signal was lost (Redis flushed, a worker or a task
 * killed, a crash between commit and signal). Marks them signalled and signals them again.
 */
export class DeliverySweeper {
  constructor(
    private readonly consumers: readonly ModuleDatabase[],
    private readonly transport: DeliveryTransport,
    private readonly logger: Logger,
    private readonly options: SweeperOptions,
  ) {}

  async sweepOnce(): Promise<number> {
    let total = 0;
    for (const db of this.consumers) {
      const inbox = `${quoteIdent(db.schema)}.inbox`;
      const rows = await db.run(() =>
        db.query<{ use_case: string; message_id: string; age_ms: number }>(
          `update ${inbox} i set signaled_at = now()
           from (select use_case, message_id from ${inbox}
                 where status = 'pending' and available_at <= now()
                   and (signaled_at is null or signaled_at < now() - (? * interval '1 millisecond'))
                 order by available_at limit ? for update skip locked) due
           where i.use_case = due.use_case and i.message_id = due.message_id
           returning i.use_case, i.message_id, (extract(epoch from now() - i.available_at) * 1000)::float8 as age_ms`,
          [this.options.redeliveryAfterMs, this.options.batchSize],
        ),
      );
      if (rows.length === 0) continue;
      const deliveries: Delivery[] = rows.map((r) => ({ useCase: r.use_case, messageId: r.message_id }));
      // oldestPendingAgeMs: how long the oldest of them has been due; a CloudWatch metric filter alarms on it (deploy/cdk).
      const oldestPendingAgeMs = Math.round(Math.max(...rows.map((r) => Number(r.age_ms))));
      this.logger.info({ schema: db.schema, count: deliveries.length, oldestPendingAgeMs }, 'signalling due deliveries again');
      try {
        await this.transport.signal(deliveries, { redelivery: true });
      } catch (error) {
        this.logger.warn({ err: error }, 'could not signal due deliveries; next sweep retries');
      }
      total += rows.length;
    }
    return total;
  }
}

export interface RetentionOptions {
  readonly doneMs: number;
  readonly deadMs: number;
}

/** Purges what has served its purpose: done deliveries, relayed outbox rows, old dead letters. */
export async function purgeMessaging(db: ModuleDatabase, options: RetentionOptions): Promise<Record<string, number>> {
  const s = quoteIdent(db.schema);
  const ms = "(? * interval '1 millisecond')";
  return {
    deliveries: await db.exec(`delete from ${s}.inbox where status = 'done' and done_at < now() - ${ms}`, [options.doneMs]),
    deadLetters: await db.exec(`delete from ${s}.inbox where status = 'dead' and updated_at < now() - ${ms}`, [options.deadMs]),
    outbox: await db.exec(`delete from ${s}.outbox where relayed_at < now() - ${ms}`, [options.doneMs]),
    launchAttempts: await db.exec(`delete from ${s}.launch_attempts where updated_at < now() - ${ms}`, [options.doneMs]),
  };
}
