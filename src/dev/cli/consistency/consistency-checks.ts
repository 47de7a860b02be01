import type pg from 'pg';
import { pgTypes } from '../../../shared/infrastructure/persistence/pg-connections.js';
import { customerInbox } from '../../../modules/customer/contract/index.js';
import { orderInbox } from '../../../modules/order/contract/index.js';

/**
 * The system's invariants, checked with plain SQL across both modules' schemas in ONE
 * repeatable-read snapshot (the schemas share a database), so that a message moving from an
 * outbox to an inbox while we read is seen in exactly one place.
 *
 * An operator tool, deliberately outside the modules: it reads their tables, never writes, and
 * knows their schemas only through the contracts' inbox declarations.
 */

export type CheckMode = 'live' | 'settled';

export interface ConsistencyOptions {
  /**
   * `live`: the system may be working; work in flight is not a failure until it is older than the
   * thresholds, and customers with work in flight are not compared. `settled`: the system is idle,
   * so anything still in flight is a failure (what the reliability suite asserts after a scenario).
   */
  readonly mode: CheckMode;
  /** live: an order (or orchestrated saga) still waiting this long after its deadline is stuck. */
  readonly deadlineGraceMs: number;
  /** live: a delivery pending, an outbox row unrelayed or a compensation unfinished this long is stuck. */
  readonly pendingAfterMs: number;
  /** Rows listed per failed check; counts are always complete. */
  readonly sampleLimit: number;
}

export const DEFAULT_OPTIONS: ConsistencyOptions = {
  mode: 'live',
  deadlineGraceMs: 60_000,
  pendingAfterMs: 5 * 60_000,
  sampleLimit: 20,
};

export interface CheckResult {
  readonly name: string;
  readonly description: string;
  readonly ok: boolean;
  readonly count: number;
  readonly sample: readonly Record<string, unknown>[];
}

export interface ConsistencySummary {
  readonly orders: Record<string, number>;
  readonly customers: number;
  readonly pendingDeliveries: number;
  readonly unrelayedOutbox: number;
  readonly deadLetters: number;
}

export interface ConsistencyReport {
  readonly ok: boolean;
  readonly checkedAt: string;
  readonly options: ConsistencyOptions;
  readonly summary: ConsistencySummary;
  readonly checks: readonly CheckResult[];
}

export class SchemaMissingError extends Error {
  constructor(readonly missing: readonly string[]) {
    super(`schema ${missing.join(', ')} not found: is this the system's database, and were its migrations applied?`);
    this.name = 'SchemaMissingError';
  }
}

const ORDERING = orderInbox.schema;
const CUSTOMERS = customerInbox.schema;
const MESSAGING_SCHEMAS = [ORDERING, CUSTOMERS] as const;

const IDENT = /^[a-z_][a-z0-9_]*$/;
function q(schema: string): string {
  if (!IDENT.test(schema)) throw new Error(`unexpected schema name ${JSON.stringify(schema)}`);
  return `"${schema}"`;
}
/** Who consumes what, per saga style, as the modules' contracts declare it. */
const ROUTES = [orderInbox, customerInbox].flatMap((inbox) =>
  inbox.routes.flatMap((route) =>
    route.styles.map((style) => ({ message_type: route.messageType, use_case: route.useCase, consumer_schema: inbox.schema, style })),
  ),
);
const O = q(ORDERING);
const C = q(CUSTOMERS);

/** bigint columns as numbers while they are exact, as strings beyond (never silently rounded). */
const INT8_OID = 20;
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid !== INT8_OID) return pgTypes.getTypeParser(oid, format);
    return (value: string) => {
      const n = Number(value);
      return Number.isSafeInteger(n) ? n : value;
    };
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** Orders with messages or a saga still moving: in live mode their customers are not compared yet. */
function inFlightOrdersSql(mode: CheckMode): string {
  if (mode === 'settled') return 'select null::uuid as order_id where false';
  return [
    `select id as order_id from ${O}.orders where status = 'PENDING'`,
    `select id from ${O}.saga_instances where state in ('AWAITING_CREDIT', 'COMPENSATING', 'AWAITING_CREDIT_RELEASE')`,
    ...MESSAGING_SCHEMAS.flatMap((s) => [
      `select correlation_id from ${q(s)}.outbox where relayed_at is null`,
      `select correlation_id from ${q(s)}.inbox where status = 'pending'`,
    ]),
  ].join('\n      union ');
}

