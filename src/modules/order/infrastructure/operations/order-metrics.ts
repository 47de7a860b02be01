import { uuidv7Floor } from '../../../../shared/kernel/index.js';
import type { ModuleHistogram } from '../../../../shared/infrastructure/observability/module-metric.js';
import type { ModuleDatabase } from '../../../../shared/infrastructure/persistence/module-database.js';
import { quoteIdent } from '../../../../shared/infrastructure/persistence/sql-identifier.js';

export const SAGA_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600] as const;

interface DecidedOrder {
  id: string;
  saga_style: string;
  status: string;
  rejection_reason: string | null;
  seconds: number;
  decided_ms: number;
}

/**
 * `saga_duration_seconds`: an order's saga from placed to decided, observed once per order by each
 * process that serves /metrics. What short-lived ECS tasks did cannot be counted where it ran, so
 * it is read back from the Order module's `orders` table (ADR 27).
 */
export function sagaDurationMetric(
  db: Pick<ModuleDatabase, 'schema' | 'query'>,
  sagaDeadlineMs: number,
): ModuleHistogram<'style' | 'outcome' | 'reason'> {
  const sql = `select id::text as id, saga_style, status, rejection_reason,
       greatest(extract(epoch from decided_at - created_at), 0)::float8 as seconds,
       (extract(epoch from decided_at) * 1000)::float8 as decided_ms
     from ${quoteIdent(db.schema)}."orders"
     where id >= ?::uuid and decided_at is not null and decided_at > to_timestamp(?::float8 / 1000)`;
  return {
    type: 'histogram',
    name: 'saga_duration_seconds',
    help: 'Order placed to decided (decided_at - created_at), by saga style, outcome (status when first seen) and rejection reason; from the Order module’s orders table',
    labels: ['style', 'outcome', 'reason'],
    buckets: SAGA_BUCKETS,
    async read(sinceMs) {
      // An order is decided within its deadline: its UUIDv7 id bounds the scan to the primary key's
      // recent range (twice the deadline and a minute, for a late expiry or commit).
      const rows = await db.query<DecidedOrder>(sql, [uuidv7Floor(sinceMs - 2 * sagaDeadlineMs - 60_000), sinceMs]);
      return rows.map((row) => ({
        id: row.id,
        atMs: row.decided_ms,
        labels: { style: row.saga_style, outcome: row.status, reason: row.rejection_reason ?? '' },
        value: row.seconds,
      }));
    },
  };
}
