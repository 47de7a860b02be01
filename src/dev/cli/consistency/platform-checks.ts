import type { ModuleInbox, SagaStyle } from '../../../shared/contract/routing.js';
import type { CheckMode, SagaStyleRow } from '../../../shared/infrastructure/operations/consistency-check.js';
import { quoteIdent } from '../../../shared/infrastructure/persistence/sql-identifier.js';
import type { Snapshot } from './snapshot.js';

/**
 * The platform's own invariants, over the messaging tables every module's schema holds (the
 * schemas discovered from the modules' inboxes): deliveries are delivered, outboxes drain, nothing
 * is dead-lettered, no message has two effects, and every message reaches its consumers. Each
 * reads one schema at a time, so modules may live in databases of their own.
 */

export interface PlatformCheckOptions {
  readonly mode: CheckMode;
  readonly pendingAfterMs: number;
}

/** A check that reads the messaging tables of one schema at a time; the platform adds up the schemas. */
export interface SchemaCheck {
  readonly name: string;
  readonly kind: 'progress' | 'invariant';
  description(mode: CheckMode): string;
  query(schema: string, options: PlatformCheckOptions): { readonly sql: string; readonly params?: readonly unknown[] };
  /** How the offending rows of every schema are listed together. */
  readonly orderBy: { readonly field: string; readonly descending?: boolean };
}

const DURATION = `(?::float8 * interval '1 millisecond')`;
const olderThan = (column: string, options: PlatformCheckOptions) =>
  options.mode === 'live' ? { where: `and ${column} < now() - ${DURATION}`, params: [options.pendingAfterMs] } : { where: '', params: [] };

export const SCHEMA_CHECKS: readonly SchemaCheck[] = [
  {
    name: 'no-message-has-two-effects',
    kind: 'invariant',
    description: () => 'no message type published twice for one saga, no message delivered twice to one use case',
    query: (schema) => {
      const s = quoteIdent(schema);
      return {
        sql: `select correlation_id as "correlationId", '${schema}.outbox ' || type as "what", count(*) as "times"
                from ${s}.outbox group by correlation_id, type having count(*) > 1
              union all
              select correlation_id, '${schema}.inbox ' || use_case || ' <- ' || type, count(*)
                from ${s}.inbox group by correlation_id, use_case, type having count(*) > 1`,
      };
    },
    orderBy: { field: 'correlationId' },
  },
  {
    name: 'deliveries-are-delivered',
    kind: 'progress',
    description: (mode) => (mode === 'live' ? 'no delivery stays pending longer than the threshold' : 'no delivery is pending'),
    query: (schema, options) => {
      const older = olderThan('created_at', options);
      return {
        sql: `select '${schema}' as "schema", use_case as "useCase", message_id as "messageId", type, correlation_id as "correlationId",
                     attempts, created_at as "createdAt", available_at as "availableAt", error_code as "errorCode", left(last_error, 300) as "lastError"
              from ${quoteIdent(schema)}.inbox where status = 'pending' ${older.where}`,
        params: older.params,
      };
    },
    orderBy: { field: 'createdAt' },
  },
  {
    name: 'outbox-drains',
    kind: 'progress',
    description: (mode) =>
      mode === 'live' ? 'no outbox message stays unrelayed longer than the threshold' : 'every outbox message is relayed',
    query: (schema, options) => {
      const older = olderThan('created_at', options);
      return {
        sql: `select '${schema}' as "schema", id as "messageId", type, correlation_id as "correlationId", produced_by as "producedBy", created_at as "createdAt"
              from ${quoteIdent(schema)}.outbox where relayed_at is null ${older.where}`,
        params: older.params,
      };
    },
    orderBy: { field: 'createdAt' },
  },
  {
    name: 'no-dead-letters',
    kind: 'invariant',
    description: () => 'no delivery is dead-lettered (each one is a message without its effect: repair and re-drive it)',
    query: (schema) => ({
      sql: `select '${schema}' as "schema", use_case as "useCase", message_id as "messageId", type, correlation_id as "correlationId",
                   attempts, error_code as "errorCode", left(last_error, 300) as "lastError", updated_at as "deadSince"
            from ${quoteIdent(schema)}.inbox where status = 'dead'`,
    }),
    orderBy: { field: 'deadSince', descending: true },
  },
];

/** Orders rows of several schemas by one field (a date, a number or text). */
export function byField(field: string, descending = false): (a: Record<string, unknown>, b: Record<string, unknown>) => number {
  const key = (v: unknown) => (v instanceof Date ? v.getTime() : v);
  return (a, b) => {
    const x = key(a[field]) as string | number;
    const y = key(b[field]) as string | number;
    const order = x < y ? -1 : x > y ? 1 : 0;
    return descending ? -order : order;
  };
}