interface CheckDefinition {
  readonly name: string;
  readonly description: string;
  /** Returns the offending rows; `$1` is the sample limit. */
  readonly sql: string;
  readonly params?: readonly unknown[];
}

function ms(index: number): string {
  return `($${index}::float8 * interval '1 millisecond')`;
}

function definitions(o: ConsistencyOptions): CheckDefinition[] {
  const live = o.mode === 'live';
  const inFlight = `with in_flight as (\n      ${inFlightOrdersSql(o.mode)}\n    )`;
  const stepCountsAsEffect = `outcome in ('done', 'received', 'sent')`;
  return [
    {
      name: 'orders-reach-an-end',
      description: live
        ? 'every order ends: none is still PENDING longer than the grace after its deadline'
        : 'every order ends: none is PENDING',
      sql: `select id as "orderId", customer_id as "customerId", saga_style as "sagaStyle", created_at as "createdAt", deadline_at as "deadlineAt"
            from ${O}.orders where status = 'PENDING' ${live ? `and deadline_at < now() - ${ms(1)}` : ''}
            order by deadline_at`,
      params: live ? [o.deadlineGraceMs] : [],
    },
    {
      name: 'sagas-reach-an-end',
      description: live
        ? 'no orchestrated saga awaits credit longer than the grace after its deadline, and no compensation stays unfinished'
        : 'every orchestrated saga is APPROVED or finished',
      sql: `select id as "sagaId", state, deadline_at as "deadlineAt", updated_at as "updatedAt"
            from ${O}.saga_instances
            where ${
              live
                ? `(state = 'AWAITING_CREDIT' and deadline_at < now() - ${ms(1)})
                   or (state in ('COMPENSATING', 'AWAITING_CREDIT_RELEASE') and updated_at < now() - ${ms(2)})`
                : `state in ('AWAITING_CREDIT', 'COMPENSATING', 'AWAITING_CREDIT_RELEASE')`
            }
            order by updated_at`,
      params: live ? [o.deadlineGraceMs, o.pendingAfterMs] : [],
    },
    {
      name: 'sagas-match-orders',
      description: "an orchestrated saga's state agrees with its order's status",
      sql: `select coalesce(s.id, o.id) as "orderId", s.state as "sagaState", o.status as "orderStatus"
            from ${O}.saga_instances s full join (select * from ${O}.orders where saga_style = 'orchestration') o on o.id = s.id
            where s.id is null or o.id is null or not (
                 (s.state = 'AWAITING_CREDIT' and o.status = 'PENDING')
              or (s.state = 'APPROVED' and o.status = 'APPROVED')
              or (s.state in ('REJECTED', 'COMPENSATING', 'COMPENSATED') and o.status = 'REJECTED')
              or (s.state in ('AWAITING_CREDIT_RELEASE', 'CANCELLED') and o.status = 'CANCELLED'))
            order by 1`,
    },
    {
      name: 'credit-matches-approved-orders',
      description: 'for every customer, available credit = credit limit - the totals of its APPROVED orders, never negative',
      sql: `${inFlight},
            approved as (
              select customer_id, sum(total_amount) as total, count(*) as orders
              from ${O}.orders where status = 'APPROVED' group by customer_id
            ),
            busy as (select distinct o.customer_id from ${O}.orders o join in_flight f on f.order_id = o.id)
            select c.id as "customerId", c.currency, c.credit_limit as "creditLimit", c.available_credit as "availableCredit",
                   coalesce(a.total, 0) as "approvedTotal", coalesce(a.orders, 0) as "approvedOrders",
                   c.credit_limit - coalesce(a.total, 0) as "expectedAvailable"
            from ${C}.customers c left join approved a on a.customer_id = c.id
            where (c.available_credit <> c.credit_limit - coalesce(a.total, 0) or c.available_credit < 0)
              and not exists (select 1 from busy b where b.customer_id = c.id)
            order by c.id`,
    },
    {
      name: 'reservations-match-orders',
      description: 'an APPROVED order holds exactly one reservation of its total; a rejected or cancelled order holds none',
      sql: `${inFlight}
            select o.id as "orderId", o.customer_id as "customerId", o.status, o.total_amount as "total",
                   r.status as "reservation", r.amount as "reserved"
            from ${O}.orders o left join ${C}.credit_reservations r on r.order_id = o.id
            where o.status <> 'PENDING'
              and not exists (select 1 from in_flight f where f.order_id = o.id)
              and ((o.status = 'APPROVED' and (r.order_id is null or r.status <> 'RESERVED' or r.amount <> o.total_amount or r.customer_id <> o.customer_id))
                or (o.status in ('REJECTED', 'CANCELLED') and r.status = 'RESERVED'))
            union all
            select r.order_id, r.customer_id, null, null, r.status, r.amount
            from ${C}.credit_reservations r
            where r.status = 'RESERVED' and not exists (select 1 from ${O}.orders o where o.id = r.order_id)
              and not exists (select 1 from in_flight f where f.order_id = r.order_id)
            order by 1`,
    },
    {
      name: 'no-message-has-two-effects',
      description:
        'no saga decision or step recorded twice for an order, no message type published twice for one saga, no message delivered twice to one use case',
      sql: `select order_id as "correlationId", 'saga step ' || name || ' (' || outcome || ')' as "what", count(*) as "times"
              from ${O}.saga_steps where ${stepCountsAsEffect} group by order_id, name, outcome having count(*) > 1
            union all
            select order_id, 'both approved and rejected', count(*)
              from ${O}.saga_steps where outcome = 'done' and name in ('order-approved', 'order-rejected')
              group by order_id having count(distinct name) > 1
            ${MESSAGING_SCHEMAS.map(
              (s) => `union all
            select correlation_id, '${s}.outbox ' || type, count(*)
              from ${q(s)}.outbox group by correlation_id, type having count(*) > 1
            union all
            select correlation_id, '${s}.inbox ' || use_case || ' <- ' || type, count(*)
              from ${q(s)}.inbox group by correlation_id, use_case, type having count(*) > 1`,
            ).join('\n            ')}
            order by 1, 2`,
    },
    {
      name: 'messages-reach-their-consumers',
      description:
        "every relayed message of an order's saga has a delivery for each use case that subscribes to it under that saga's style",
      sql: `with routes as (select * from json_to_recordset($1::json) as r(message_type text, use_case text, consumer_schema text, style text)),
            sent as (${MESSAGING_SCHEMAS.map((s) => `select '${s}' as producer, id, type, correlation_id, relayed_at from ${q(s)}.outbox where relayed_at is not null`).join(' union all ')})
            select m.producer as "producer", m.id as "messageId", m.type, m.correlation_id as "correlationId", r.use_case as "useCase", m.relayed_at as "relayedAt"
            from sent m
            join ${O}.orders o on o.id = m.correlation_id
            join routes r on r.message_type = m.type and r.style = o.saga_style
            where not (${MESSAGING_SCHEMAS.map((s) => `(r.consumer_schema = '${s}' and exists (select 1 from ${q(s)}.inbox i where i.use_case = r.use_case and i.message_id = m.id))`).join(' or ')})
            order by m.relayed_at`,
      params: [JSON.stringify(ROUTES)],
    },
    {
      name: 'deliveries-are-delivered',
      description: live ? 'no delivery stays pending longer than the threshold' : 'no delivery is pending',
      sql: MESSAGING_SCHEMAS.map(
        (s) => `select '${s}' as "schema", use_case as "useCase", message_id as "messageId", type, correlation_id as "correlationId",
                   attempts, created_at as "createdAt", available_at as "availableAt", error_code as "errorCode", left(last_error, 300) as "lastError"
            from ${q(s)}.inbox where status = 'pending' ${live ? `and created_at < now() - ${ms(1)}` : ''}`,
      )
        .join('\n            union all\n            ')
        .concat('\n            order by "createdAt"'),
      params: live ? [o.pendingAfterMs] : [],
    },
    {
      name: 'outbox-drains',
      description: live ? 'no outbox message stays unrelayed longer than the threshold' : 'every outbox message is relayed',
      sql: MESSAGING_SCHEMAS.map(
        (
          s,
        ) => `select '${s}' as "schema", id as "messageId", type, correlation_id as "correlationId", produced_by as "producedBy", created_at as "createdAt"
            from ${q(s)}.outbox where relayed_at is null ${live ? `and created_at < now() - ${ms(1)}` : ''}`,
      )
        .join('\n            union all\n            ')
        .concat('\n            order by "createdAt"'),
      params: live ? [o.pendingAfterMs] : [],
    },
    {
      name: 'no-dead-letters',
      description: 'no delivery is dead-lettered (each one is a message without its effect: repair and re-drive it)',
      sql: MESSAGING_SCHEMAS.map(
        (s) => `select '${s}' as "schema", use_case as "useCase", message_id as "messageId", type, correlation_id as "correlationId",
                   attempts, error_code as "errorCode", left(last_error, 300) as "lastError", updated_at as "deadSince"
            from ${q(s)}.inbox where status = 'dead'`,
      )
        .join('\n            union all\n            ')
        .concat('\n            order by "deadSince" desc'),
    },
  ];
}

