import type { Logger } from '../logging/logger.js';
import type { ModuleDatabase } from '../persistence/module-database.js';
import { quoteIdent } from '../persistence/messaging-tables.js';
import type { Delivery, RoutingTable } from './subscription.js';
import type { DeliveryTransport } from './transport.js';

interface OutboxRow {
  seq: string;
  id: string;
  type: string;
  correlation_id: string;
  causation_id: string | null;
  traceparent: string;
  occurred_at: Date;
  payload: unknown;
}

export interface RelayOptions {
  readonly batchSize: number;
  readonly pollMs: number;
}

/**
 * Moves committed outbox rows into pending deliveries, one per subscribing use case, in the
 * consumers' inboxes, and marks the rows relayed, all in one transaction; then signals the
 * transport. `FOR UPDATE SKIP LOCKED` lets several relays (processes, tasks) run at once;
 * `ON CONFLICT DO NOTHING` makes relaying a row twice harmless.
 */
export class OutboxRelay {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;

  constructor(
    private readonly producers: readonly ModuleDatabase[],
    private readonly routing: RoutingTable,
    private readonly transport: DeliveryTransport,
    private readonly logger: Logger,
    private readonly options: RelayOptions,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** Relay soon: called after a commit that wrote outbox rows. Coalesces bursts into one pass. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.pass(), delayMs);
    this.timer.unref();
  }

  private async pass(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.drainAll();
        } catch (error) {
          this.logger.warn({ err: error }, 'outbox relay pass failed; will retry');
        }
      } while (this.again && !this.stopped);
    })();
    await this.running;
    this.running = undefined;
    if (!this.stopped) this.schedule(this.options.pollMs);
  }

  /** Relays everything currently unrelayed (optionally only what one use case produced). */
  async drainAll(producedBy?: string): Promise<number> {
    let total = 0;
    for (const db of this.producers) {
      for (;;) {
        const n = await this.relayBatch(db, producedBy);
        total += n;
        if (n < this.options.batchSize) break;
      }
    }
    return total;
  }

  async relayBatch(db: ModuleDatabase, producedBy?: string): Promise<number> {
    const outbox = `${quoteIdent(db.schema)}.outbox`;
    let created: Delivery[] = [];
    const relayed = await db.run(async () => {
      const rows = await db.query<OutboxRow>(
        `select seq, id, type, correlation_id, causation_id, traceparent, occurred_at, payload
         from ${outbox} where relayed_at is null ${producedBy ? 'and produced_by = ?' : ''}
         order by seq limit ? for update skip locked`,
        producedBy ? [producedBy, this.options.batchSize] : [this.options.batchSize],
      );
      if (rows.length === 0) return 0;
      const bySchema = new Map<string, Array<Record<string, unknown>>>();
      for (const row of rows) {
        const envelope = {
          id: row.id,
          type: row.type,
          occurredAt: new Date(row.occurred_at).toISOString(),
          correlationId: row.correlation_id,
          causationId: row.causation_id,
          traceparent: row.traceparent,
          payload: row.payload,
        };
        for (const consumer of this.routing.consumersOf(row.type)) {
          const list = bySchema.get(consumer.schema) ?? [];
          list.push({ use_case: consumer.useCase, message_id: row.id, type: row.type, correlation_id: row.correlation_id, envelope });
          bySchema.set(consumer.schema, list);
        }
      }
      const inserted: Delivery[] = [];
      for (const [schema, deliveries] of bySchema) {
        const result = await db.query<{ use_case: string; message_id: string }>(
          `insert into ${quoteIdent(schema)}.inbox (use_case, message_id, type, correlation_id, envelope, signaled_at)
           select r.use_case, r.message_id, r.type, r.correlation_id, r.envelope, now()
           from json_to_recordset(?::json) as r(use_case text, message_id uuid, type text, correlation_id uuid, envelope jsonb)
           on conflict do nothing
           returning use_case, message_id`,
          [JSON.stringify(deliveries)],
        );
        for (const r of result) inserted.push({ useCase: r.use_case, messageId: r.message_id });
      }
      await db.exec(`update ${outbox} set relayed_at = now() where seq = any(?::bigint[])`, [rows.map((r) => r.seq)]);
      created = inserted;
      return rows.length;
    });
    if (created.length > 0) {
      try {
        await this.transport.signal(created);
      } catch (error) {
        // The deliveries are committed; the sweeper signals them again after REDELIVERY_AFTER_MS.
        this.logger.warn({ err: error, deliveries: created.length }, 'could not signal the transport; deliveries stay pending');
      }
    }
    return relayed;
  }
}
