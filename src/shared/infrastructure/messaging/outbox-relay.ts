import type { Logger } from '../logging/logger.js';
import { LateSpan, linksTo, tracingEnabled } from '../observability/tracing.js';
import type { OutboxCommits } from './outbox-event-bus.js';
import type { ModuleDatabase } from '../persistence/module-database.js';
import { quoteIdent } from '../persistence/messaging-tables.js';
import { inboxChannel } from './inbox-channel.js';
import type { Delivery, RoutingTable } from './subscription.js';
import type { DeliveryTransport } from './transport.js';

export interface RelayOptions {
  readonly batchSize: number;
  readonly pollMs: number;
  /**
   * After a pass that found several rows (the system is busy), the next pass waits this long for
   * more: bigger batches per relay statement, per signal and per consumer transaction. A pass
   * that found at most one row never waits, so a lone saga's latency is unchanged. 0: never.
   */
  readonly lingerMs?: number;
  /**
   * NOTIFY the inbox channel (`inboxChannel`) of each use case that got a delivery, in the same
   * statement: PostgreSQL sends it on commit, once per channel, to the running task that LISTENs.
   */
  readonly notify?: boolean;
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
  /** Producers whose commits woke the relay since its last pass; a poll (timer) relays every producer. */
  private readonly woken = new Set<ModuleDatabase>();
  private pollAll = true;
  private lastFullPassAt = 0;
  private readonly sqlCache = new Map<string, string>();
  private routesJson: string | undefined;