async function runCheck(client: pg.ClientBase, d: CheckDefinition, sampleLimit: number): Promise<CheckResult> {
  const params = [...(d.params ?? [])];
  const limitIndex = params.length + 1;
  const result = await client.query<Record<string, unknown>>({
    text: `select q.*, count(*) over () as "__total" from (${d.sql}) q limit $${limitIndex}`,
    values: [...params, sampleLimit],
    types,
  });
  const count = Number(result.rows[0]?.['__total'] ?? 0);
  const sample = result.rows.map(({ __total: _total, ...row }) => row);
  return { name: d.name, description: d.description, ok: count === 0, count, sample };
}

async function summary(client: pg.ClientBase): Promise<ConsistencySummary> {
  const orders = await client.query<{ status: string; n: number }>(
    `select status, count(*)::int as n from ${O}.orders group by status order by status`,
  );
  const counts = await client.query<{ customers: number; pending: number; unrelayed: number; dead: number }>({
    text: `select (select count(*)::int from ${C}.customers) as customers,
      ${MESSAGING_SCHEMAS.map((s) => `(select count(*)::int from ${q(s)}.inbox where status = 'pending')`).join(' + ')} as pending,
      ${MESSAGING_SCHEMAS.map((s) => `(select count(*)::int from ${q(s)}.outbox where relayed_at is null)`).join(' + ')} as unrelayed,
      ${MESSAGING_SCHEMAS.map((s) => `(select count(*)::int from ${q(s)}.inbox where status = 'dead')`).join(' + ')} as dead`,
    types,
  });
  const row = counts.rows[0];
  return {
    orders: Object.fromEntries(orders.rows.map((r) => [r.status, r.n])),
    customers: row?.customers ?? 0,
    pendingDeliveries: row?.pending ?? 0,
    unrelayedOutbox: row?.unrelayed ?? 0,
    deadLetters: row?.dead ?? 0,
  };
}

