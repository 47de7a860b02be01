// Over 300 lines on purpose: one class, the relay's loop (wake-ups, linger, batches across databases,
// fan-out in one transaction, the cross-database insert before the producer's row is marked relayed: ADR 32).
import type { Logger } from '../logging/logger.js';
import { LateSpan, linksTo, tracingEnabled } from '../observability/tracing.js';
import type { OutboxCommits } from './outbox-event-bus.js';
import type { ModuleDatabase } from '../persistence/module-database.js';
import { quoteIdent } from '../persistence/sql-identifier.js';
import { inboxChannel } from './inbox-channel.js';
import type { Delivery } from './subscription.js';
import type { RoutingTable } from './routing-table.js';
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

/** The database handle of a consumer module's schema (its inbox), hosted by this process or not. */
export type ConsumerDatabases = (schema: string) => ModuleDatabase;

/**
 * Moves committed outbox rows into pending deliveries, one per subscribing use case, in the
 * consumers' inboxes, and marks the rows relayed; then signals the transport. `FOR UPDATE SKIP
 * LOCKED` lets several relays (processes, tasks) run at once; `ON CONFLICT DO NOTHING` makes
 * relaying a row twice harmless.
 *
 * Consumers in the producer's database get their deliveries in the same transaction that marks
 * the rows relayed (one statement). Consumers in another database (ADR 32) get theirs in a
 * statement of their own, committed there while the producer's transaction holds the rows; only
 * then are the rows marked relayed. A crash between the two commits leaves the rows unrelayed:
 * the next pass inserts the same deliveries again, which the consumer's inbox ignores (its key is
 * the use case and the message id), so nothing is lost and nothing has a second effect; the
 * deliveries committed before the crash are signalled by the sweeper.
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
    /** Where each consumer schema lives; by default, in the producer's database. */
    private readonly consumerDatabases?: ConsumerDatabases,
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
   * (keyed by the payload field its route names), mark the rows relayed. The routes are a
   * parameter; the envelope is built in SQL exactly as consumers parse it (occurredAt in ISO-8601
   * UTC with milliseconds). With `notify`, the same statement notifies the channel of each use case
   * that got a new delivery (none for a delivery that already existed); the main query reads
   * `notified` so that PostgreSQL evaluates it. `consumers`: the schemas in the producer's
   * database. `given`: the batch is the rows whose `seq` is a parameter, already locked by this
   * transaction (the cross-database path), instead of a claim.
   */
  private relaySql(schema: string, byProducer: boolean, consumers: readonly string[], given = false): string {
    const key = `${schema}:${byProducer}:${given}:${consumers.join(',')}`;
    const cached = this.sqlCache.get(key);
    if (cached) return cached;
    const notify = this.options.notify === true && consumers.length > 0;
    const inserts = consumers.map(
      (consumer, i) => `ins_${i} as (
        insert into ${quoteIdent(consumer)}.inbox (use_case, message_id, type, correlation_id, envelope, delivery_key, signaled_at)
        select use_case, id, type, correlation_id, envelope, delivery_key, now() from deliveries where schema = '${consumer}' order by seq
        on conflict do nothing
        returning use_case, message_id, type, envelope->>'traceparent' as traceparent
      ),`,
    );
    const notified = notify
      ? `,
      ${notifiedSql(consumers.map((_, i) => `select use_case from ins_${i}`))}`
      : '';
    const sql = `with batch as (${given ? givenBatchSql(schema) : claimedBatchSql(schema, byProducer)}),
      ${ROUTES_SQL},
      deliveries as (
        select rt.schema, rt.use_case, b.seq, b.id, b.type, b.correlation_id, b.payload->>rt.key as delivery_key, ${ENVELOPE_SQL} as envelope
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

  /** The routes as the statements take them: message type, consumer use case and schema, its NOTIFY channel, its delivery key. */
  private routes(): string {
    return (this.routesJson ??= JSON.stringify(
      this.routing
        .routes()
        .map((r) => ({ message_type: r.messageType, use_case: r.useCase, schema: r.schema, channel: inboxChannel(r.useCase), key: r.key })),
    ));
  }

  private consumerDb(schema: string, producer: ModuleDatabase): ModuleDatabase {
    return this.consumerDatabases?.(schema) ?? producer;
  }

  async relayBatch(db: ModuleDatabase, producedBy?: string): Promise<number> {
    const consumers = [...new Set(this.routing.routes().map((r) => r.schema))].sort();
    const local = consumers.filter((c) => this.consumerDb(c, db).database === db.database);
    // Timed from here; a span only when the pass relayed something (the polls that find nothing make none).
    const span = new LateSpan(`publish ${db.schema}`, { 'messaging.system': 'saga-outbox', 'messaging.operation.type': 'publish' });
    const rows =
      local.length === consumers.length
        ? await db.query<RelayedRow>(
            this.relaySql(db.schema, producedBy !== undefined, local),
            producedBy ? [producedBy, this.options.batchSize, this.routes()] : [this.options.batchSize, this.routes()],
          )
        : await this.relayAcrossDatabases(db, producedBy, local);
    const created: Delivery[] = [];
    const traceparents: string[] = [];
    const types = new Set<string>();
    let relayed = 0;
    for (const r of rows) {
      if (r.relayed !== null) relayed += Number(r.relayed);
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

  /**
   * The rows of one batch whose consumers live in other databases too: in the producer's
   * transaction, lock the batch and build the other databases' deliveries; insert them in each of
   * those databases (committed there, then and there); then insert the local ones and mark the
   * rows relayed, committed with the producer's transaction.
   */
  private async relayAcrossDatabases(db: ModuleDatabase, producedBy: string | undefined, local: readonly string[]): Promise<RelayedRow[]> {
    return db.run(async () => {
      const claimed = await db.query<RemoteDelivery>(
        this.claimForRemoteSql(db.schema, producedBy !== undefined, local),
        producedBy ? [producedBy, this.options.batchSize, this.routes()] : [this.options.batchSize, this.routes()],
      );
      if (claimed.length === 0) return [];
      const remote = claimed.filter((d): d is RemoteDelivery & { schema: string } => d.schema !== null);
      const byDatabase = new Map<ModuleDatabase['database'], RemoteDelivery[]>();
      for (const d of remote) {
        const target = this.consumerDb(d.schema!, db).database;
        byDatabase.set(target, [...(byDatabase.get(target) ?? []), d]);
      }
      const rows: RelayedRow[] = [];
      for (const deliveries of byDatabase.values()) {
        const schemas = [...new Set(deliveries.map((d) => d.schema!))].sort();
        const target = this.consumerDb(schemas[0]!, db);
        rows.push(...(await target.query<RelayedRow>(this.insertRemoteSql(schemas), [JSON.stringify(deliveries)])));
      }
      const seqs = [...new Set(claimed.map((d) => d.seq))];
      rows.push(...(await db.query<RelayedRow>(this.relaySql(db.schema, false, local, true), [seqs, this.routes()])));
      return rows;
    });
  }

  /**
   * Locks a batch (as the one-statement path does) and returns, for each row, the deliveries of
   * its consumers in other databases, their envelopes built as consumers parse them; a row with
   * none comes back once with a null schema, so that it is marked relayed too.
   */
  private claimForRemoteSql(schema: string, byProducer: boolean, local: readonly string[]): string {
    const key = `remote:${schema}:${byProducer}:${local.join(',')}`;
    const cached = this.sqlCache.get(key);
    if (cached) return cached;
    const sql = `with batch as (${claimedBatchSql(schema, byProducer)}),
      ${ROUTES_SQL}
      select b.seq, rt.schema, rt.use_case, rt.channel, b.id as message_id, b.type, b.correlation_id, b.payload->>rt.key as delivery_key,
        ${ENVELOPE_SQL} as envelope
      from batch b left join routes rt on rt.message_type = b.type${local.length > 0 ? ` and rt.schema not in (${local.map((c) => `'${c}'`).join(', ')})` : ''}
      order by b.seq`;
    this.sqlCache.set(key, sql);
    return sql;
  }

  /** Inserts deliveries (a JSON parameter) into the inboxes of `schemas`, all in one database, and NOTIFYs like the main statement. */
  private insertRemoteSql(schemas: readonly string[]): string {
    const key = `insert:${schemas.join(',')}`;
    const cached = this.sqlCache.get(key);
    if (cached) return cached;
    const inserts = schemas.map(
      (consumer, i) => `ins_${i} as (
        insert into ${quoteIdent(consumer)}.inbox (use_case, message_id, type, correlation_id, envelope, delivery_key, signaled_at)
        select use_case, message_id, type, correlation_id, envelope, delivery_key, now() from d where schema = '${consumer}' order by seq
        on conflict do nothing
        returning use_case, message_id, type, envelope->>'traceparent' as traceparent
      )`,
    );
    const routes = `routes as (select distinct use_case, channel from d)`;
    const notified =
      this.options.notify === true ? `, ${routes}, ${notifiedSql(schemas.map((_, i) => `select use_case from ins_${i}`))}` : '';
    const sql = `with d as (
        select * from json_to_recordset(?::json) as d(seq bigint, schema text, use_case text, channel text, message_id uuid, type text, correlation_id uuid, delivery_key text, envelope jsonb)
      ),
      ${inserts.join(',\n      ')}${notified}
      ${schemas.map((_, i) => `select use_case, message_id, type, traceparent, null::bigint as relayed from ins_${i}`).join(' union all ')}
      ${this.options.notify === true ? 'union all select null, null, null, null, null::bigint from notified' : ''}`;
    this.sqlCache.set(key, sql);
    return sql;
  }
}

/** A row of the relay's statements: a delivery it created, or (relayed not null) how many outbox rows it marked. */
interface RelayedRow {
  use_case: string | null;
  message_id: string | null;
  type: string | null;
  traceparent: string | null;
  relayed: string | null;
}

/** A delivery for a consumer in another database, as the producer's claim builds it. */
interface RemoteDelivery {
  seq: string;
  schema: string | null;
  use_case: string | null;
  channel: string | null;
  message_id: string;
  type: string;
  correlation_id: string;
  delivery_key: string | null;
  envelope: unknown;
}

/** The unrelayed rows a pass takes (optionally only one producer's), skipping those another relay holds. */
function claimedBatchSql(schema: string, byProducer: boolean): string {
  return `select seq, id, type, correlation_id, causation_id, traceparent, occurred_at, payload
        from ${quoteIdent(schema)}.outbox where relayed_at is null ${byProducer ? 'and produced_by = ?' : ''}
        order by seq limit ? for update skip locked`;
}

/** The rows of a batch this transaction already holds, by their `seq` (a parameter). */
function givenBatchSql(schema: string): string {
  return `select seq, id, type, correlation_id, causation_id, traceparent, occurred_at, payload
        from ${quoteIdent(schema)}.outbox where seq = any(?::bigint[]) and relayed_at is null`;
}

const ROUTES_SQL = `routes as (
        select r.message_type, r.use_case, r.schema, r.channel, r.key from json_to_recordset(?::json) as r(message_type text, use_case text, schema text, channel text, key text)
      )`;

/** The envelope of outbox row `b`, exactly as consumers parse it (parseEnvelope). */
const ENVELOPE_SQL = `jsonb_build_object(
            'id', b.id, 'type', b.type,
            'occurredAt', to_char(b.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
            'correlationId', b.correlation_id, 'causationId', b.causation_id, 'traceparent', b.traceparent, 'payload', b.payload
          )`;

/**
 * One row counting the channels notified of the use cases that got a new delivery (`inserted`:
 * the queries returning their use cases). The main query selects from it: a plain SELECT in WITH
 * is evaluated only as far as the main query reads it.
 */
function notifiedSql(inserted: readonly string[]): string {
  return `notified as (
        select count(pg_notify(c.channel, '')) from (
          select distinct channel from routes where use_case in (${inserted.join(' union all ')})
        ) c
      )`;
}