  constructor(
    private readonly producers: readonly ModuleDatabase[],
    private readonly routing: RoutingTable,
    private readonly transport: DeliveryTransport,
    private readonly logger: Logger,
    private readonly options: RelayOptions,
    /** Commits of the producers' event buses: each wakes the relay for that producer. */
    commits?: OutboxCommits,
  ) {
    commits?.subscribe((producer) => this.wake(producer));
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /**
   * Relay soon: called after a commit that wrote outbox rows (of `producer`: only its outbox is
   * read on that pass; without it, every producer's). Coalesces bursts into one pass.
   */
  wake(producer?: ModuleDatabase): void {
    if (this.stopped) return;
    if (producer && this.producers.includes(producer)) this.woken.add(producer);
    else this.pollAll = true;
    if (this.running) {
      this.again = true;
      return;
    }
    this.schedule(0);
  }

  private schedule(delayMs: number, poll = false): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (poll) this.pollAll = true;
      void this.pass();
    }, delayMs);
    this.timer.unref();
  }

  private async pass(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = (async () => {
      do {
        this.again = false;
        // Under a steady stream of wakes the poll timer never fires: every pollMs, read every outbox
        // anyway (rows written by other processes are found by polling only).
        const full = this.pollAll || Date.now() - this.lastFullPassAt >= this.options.pollMs;
        const producers = full ? this.producers : this.producers.filter((db) => this.woken.has(db));
        if (full) this.lastFullPassAt = Date.now();
        this.pollAll = false;
        this.woken.clear();
        let relayed = 0;
        try {
          relayed = await this.drain(producers);
        } catch (error) {
          this.logger.warn({ err: error }, 'outbox relay pass failed; will retry');
        }
        const linger = this.options.lingerMs ?? 0;
        if (this.again && relayed > 1 && linger > 0 && !this.stopped) await new Promise((resolve) => setTimeout(resolve, linger));
      } while (this.again && !this.stopped);
    })();
    await this.running;
    this.running = undefined;
    if (this.stopped) return;
    // A wake that came after the loop's last check (an after-commit callback in that gap) set
    // `again` only: relay now, not at the next poll.
    if (this.again) this.schedule(0);
    else this.schedule(this.options.pollMs, true);
  }

  /** Relays everything currently unrelayed (optionally only what one use case produced). */
  drainAll(producedBy?: string): Promise<number> {
    return this.drain(this.producers, producedBy);
  }

  private async drain(producers: readonly ModuleDatabase[], producedBy?: string): Promise<number> {
    let total = 0;
    for (const db of producers) {
      for (;;) {
        const n = await this.relayBatch(db, producedBy);
        total += n;
        if (n < this.options.batchSize) break;
      }
    }
    return total;
  }

  /**
   * One statement, so one round trip and its own transaction: lock a batch of unrelayed rows
   * (SKIP LOCKED), insert a delivery per row and subscribing use case into each consumer's inbox
   * (keyed by the payload field its route names),
   * mark the rows relayed. The routes are a parameter; the envelope is built in SQL exactly as
   * consumers parse it (occurredAt in ISO-8601 UTC with milliseconds). With `notify`, the same
   * statement notifies the channel of each use case that got a new delivery (none for a delivery
   * that already existed); the main query reads `notified` so that PostgreSQL evaluates it.
   */
  private relaySql(schema: string, byProducer: boolean): string {
    const key = `${schema}:${byProducer}`;
    const cached = this.sqlCache.get(key);
    if (cached) return cached;
    const consumers = [...new Set(this.routing.routes().map((r) => r.schema))].sort();
    const notify = this.options.notify === true && consumers.length > 0;
    const inserts = consumers.map(
      (consumer, i) => `ins_${i} as (
        insert into ${quoteIdent(consumer)}.inbox (use_case, message_id, type, correlation_id, envelope, delivery_key, signaled_at)
        select use_case, id, type, correlation_id, envelope, delivery_key, now() from deliveries where schema = '${consumer}' order by seq
        on conflict do nothing
        returning use_case, message_id, type, envelope->>'traceparent' as traceparent
      ),`,
    );
    // One row, counting the channels notified. The main query selects from it: a plain SELECT in
    // WITH is evaluated only as far as the main query reads it.
    const notified = notify
      ? `,
      notified as (
        select count(pg_notify(c.channel, '')) from (
          select distinct channel from routes where use_case in (${consumers.map((_, i) => `select use_case from ins_${i}`).join(' union all ')})
        ) c
      )`
      : '';
    const sql = `with batch as (
        select seq, id, type, correlation_id, causation_id, traceparent, occurred_at, payload
        from ${quoteIdent(schema)}.outbox where relayed_at is null ${byProducer ? 'and produced_by = ?' : ''}
        order by seq limit ? for update skip locked
      ),
      routes as (
        select r.message_type, r.use_case, r.schema, r.channel, r.key from json_to_recordset(?::json) as r(message_type text, use_case text, schema text, channel text, key text)
      ),
      deliveries as (
        select rt.schema, rt.use_case, b.seq, b.id, b.type, b.correlation_id, b.payload->>rt.key as delivery_key,
          jsonb_build_object(
            'id', b.id, 'type', b.type,
            'occurredAt', to_char(b.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
            'correlationId', b.correlation_id, 'causationId', b.causation_id, 'traceparent', b.traceparent, 'payload', b.payload
          ) as envelope
        from batch b join routes rt on rt.message_type = b.type
      ),
      ${inserts.join('\n      ')}
      marked as (
        update ${quoteIdent(schema)}.outbox o set relayed_at = now() from batch b where o.seq = b.seq returning o.seq
      )${notified}
      ${consumers.map((_, i) => `select use_case, message_id, type, traceparent, null::bigint as relayed from ins_${i} union all`).join('\n      ')}
      ${notify ? 'select null, null, null, null, (select count(*) from marked) from notified' : 'select null, null, null, null, count(*) from marked'}`;
    this.sqlCache.set(key, sql);
    return sql;
  }

  async relayBatch(db: ModuleDatabase, producedBy?: string): Promise<number> {
    const routes = (this.routesJson ??= JSON.stringify(
      this.routing
        .routes()
        .map((r) => ({ message_type: r.messageType, use_case: r.useCase, schema: r.schema, channel: inboxChannel(r.useCase), key: r.key })),
    ));
    // Timed from here; a span only when the pass relayed something (the polls that find nothing make none).
    const span = new LateSpan(`publish ${db.schema}`, { 'messaging.system': 'saga-outbox', 'messaging.operation.type': 'publish' });
    const rows = await db.query<{
      use_case: string | null;
      message_id: string | null;
      type: string | null;
      traceparent: string | null;
      relayed: string | null;
    }>(
      this.relaySql(db.schema, producedBy !== undefined),
      producedBy ? [producedBy, this.options.batchSize, routes] : [this.options.batchSize, routes],
    );
    const created: Delivery[] = [];
    const traceparents: string[] = [];
    const types = new Set<string>();
    let relayed = 0;
    for (const r of rows) {
      if (r.relayed !== null) relayed = Number(r.relayed);
      else if (r.use_case !== null && r.message_id !== null) {
        created.push({ useCase: r.use_case, messageId: r.message_id });
        if (r.traceparent !== null) traceparents.push(r.traceparent);
        if (r.type !== null) types.add(r.type);
      }
    }
    if (created.length > 0) {
      await span.open(linksTo(traceparents), async () => {
        if (tracingEnabled())
          span.setAttributes({
            'messaging.batch.message_count': relayed,
            'saga.message_types': [...types].sort(),
            'saga.use_cases': [...new Set(created.map((d) => d.useCase))].sort(),
            'saga.deliveries': created.length,
          });
        try {
          await this.transport.signal(created);
        } catch (error) {
          // The deliveries are committed; the sweeper signals them again after REDELIVERY_AFTER_MS.
          this.logger.warn({ err: error, deliveries: created.length }, 'could not signal the transport; deliveries stay pending');
        }
      });
      span.end();
    }
    return relayed;
  }
}