/**
 * Checks every invariant in one read-only, repeatable-read transaction on `client` (which it
 * leaves idle, outside a transaction). Throws SchemaMissingError when the schemas are not there.
 */
export async function checkConsistency(client: pg.ClientBase, partial: Partial<ConsistencyOptions> = {}): Promise<ConsistencyReport> {
  const options: ConsistencyOptions = { ...DEFAULT_OPTIONS, ...partial };
  const present = await client.query<{ nspname: string }>('select nspname from pg_namespace where nspname = any($1::text[])', [
    MESSAGING_SCHEMAS,
  ]);
  const missing = MESSAGING_SCHEMAS.filter((s) => !present.rows.some((r) => r.nspname === s));
  if (missing.length > 0) throw new SchemaMissingError(missing);

  await client.query('begin isolation level repeatable read read only');
  try {
    // An operator tool must never hold locks or a snapshot for long on a production database.
    await client.query("set local statement_timeout = '60s'");
    const checkedAt = new Date().toISOString();
    const checks: CheckResult[] = [];
    for (const d of definitions(options)) checks.push(await runCheck(client, d, options.sampleLimit));
    const totals = await summary(client);
    return { ok: checks.every((c) => c.ok), checkedAt, options, summary: totals, checks };
  } finally {
    await client.query('rollback').catch(() => undefined);
  }
}