/** Where one schema lives: the snapshot of its database. */
export interface SchemaInSnapshot {
  readonly module: string;
  readonly schema: string;
  readonly snapshot: Snapshot;
  /** The module's query of its sagas' styles, if it runs sagas. */
  readonly sagaStyles?: string;
}

interface Relayed {
  readonly seq: number;
  readonly id: string;
  readonly type: string;
  readonly correlation_id: string;
  readonly relayed_at: Date;
}

export interface MissingDelivery {
  readonly producer: string;
  readonly messageId: string;
  readonly type: string;
  readonly correlationId: string;
  readonly useCase: string;
  readonly relayedAt: Date;
}

const CHUNK = 5_000;

/**
 * `messages-reach-their-consumers`: every relayed message of a saga has a delivery for each use
 * case that routes its type under that saga's style (the module that runs the saga says which),
 * in the consumer's inbox. Compared in application code, producer outbox against consumer inbox
 * by message id, one schema at a time: it holds across databases as within one. Messages of no
 * known saga are not checked. `relayedBefore`: with several databases, their snapshots are taken
 * one after another; a message relayed after the first was taken may not be seen by it yet.
 */
export async function missingDeliveries(
  schemas: readonly SchemaInSnapshot[],
  inboxes: readonly ModuleInbox[],
  relayedBefore: Date | undefined,
): Promise<MissingDelivery[]> {
  const consumerOf = new Map(inboxes.map((i) => [i.schema, schemas.find((s) => s.schema === i.schema)]));
  const missing: MissingDelivery[] = [];
  for (const producer of schemas) {
    for (let after = 0; ;) {
      const rows = await producer.snapshot.query<Relayed>(
        `select seq, id::text as id, type, correlation_id::text as correlation_id, relayed_at from ${quoteIdent(producer.schema)}.outbox
         where relayed_at is not null ${relayedBefore ? 'and relayed_at < ?' : ''} and seq > ? order by seq limit ?`,
        [...(relayedBefore ? [relayedBefore] : []), after, CHUNK],
      );
      if (rows.length === 0) break;
      after = rows.at(-1)!.seq;
      const styles = await sagaStyles(schemas, [...new Set(rows.map((r) => r.correlation_id))]);
      const expected = rows.flatMap((m) => {
        const style = styles.get(m.correlation_id);
        return style ? consumersOf(inboxes, m.type, style).map((c) => ({ message: m, ...c })) : [];
      });
      for (const [schema, deliveries] of groupBy(expected, (e) => e.schema)) {
        const consumer = consumerOf.get(schema);
        if (!consumer) continue;
        const present = await consumer.snapshot.query<{ use_case: string; message_id: string }>(
          `select use_case, message_id::text as message_id from ${quoteIdent(schema)}.inbox where message_id = any(?::uuid[])`,
          [[...new Set(deliveries.map((d) => d.message.id))]],
        );
        const found = new Set(present.map((p) => `${p.use_case} ${p.message_id}`));
        for (const d of deliveries) {
          if (found.has(`${d.useCase} ${d.message.id}`)) continue;
          const m = d.message;
          missing.push({
            producer: producer.schema,
            messageId: m.id,
            type: m.type,
            correlationId: m.correlation_id,
            useCase: d.useCase,
            relayedAt: m.relayed_at,
          });
        }
      }
    }
  }
  return missing.sort((a, b) => a.relayedAt.getTime() - b.relayedAt.getTime());
}

/** The saga style of each correlation id, from every module that runs sagas. */
async function sagaStyles(schemas: readonly SchemaInSnapshot[], correlationIds: readonly string[]): Promise<Map<string, SagaStyle>> {
  const styles = new Map<string, SagaStyle>();
  for (const s of schemas) {
    if (!s.sagaStyles) continue;
    const rows = await s.snapshot.query<SagaStyleRow>(s.sagaStyles, [correlationIds]);
    for (const row of rows) styles.set(String(row.correlation_id), row.style);
  }
  return styles;
}

function consumersOf(inboxes: readonly ModuleInbox[], type: string, style: SagaStyle): { useCase: string; schema: string }[] {
  return inboxes.flatMap((inbox) =>
    inbox.routes
      .filter((r) => r.messageType === type && r.styles.includes(style))
      .map((r) => ({ useCase: r.useCase, schema: inbox.schema })),
  );
}

function groupBy<T, K>(items: readonly T[], key: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
}
